"""How a table cell is written: its representation class, and how each class parses.

One vectorised classifier (polars, on whitespace-stripped strings) serves both the profile and
``clean.table``: a value's class *is* the promise that it parses to the class's type, so what the
profile says ``clean.table`` will do is what it does. Classes:

- ``missing`` (a null token), ``empty`` (blank but not a null token);
- numbers: ``int``, ``int_grouped`` (``1,200``), ``int_big`` (over 18 digits), ``code``
  (``007``: leading zeros, kept as text), ``float``, ``float_integral`` (``1.0``),
  ``float_grouped`` (``1,200.5``), ``float_exp`` (``1e-3``);
- ``bool`` (true/false, yes/no, y/n, t/f in any case);
- dates, named by their format: ``date:Y-m-d``, ``date:Y/m/d``, ``date:d.m.Y``, ``date:B d, Y``
  (``March 4, 2021``), ``date:d B Y``, ``date:d-b-Y``, and for ``04/03/2021`` (``-`` too) by the
  orders it is a valid date in: ``date:d/m/Y``, ``date:m/d/Y`` or ``date:?/?/Y`` (both);
- ``timestamp:Y-m-d H:M:S`` / ``timestamp:Y-m-dTH:M:S``, ``+zone`` when an offset or ``Z`` follows;
- ``unit:<unit>``: a number with a known unit, ``5 kg``, ``12%``, ``1.2k``, ``$1,200``, ``1200 USD``;
- ``text``: everything else.

Only ASCII digits count as digits: a value a class takes always parses.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = [
    "BOOL_CLASSES",
    "DATE_CLASSES",
    "DEFAULT_NULLS",
    "FLOAT_CLASSES",
    "INT_CLASSES",
    "NUMERIC_CLASSES",
    "TIMESTAMP_CLASSES",
    "UNITS",
    "Unit",
    "canonical_unit",
    "class_label",
    "classify",
    "conversion",
    "parse_bool",
    "parse_date",
    "parse_float",
    "parse_int",
    "parse_timestamp",
]

# The common spellings of "no value"; matched against the value with surrounding whitespace
# stripped, so " ?" and " " are covered by "?" and "".
DEFAULT_NULLS: tuple[str, ...] = (
    "", "NA", "N/A", "n/a", "na", "#N/A", "null", "NULL", "Null", "None", "none", "nan", "NaN",
    "NAN", "-", "?",
)

_NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+"
_RE = {
    "int": r"^[+-]?[0-9]+$",
    "code": r"^[+-]?0[0-9]+$",
    "int_grouped": r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+$",
    "float_integral": r"^[+-]?(?:[0-9]+\.0*|\.0+)$",
    "float": r"^[+-]?(?:[0-9]+\.[0-9]+|\.[0-9]+)$",
    "float_grouped": r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+\.[0-9]+$",
    "float_exp": r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+$",
}
_BOOL_TRUE = ("true", "t", "yes", "y")
_BOOL_FALSE = ("false", "f", "no", "n")
# Shapes that are then parsed: a value of the shape that does not parse (2021-02-30) is text.
_DATES: dict[str, tuple[str, str]] = {
    "date:Y-m-d": (r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}$", "%Y-%m-%d"),
    "date:Y/m/d": (r"^[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}$", "%Y/%m/%d"),
    "date:d.m.Y": (r"^[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{4}$", "%d.%m.%Y"),
    "date:d-b-Y": (r"^[0-9]{1,2}-[A-Za-z]{3}-[0-9]{4}$", "%d-%b-%Y"),
}
# Month names: "March 4, 2021", "Mar. 4 2021", "4 March 2021"; punctuation is dropped to parse.
_MONTH_FIRST = r"^[A-Za-z]{3,9}\.? [0-9]{1,2},? [0-9]{4}$"
_DAY_FIRST = r"^[0-9]{1,2} [A-Za-z]{3,9}\.?,? [0-9]{4}$"
_SLASHED = {"/": r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$", "-": r"^[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}$"}
_TIMESTAMP = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
_ZONE = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})$"
_TS_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M")
_TS_ZONED_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")

INT_CLASSES = frozenset({"int", "int_grouped", "float_integral"})
NUMERIC_CLASSES = frozenset(INT_CLASSES | {"int_big", "float", "float_grouped", "float_exp"})
FLOAT_CLASSES = NUMERIC_CLASSES
BOOL_CLASSES = frozenset({"bool"})
_ORDERED = ("date:d/m/Y", "date:m/d/Y", "date:?/?/Y", "date:d-m-Y", "date:m-d-Y", "date:?-?-Y")
DATE_CLASSES = frozenset({*_DATES, "date:B d, Y", "date:d B Y", *_ORDERED})
TIMESTAMP_CLASSES = frozenset({"timestamp:Y-m-d H:M:S", "timestamp:Y-m-dTH:M:S",
                               "timestamp:Y-m-d H:M:S+zone", "timestamp:Y-m-dTH:M:S+zone"})

_LABELS = {
    "missing": "null token", "empty": "blank", "int": "integer", "int_grouped": "integer with thousands separators",
    "int_big": "integer too big for int64", "code": "digits with leading zeros (a code)",
    "float": "decimal", "float_integral": "whole number written as decimal (1.0)",
    "float_grouped": "decimal with thousands separators", "float_exp": "scientific notation",
    "bool": "boolean word", "text": "text", "null": "null", "number": "number", "typed": "typed value",
}


def class_label(cls: str) -> str:
    """A short description of a class for people.

    >>> class_label("float_integral"), class_label("date:d/m/Y"), class_label("unit:kg")
    ('whole number written as decimal (1.0)', 'date d/m/Y', 'number in kg')
    """
    if cls in _LABELS:
        return _LABELS[cls]
    kind, _, detail = cls.partition(":")
    if kind == "unit":
        return f"number in {detail}"
    return f"{kind} {detail}"


# ------------------------------------------------------------------------------------ units
@dataclass(frozen=True)
class Unit:
    """A unit: ``value × scale + offset`` is the value in the dimension's base unit."""

    name: str
    dimension: str
    scale: float
    offset: float = 0.0


