"""Value-level helpers for schema inference and checks: string formats, spellings, numbers, units.

Everything works on whole Arrow arrays (RE2 regexes through ``pyarrow.compute``, parsing and
normalising through polars): no Python runs per row.

>>> import pyarrow as pa
>>> format_mask(pa.array(["2024-01-31", "31/01/2024", None]), "date").to_pylist()
[True, False, None]
>>> infer_format({"date": 99, "number": 0}, 100)
'date'
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.errors import ConfigError

__all__ = [
    "FORMATS",
    "FORMAT_SHARE",
    "MISSING_KEY",
    "NULL_TOKENS",
    "UNIT_TRANSFORMS",
    "FormatName",
    "format_mask",
    "infer_format",
    "is_stringlike",
    "numbers",
    "spelling_keys",
]

FormatName = Literal["uuid", "date", "datetime", "email", "url", "ipv4", "boolean", "integer", "number"]

_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
# Anchored RE2 patterns, tried in this order (most specific first): inference picks the first
# that (almost) every value matches, so "2024-01-31" is a date, not a datetime, and "7" an integer.
FORMATS: dict[str, str] = {
    "uuid": r"^(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "date": rf"^{_DATE}$",
    "datetime": rf"^{_DATE}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{{2}}:?\d{{2}})?$",
    "email": r"^[^@\s]+@[^@\s]+\.[^@\s.]+$",
    "url": r"^(?i)(https?|ftp)://[^\s/?#.][^\s]*$",
    "ipv4": r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$",
    "boolean": r"^(?i)(true|false|yes|no)$",
    "integer": r"^[+-]?\d+$",
    "number": r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$",
}
assert tuple(FORMATS) == get_args(FormatName)

# A format is inferred only when at least this share of the non-missing values match it.
FORMAT_SHARE = 0.99
# Fewer non-missing values than this and no format is inferred (too little evidence).
_MIN_VALUES = 10

# Lower-cased, stripped spellings that mean "no value"; an empty string is one too.
NULL_TOKENS: tuple[str, ...] = ("", "na", "n/a", "nan", "null", "none", "nil", "?", "-", "--")
MISSING_KEY = "<missing>"

# Unit conversions looked for by the mixed-units check: (name, a, b) for x -> a*x + b.
# Each is tried in both directions.
UNIT_TRANSFORMS: tuple[tuple[str, float, float], ...] = (
    ("x1000 (k, milli)", 1000.0, 0.0),
    ("x100 (percent, cm/m)", 100.0, 0.0),
    ("x60 (minutes/hours, seconds/minutes)", 60.0, 0.0),
    ("x3600 (seconds/hours)", 3600.0, 0.0),
    ("x3.6 (m/s -> km/h)", 3.6, 0.0),
    ("x2.54 (inch -> cm)", 2.54, 0.0),
    ("x1.609 (miles -> km)", 1.609344, 0.0),
    ("x2.2046 (kg -> lb)", 2.20462, 0.0),
    ("x12 (feet -> inches, years -> months)", 12.0, 0.0),
    ("x1024 (KiB, MiB)", 1024.0, 0.0),
    ("x9/5+32 (Celsius -> Fahrenheit)", 1.8, 32.0),
    ("+273.15 (Celsius -> kelvin)", 1.0, 273.15),
)


def is_stringlike(dtype: pa.DataType) -> bool:
    """Whether values of ``dtype`` are text (dictionary-encoded text included).

    >>> text = pa.dictionary(pa.int32(), pa.string())
    >>> is_stringlike(pa.large_string()), is_stringlike(text), is_stringlike(pa.int8())
    (True, True, False)
    """
    if pa.types.is_dictionary(dtype):
        return is_stringlike(dtype.value_type)
    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype))


def _as_string(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return values


def format_mask(values: pa.Array | pa.ChunkedArray, name: str) -> pa.Array | pa.ChunkedArray:
    """Per value, whether it matches format ``name`` after stripping whitespace (null stays null).

    >>> format_mask(pa.array([" a@b.org", "a@b", "x y@b.org"]), "email").to_pylist()
    [True, False, False]
    """
    if name not in FORMATS:
        raise ConfigError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    stripped = pc.utf8_trim_whitespace(_as_string(values))
    return pc.match_substring_regex(stripped, FORMATS[name])


def infer_format(matches: dict[str, int], count: int) -> str | None:
    """The first format (in `FORMATS` order) that at least `FORMAT_SHARE` of ``count`` values match.

    >>> infer_format({"integer": 995, "number": 1000}, 1000), infer_format({"integer": 5}, 5)
    ('integer', None)
    """
    if count < _MIN_VALUES:
        return None
    for name in FORMATS:
        if matches.get(name, 0) >= FORMAT_SHARE * count:
            return name
    return None


def numbers(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values as float64 (NaN where missing or, for text, not a number); text is parsed.

    >>> numbers(pa.array([" 1.5", "x", None, "2"])).tolist()
    [1.5, nan, nan, 2.0]
    >>> numbers(pa.array([True, None])).tolist()
    [1.0, nan]
    """
    dtype = values.type
    if pa.types.is_dictionary(dtype):
        values, dtype = values.cast(dtype.value_type), dtype.value_type
    if is_stringlike(dtype):
        series = pl.Series(values.cast(pa.large_string()) if isinstance(values, pa.Array) else
                           pa.chunked_array(values, values.type).cast(pa.large_string()))
        parsed = series.str.strip_chars().cast(pl.Float64, strict=False)
        return parsed.fill_null(np.nan).to_numpy().astype(np.float64, copy=False)
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype) or (
            pa.types.is_boolean(dtype)):
        out: np.ndarray = pc.fill_null(values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        return out.astype(np.float64, copy=False)
    raise ConfigError(f"a column of type {dtype} holds no numbers")


def spelling_keys(values: pa.Array) -> pl.DataFrame:
    """Each distinct spelling of a text column with its canonical key and count.

    The key is the value stripped and lower-cased; a number's key is the number itself
    (``"0"``, ``"0.0"`` and ``"+0"`` share one), and every no-value spelling (null, ``""``,
    ``"NA"``, ``"?"`` … see `NULL_TOKENS`) shares `MISSING_KEY`. Columns: ``key``, ``raw``, ``n``.

    >>> df = spelling_keys(pa.array(["Yes", "yes", " yes", "0", "0.0", "", None]))
    >>> sorted(df.group_by("key").agg(pl.col("raw").n_unique()).rows())
    [('#0.0', 2), ('<missing>', 2), ('yes', 3)]
    """
    raw = pl.Series("raw", _as_string(values).cast(pa.large_string()))
    stripped = raw.str.strip_chars()
    lower = stripped.str.to_lowercase()
    parsed = stripped.cast(pl.Float64, strict=False)
    frame = pl.DataFrame({"raw": raw, "lower": lower, "num": parsed})
    key = (pl.when(pl.col("raw").is_null() | pl.col("lower").is_in(list(NULL_TOKENS))).then(pl.lit(MISSING_KEY))
           .when(pl.col("num").is_not_null()).then(pl.lit("#") + pl.col("num").cast(pl.Utf8))
           .otherwise(pl.col("lower")))
    return frame.select(key.alias("key"), pl.col("raw")).group_by(["key", "raw"]).len(name="n")