def _units() -> dict[str, Unit]:
    table: list[tuple[str, list[tuple[str, float]]]] = [
        ("ratio", [("%", 0.01), ("fraction", 1.0)]),
        ("count", [("count", 1.0), ("k", 1e3), ("M", 1e6), ("bn", 1e9)]),
        ("mass", [("mg", 1e-3), ("g", 1.0), ("kg", 1e3), ("t", 1e6), ("lb", 453.59237), ("oz", 28.349523125)]),
        ("length", [("mm", 1e-3), ("cm", 1e-2), ("m", 1.0), ("km", 1e3), ("in", 0.0254), ("ft", 0.3048),
                    ("yd", 0.9144), ("mi", 1609.344)]),
        ("time", [("ms", 1e-3), ("s", 1.0), ("min", 60.0), ("h", 3600.0)]),
        ("volume", [("ml", 1e-3), ("l", 1.0)]),
        ("energy", [("Wh", 1.0), ("kWh", 1e3), ("MWh", 1e6)]),
    ]
    out = {name: Unit(name, dim, scale) for dim, units in table for name, scale in units}
    out["°C"] = Unit("°C", "temperature", 1.0)
    out["°F"] = Unit("°F", "temperature", 5 / 9, -32 * 5 / 9)
    for code in ("USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "INR", "CNY"):
        # Exchange rates change: currencies convert only through factors the user gives.
        out[code] = Unit(code, f"currency {code}", 1.0)
    return out


UNITS: dict[str, Unit] = _units()
_ALIASES = {
    "K": "k", "B": "bn", "mn": "M", "lbs": "lb", "kgs": "kg", "sec": "s", "secs": "s", "mins": "min",
    "hr": "h", "hrs": "h", "L": "l", "mL": "ml", "$": "USD", "US$": "USD", "€": "EUR", "£": "GBP",
    "¥": "JPY", "degC": "°C", "degF": "°F",
}
# Case-insensitive matches only for names of two letters or more ("KG", "Usd"); one-letter
# units are exact, since "m" is a metre and "M" a million.
_FOLDED = {k.lower(): v for k, v in [*((n, n) for n in UNITS), *_ALIASES.items()] if len(k) >= 2}


def canonical_unit(token: str, extra: Collection[str] = ()) -> str | None:
    """The canonical name of a unit as written, or None when it is not a unit we know.

    ``extra`` names units the user defined (kept as written).

    >>> canonical_unit("KG"), canonical_unit("$"), canonical_unit("M"), canonical_unit("m")
    ('kg', 'USD', 'M', 'm')
    >>> canonical_unit("apples") is None
    True
    """
    if token in extra:
        return token
    if token in UNITS:
        return token
    if token in _ALIASES:
        return _ALIASES[token]
    return _FOLDED.get(token.lower()) if len(token) >= 2 else None


def conversion(unit: str, target: str) -> tuple[float, float] | None:
    """``(factor, offset)`` so that ``value × factor + offset`` is in ``target``; None when the
    two are not the same kind of quantity.

    >>> conversion("g", "kg")
    (0.001, 0.0)
    >>> conversion("kg", "USD") is None
    True
    """
    a, b = UNITS.get(unit), UNITS.get(target)
    if a is None or b is None or a.dimension != b.dimension:
        return None
    return a.scale / b.scale, (a.offset - b.offset) / b.scale


def _unit_pattern(extra: Iterable[str]) -> tuple[str, str]:
    names = sorted({re.escape(t) for t in extra if t}, key=len, reverse=True)
    token = "|".join([*names, r"[A-Za-z°%$€£¥µ‰]{1,5}"])
    suffix = rf"^([+-]?)({_NUM})\s?({token})$"
    prefix = rf"^([+-]?)(US\$|[$€£¥]|[A-Z]{{3}}{''.join('|' + n for n in names)})\s?({_NUM})$"
    return suffix, prefix


# ------------------------------------------------------------------------------- classify
def _parse_slashed(v: pl.Expr, sep: str, day_first: bool) -> pl.Expr:
    fmt = f"%d{sep}%m{sep}%Y" if day_first else f"%m{sep}%d{sep}%Y"
    return v.str.strptime(pl.Date, fmt, strict=False)


def _month_names(v: pl.Expr) -> pl.Expr:
    return v.str.replace_all(r"[.,]", "").str.replace_all(r"\s+", " ")


def _shape(v: pl.Expr, nulls: Collection[str], suffix: str, prefix: str) -> pl.Expr:
    """A cheap first guess by regular expression; the shapes that need a parser are checked after."""
    # A chain of when/then (polars types it as ChainedThen, not Expr, until it ends).
    shape: Any = pl.when(v.is_in(list(nulls))).then(pl.lit("missing")).when(v == "").then(pl.lit("empty"))
    shape = (shape.when(v.str.contains(_RE["code"])).then(pl.lit("code"))
             .when(v.str.contains(_RE["int"]))
             .then(pl.when(v.str.replace(r"^[+-]", "").str.len_bytes() > 18).then(pl.lit("int_big"))
                   .otherwise(pl.lit("int"))))
    for name in ("int_grouped", "float_integral", "float", "float_grouped", "float_exp"):
        shape = shape.when(v.str.contains(_RE[name])).then(pl.lit(name))
    shape = shape.when(v.str.to_lowercase().is_in([*_BOOL_TRUE, *_BOOL_FALSE])).then(pl.lit("bool"))
    for name, (pattern, _) in _DATES.items():
        shape = shape.when(v.str.contains(pattern)).then(pl.lit(name))
    shape = (shape.when(v.str.contains(_MONTH_FIRST)).then(pl.lit("date:B d, Y"))
             .when(v.str.contains(_DAY_FIRST)).then(pl.lit("date:d B Y"))
             .when(v.str.contains(_SLASHED["/"])).then(pl.lit("slashed/"))
             .when(v.str.contains(_SLASHED["-"])).then(pl.lit("slashed-"))
             .when(v.str.contains(_TIMESTAMP + "$")).then(pl.lit("timestamp"))
             .when(v.str.contains(_TIMESTAMP + _ZONE)).then(pl.lit("timestamp+zone"))
             .when(v.str.contains(suffix)).then(pl.lit("suffix"))
             .when(v.str.contains(prefix)).then(pl.lit("prefix")))
    ended: pl.Expr = shape.when(v.is_not_null()).then(pl.lit("text"))
    return ended


def _checked(part: pl.DataFrame, shape: str, suffix: str, prefix: str, extra: tuple[str, ...]) -> pl.DataFrame:
    """Classes (and numbers, units) of the values of one shape."""
    v = pl.col("v")
    cls: pl.Expr = pl.lit(shape)
    num: pl.Expr = pl.lit(None, pl.Float64)
    unit: pl.Expr = pl.lit(None, pl.String)
    if shape in NUMERIC_CLASSES:
        num = v.str.replace_all(",", "").cast(pl.Float64, strict=False)
    elif shape in _DATES:
        cls = pl.when(v.str.strptime(pl.Date, _DATES[shape][1], strict=False).is_not_null()).then(cls)
    elif shape in ("date:B d, Y", "date:d B Y"):
        fmt = "%B %d %Y" if shape == "date:B d, Y" else "%d %B %Y"
        cls = pl.when(_month_names(v).str.strptime(pl.Date, fmt, strict=False).is_not_null()).then(cls)
    elif shape.startswith("slashed"):
        sep = shape[-1]
        dmy = _parse_slashed(v, sep, True).is_not_null()
        mdy = _parse_slashed(v, sep, False).is_not_null()
        cls = (pl.when(dmy & mdy).then(pl.lit(f"date:?{sep}?{sep}Y")).when(dmy).then(pl.lit(f"date:d{sep}m{sep}Y"))
               .when(mdy).then(pl.lit(f"date:m{sep}d{sep}Y")))
    elif shape.startswith("timestamp"):
        zone = "+zone" if shape.endswith("zone") else ""
        cls = pl.when(_timestamp(v).is_not_null()).then(
            pl.concat_str(pl.lit("timestamp:Y-m-d"), v.str.slice(10, 1), pl.lit("H:M:S" + zone)))
    elif shape in ("suffix", "prefix"):
        groups = v.str.extract_groups(suffix if shape == "suffix" else prefix)
        token, number = (1, 2) if shape == "prefix" else (2, 1)
        part = part.with_columns(groups.struct[token].alias("_token"),
                                 pl.concat_str(groups.struct[0], groups.struct[number]).alias("_number"))
        mapping = {t: canonical_unit(t, extra) for t in part.get_column("_token").unique().to_list()}
        unit = pl.col("_token").replace_strict(mapping, default=None, return_dtype=pl.String)
        cls = pl.when(unit.is_not_null()).then(pl.lit("unit:") + unit)
        num = pl.when(unit.is_not_null()).then(pl.col("_number").str.replace_all(",", "").cast(pl.Float64,
                                                                                              strict=False))
        unit = pl.when(unit.is_not_null()).then(unit)
    return part.select("_i", cls.fill_null("text").alias("cls"), num.alias("num"), unit.alias("unit"))


def classify(stripped: pl.Series, *, nulls: Collection[str], units: Collection[str] = ()) -> pl.DataFrame:
    """Classify whitespace-stripped strings.

    Returns columns ``cls`` (the class; null for a null input), ``num`` (the number, for number
    and unit classes, before any unit conversion) and ``unit`` (the canonical unit of a
    ``unit:`` class). ``units`` are extra unit names the user defined. Each parser runs only
    on the values of its shape.

    >>> out = classify(pl.Series(["12", "1.0", "5 kg", "?", "2021-03-04", "13/03/2021", "abc"]),
    ...                nulls=DEFAULT_NULLS)
    >>> out["cls"].to_list()
    ['int', 'float_integral', 'unit:kg', 'missing', 'date:Y-m-d', 'date:d/m/Y', 'text']
    """
    extra = tuple(units)
    suffix, prefix = _unit_pattern(extra)
    frame = pl.DataFrame({"v": stripped.cast(pl.String)}).with_row_index("_i")
    frame = frame.with_columns(_shape(pl.col("v"), nulls, suffix, prefix).alias("_shape"))
    parts = [_checked(part, str(shape), suffix, prefix, extra)
             for (shape,), part in frame.filter(pl.col("_shape").is_not_null()).partition_by(
                 "_shape", as_dict=True).items()]
    schema = {"_i": pl.UInt32, "cls": pl.String, "num": pl.Float64, "unit": pl.String}
    found = pl.concat([p.cast(schema) for p in parts]) if parts else pl.DataFrame(schema=schema)  # type: ignore[arg-type]
    return (frame.select("_i").join(found, on="_i", how="left", maintain_order="left").select("cls", "num", "unit"))


def _timestamp(v: pl.Expr) -> pl.Expr:
    text = v.str.replace("T", " ").str.replace(r"Z$", "+00:00")
    naive = [text.str.strptime(pl.Datetime("us"), f, strict=False) for f in _TS_NAIVE_FORMATS]
    zoned = [text.str.strptime(pl.Datetime("us", "UTC"), f, strict=False)
             .dt.replace_time_zone(None) for f in _TS_ZONED_FORMATS]
    return pl.coalesce(*naive, *zoned)


# ---------------------------------------------------------------------------------- parse
def parse_int(v: pl.Expr) -> pl.Expr:
    """Integers from the int classes (``1,200``, ``+5``, ``3.0``); null otherwise.

    >>> pl.select(parse_int(pl.lit(pl.Series(["1,200", "-3.00", "+5", ".0"])))).to_series().to_list()
    [1200, -3, 5, 0]
    """
    digits = v.str.replace_all(",", "").str.replace(r"\.0*$", "").str.replace(r"^([+-]?)$", "${1}0")
    return digits.cast(pl.Int64, strict=False)


def parse_float(v: pl.Expr) -> pl.Expr:
    """Floats from the number classes (thousands separators removed)."""
    return v.str.replace_all(",", "").cast(pl.Float64, strict=False)


def parse_bool(v: pl.Expr) -> pl.Expr:
    """True/False from boolean words and from 0/1 written as numbers; null otherwise.

    >>> pl.select(parse_bool(pl.lit(pl.Series(["Yes", "f", "1", "0.0", "2"])))).to_series().to_list()
    [True, False, True, False, None]
    """
    low = v.str.to_lowercase()
    number = parse_float(v)
    return (pl.when(low.is_in(list(_BOOL_TRUE))).then(pl.lit(True))
            .when(low.is_in(list(_BOOL_FALSE))).then(pl.lit(False))
            .when(number == 1.0).then(pl.lit(True))
            .when(number == 0.0).then(pl.lit(False)))


def parse_date(v: pl.Expr, cls: pl.Expr, *, day_first: bool) -> pl.Expr:
    """Dates from the date classes; slashed dates in the column's order (``day_first``)."""
    out: pl.Expr = pl.lit(None, pl.Date)
    for name, (_, fmt) in _DATES.items():
        out = pl.when(cls == name).then(v.str.strptime(pl.Date, fmt, strict=False)).otherwise(out)
    out = (pl.when(cls == "date:B d, Y").then(_month_names(v).str.strptime(pl.Date, "%B %d %Y", strict=False))
           .when(cls == "date:d B Y").then(_month_names(v).str.strptime(pl.Date, "%d %B %Y", strict=False))
           .otherwise(out))
    for sep in _SLASHED:
        names = [f"date:d{sep}m{sep}Y", f"date:m{sep}d{sep}Y", f"date:?{sep}?{sep}Y"]
        out = pl.when(cls.is_in(names)).then(_parse_slashed(v, sep, day_first)).otherwise(out)
    return out


def parse_timestamp(v: pl.Expr, cls: pl.Expr, *, day_first: bool) -> pl.Expr:
    """Timestamps (microseconds, naive; zoned values converted to UTC) from date and timestamp classes."""
    return (pl.when(cls.str.starts_with("timestamp:")).then(_timestamp(v))
            .otherwise(parse_date(v, cls, day_first=day_first).cast(pl.Datetime("us"))))

