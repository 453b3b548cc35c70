"""Per-column statistics as a mergeable state: ``update`` a batch, ``merge`` two, ``report``.

What a column gets depends on the Arrow type of its values (a column whose type changes
between batches gets both parts, and ``kind`` ``mixed``):

- every column: ``rows``, ``count`` (non-null), ``missing`` (null, or absent from a batch);
- numbers (integers, floats, decimals, booleans as 0/1): exact ``min``, ``max``, ``mean``, ``std``
  (sample, ``ddof=1``; merged with Chan et al.'s parallel formula), counts of ``nan`` and ``inf``
  (kept out of the other statistics), quantiles and an equal-width histogram (KLL sketch);
- timestamps, dates, times and durations: the same, printed as ISO text; ``std`` in the type's unit;
- strings, binary and lists: ``length`` statistics (characters, bytes or items);
- numbers, times, strings and binary: ``distinct`` (HyperLogLog); integers, booleans and strings:
  ``top`` values with count bounds (frequent items).

``update`` works on whole columns with pyarrow.compute and numpy: no Python per row.

>>> import pyarrow as pa
>>> stats = TableStats()
>>> stats.update(pa.record_batch({"x": [1.0, 2.0, None], "s": ["a", "bb", "a"]}))
>>> report = stats.report()
>>> x, s = report["columns"]
>>> x["count"], x["missing"], x["numeric"]["mean"], x["numeric"]["max"]
(2, 1, 1.5, 2.0)
>>> s["distinct"], s["top"]["items"][0]["value"], s["length"]["max"]
(2, 'a', 2)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.errors import ConfigError, SchemaError
from datamill.validate.sketches import DistinctSketch, FrequentItems, QuantileSketch, token_counts

__all__ = ["DEFAULT_QUANTILES", "ColumnStats", "Moments", "StatsOptions", "TableStats", "column_kind"]

DEFAULT_QUANTILES: tuple[float, ...] = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# Batches smaller than this are profiled on one thread (starting work costs more than it saves).
_PARALLEL_ROWS = 8192
# A string column averaging this many characters is text: it gets token counts and languages.
_TEXT_CHARS = 20

Kind = Literal["numeric", "bool", "temporal", "string", "binary", "list", "null", "other"]


@dataclass(frozen=True)
class StatsOptions:
    """What to compute and how precisely (the sketches' sizes set their error bounds).

    >>> StatsOptions(top_k=5).bins
    20
    """

    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    bins: int = 20
    top_k: int = 10
    kll_k: int = 200
    hll_lg_k: int = 12
    frequent_lg_map_size: int = 10
    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    languages: bool = False
    language_sample: int = 64
    slice_by: str | None = None
    max_slices: int = 50

    def __post_init__(self) -> None:
        bad = [q for q in self.quantiles if not 0.0 <= q <= 1.0]
        if bad:
            raise ConfigError(f"`quantiles` must lie in 0 … 1, got {bad!r}")
        if self.bins < 1:
            raise ConfigError(f"`bins` must be at least 1, got {self.bins!r}")
        if self.top_k < 0:
            raise ConfigError(f"`top_k` must be 0 or more, got {self.top_k!r}")
        if self.max_slices < 1:
            raise ConfigError(f"`max_slices` must be at least 1, got {self.max_slices!r}")

    def wants(self, name: str) -> bool:
        """Whether column ``name`` is profiled."""
        return name not in self.exclude and (self.columns is None or name in self.columns)


def column_kind(dtype: pa.DataType) -> Kind:
    """The statistics family of an Arrow type.

    >>> column_kind(pa.int8()), column_kind(pa.large_string()), column_kind(pa.list_(pa.int64()))
    ('numeric', 'string', 'list')
    """
    if pa.types.is_dictionary(dtype):
        return column_kind(dtype.value_type)
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_temporal(dtype):
        return "temporal"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return "string"
    if (pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype)
            or pa.types.is_fixed_size_binary(dtype)):
        return "binary"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype) or pa.types.is_fixed_size_list(dtype) or (
            pa.types.is_list_view(dtype) or pa.types.is_large_list_view(dtype)):
        return "list"
    if pa.types.is_null(dtype):
        return "null"
    return "other"


@dataclass
class Moments:
    """Exact count, mean, M2, min and max of finite numbers, and a KLL sketch of them.

    >>> a, b = Moments(), Moments()
    >>> a.update(np.array([1.0, 2.0])); b.update(np.array([3.0, 4.0]))
    >>> m = a.merge(b)
    >>> m.count, m.mean, round(m.std, 6), m.minimum, m.maximum
    (4, 2.5, 1.290994, 1.0, 4.0)
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float | int | None = None
    maximum: float | int | None = None
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    def update(self, values: np.ndarray, *, minimum: float | int | None = None,
               maximum: float | int | None = None) -> None:
        """Add finite values; ``minimum``/``maximum`` give exact extremes (integers) if known."""
        n = len(values)
        if not n:
            return
        mean = float(np.mean(values))
        m2 = float(np.sum(np.square(values - mean)))
        low = values.min().item() if minimum is None else minimum
        high = values.max().item() if maximum is None else maximum
        self._combine(n, mean, m2, low, high)
        self.sketch.update(values)

    def _combine(self, n: int, mean: float, m2: float, low: float | int | None, high: float | int | None) -> None:
        if not n:
            return
        total = self.count + n
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + delta * delta * self.count * n / total
        self.mean = self.mean + delta * n / total if self.count else mean
        self.count = total
        self.minimum = low if self.minimum is None or (low is not None and low < self.minimum) else self.minimum
        self.maximum = high if self.maximum is None or (high is not None and high > self.maximum) else self.maximum

    def merge(self, other: Moments) -> Moments:
        """A new state holding both (Chan et al.'s parallel update of mean and M2)."""
        out = Moments(self.count, self.mean, self.m2, self.minimum, self.maximum, self.sketch.merge(other.sketch))
        out._combine(other.count, other.mean, other.m2, other.minimum, other.maximum)
        return out

    @property
    def std(self) -> float | None:
        """Sample standard deviation (``ddof=1``); None for fewer than two values."""
        return math.sqrt(max(self.m2, 0.0) / (self.count - 1)) if self.count > 1 else None

    def histogram(self, bins: int) -> dict[str, list[Any]]:
        """``bins`` equal-width bins from min to max (one bin when they are equal)."""
        if not self.count or self.minimum is None or self.maximum is None:
            return {"edges": [], "counts": []}
        low, high = float(self.minimum), float(self.maximum)
        if not low < high:
            return {"edges": [low, high], "counts": [self.count]}
        edges = np.linspace(low, high, bins + 1).tolist()
        return {"edges": edges, "counts": self.sketch.histogram(edges)}

    def report(self, options: StatsOptions) -> dict[str, Any]:
        """min, max, mean, std, quantiles (``{"0.5": value}``), histogram and the rank error."""
        quantiles = self.sketch.quantiles(options.quantiles)
        return {
            "min": self.minimum, "max": self.maximum, "mean": self.mean if self.count else None, "std": self.std,
            "quantiles": {f"{q:g}": v for q, v in zip(options.quantiles, quantiles, strict=False)},
            "histogram": self.histogram(options.bins),
            "rank_error": self.sketch.rank_error,
        }


def _to_float(values: pa.Array) -> np.ndarray:
    if pa.types.is_decimal(values.type) or pa.types.is_boolean(values.type):
        values = values.cast(pa.float64())
    out: np.ndarray = values.to_numpy(zero_copy_only=False)
    return out.astype(np.float64, copy=False)


def _format_time(value: float | int | None, dtype: pa.DataType) -> str | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    storage = pa.int32() if dtype.bit_width == 32 else pa.int64()
    scalar = pa.array([round(value)], pa.int64()).cast(storage).view(dtype)[0].as_py()
    return scalar.isoformat() if hasattr(scalar, "isoformat") else str(scalar)


@dataclass
class ColumnStats:
    """The mergeable statistics of one column (bounded in size whatever the rows)."""

    name: str
    options: StatsOptions = field(default_factory=StatsOptions)
    rows: int = 0
    missing: int = 0
    types: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    nan: int = 0
    inf: int = 0
    distinct: DistinctSketch | None = None
    numbers: Moments | None = None
    times: Moments | None = None
    time_type: pa.DataType | None = None
    lengths: Moments | None = None
    length_unit: str | None = None
    top: FrequentItems | None = None
    tokens: Moments | None = None
    languages: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ parts, made when needed
    def _distinct(self) -> DistinctSketch:
        if self.distinct is None:
            self.distinct = DistinctSketch(self.options.hll_lg_k)
        return self.distinct

    def _moments(self, attr: str) -> Moments:
        part: Moments | None = getattr(self, attr)
        if part is None:
            part = Moments(sketch=QuantileSketch(self.options.kll_k))
            setattr(self, attr, part)
        return part

    def _top(self) -> FrequentItems | None:
        if self.options.top_k <= 0:
            return None
        if self.top is None:
            self.top = FrequentItems(self.options.frequent_lg_map_size)
        return self.top

    # ------------------------------------------------------------------ update
    def update(self, values: pa.Array | pa.ChunkedArray) -> None:
        """Add one column's values."""
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        n = len(values)
        self.rows += n
        self.missing += values.null_count
        key = str(values.type)
        self.types[key] = self.types.get(key, 0) + n
        kind = column_kind(values.type)
        self.kinds[kind] = self.kinds.get(kind, 0) + n
        if values.null_count == n:
            return
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
        if pa.types.is_string_view(values.type) or pa.types.is_binary_view(values.type):
            # Arrow has no filter kernel for view types: their plain large form has one.
            values = values.cast(pa.large_string() if kind == "string" else pa.large_binary())
        present = values.drop_null() if values.null_count else values
        if kind in ("numeric", "bool"):
            self._update_numbers(present, kind)
        elif kind == "temporal":
            self._update_times(present)
        elif kind in ("string", "binary"):
            if pa.types.is_fixed_size_binary(present.type):
                present = present.cast(pa.binary())
            length = pc.utf8_length(present) if kind == "string" else pc.binary_length(present)
            self._add_lengths(length, "chars" if kind == "string" else "bytes")
            if kind == "string":
                if (top := self._top()) is not None:
                    top.update(present)
                counts = token_counts(present).astype(np.float64)
                self._moments("tokens").update(counts, minimum=int(counts.min()), maximum=int(counts.max()))
                if self.options.languages and float(pc.mean(length).as_py()) >= _TEXT_CHARS:
                    self._add_languages(present)
            self._distinct().update_strings(present)
        elif kind == "list":
            self._add_lengths(pc.list_value_length(present), "items")

    def _update_numbers(self, present: pa.Array, kind: str) -> None:
        floats = _to_float(present)
        exact_low: float | int | None = None
        exact_high: float | int | None = None
        if pa.types.is_floating(present.type):
            finite = np.isfinite(floats)
            if not finite.all():
                nan = int(np.count_nonzero(np.isnan(floats)))
                self.nan += nan
                self.inf += int(len(floats) - np.count_nonzero(finite)) - nan
                floats = floats[finite]
        elif pa.types.is_integer(present.type):
            low_high = pc.min_max(present)
            exact_low, exact_high = low_high["min"].as_py(), low_high["max"].as_py()
        self._moments("numbers").update(floats, minimum=exact_low, maximum=exact_high)
        self._distinct().update_numbers(floats)
        if (pa.types.is_integer(present.type) or kind == "bool") and (top := self._top()) is not None:
            top.update(present)

    def _update_times(self, present: pa.Array) -> None:
        if self.time_type is None:
            self.time_type = present.type
        storage = pa.int32() if present.type.bit_width == 32 else pa.int64()
        ints = present.view(storage).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        floats = ints.astype(np.float64)
        self._moments("times").update(floats, minimum=int(ints.min()), maximum=int(ints.max()))
        self._distinct().update_numbers(floats)

    def _add_languages(self, present: pa.Array) -> None:
        # lingua costs about a millisecond a text: a fixed sample per batch, each text cut short.
        from datamill.clean.language import detector

        sample = pc.utf8_slice_codeunits(present.slice(0, self.options.language_sample), 0, 400)
        found = detector(None, True).detect_languages_in_parallel_of(sample.to_pylist())
        for language in found:
            code = language.iso_code_639_1.name.lower() if language is not None else "unknown"
            self.languages[code] = self.languages.get(code, 0) + 1

    def _add_lengths(self, lengths: pa.Array, unit: str) -> None:
        ints = lengths.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        self.length_unit = self.length_unit or unit
        self._moments("lengths").update(ints.astype(np.float64), minimum=int(ints.min()), maximum=int(ints.max()))

    # ------------------------------------------------------------------ merge
    def merge(self, other: ColumnStats) -> ColumnStats:
        """A new state holding both (``other`` must profile the same column)."""
        if other.name != self.name:
            raise ConfigError(f"cannot merge statistics of column {self.name!r} with those of {other.name!r}")

        def both(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else a.merge(b)

        return ColumnStats(
            self.name, self.options, self.rows + other.rows, self.missing + other.missing,
            _add_counts(self.types, other.types), _add_counts(self.kinds, other.kinds),
            self.nan + other.nan, self.inf + other.inf, both(self.distinct, other.distinct),
            both(self.numbers, other.numbers), both(self.times, other.times), self.time_type or other.time_type,
            both(self.lengths, other.lengths), self.length_unit or other.length_unit, both(self.top, other.top),
            both(self.tokens, other.tokens), _add_counts(self.languages, other.languages))

    # ------------------------------------------------------------------ report
    @property
    def kind(self) -> str:
        """The statistics family (`column_kind`), ``mixed`` when batches disagreed, ``null`` if no type."""
        kinds = set(self.kinds) - {"null"}
        if not kinds:
            return "null"
        return kinds.pop() if len(kinds) == 1 else "mixed"

    def report(self) -> dict[str, Any]:
        """The column's statistics as plain JSON values (the shape is in ``docs/validate.md``)."""
        options = self.options
        real_types = [t for t in self.types if t not in ("absent", "null")]
        numeric = None
        if self.numbers is not None or self.nan or self.inf:
            part = self.numbers or Moments(sketch=QuantileSketch(options.kll_k))
            numeric = {**part.report(options), "nan": self.nan, "inf": self.inf}
        temporal = None
        if self.times is not None and self.time_type is not None:
            dtype = self.time_type
            raw = self.times.report(options)
            temporal = {
                "type": str(dtype), "min": _format_time(raw["min"], dtype), "max": _format_time(raw["max"], dtype),
                "mean": _format_time(raw["mean"], dtype), "std": raw["std"], "unit": getattr(dtype, "unit", "day"),
                "quantiles": {q: _format_time(v, dtype) for q, v in raw["quantiles"].items()},
                "histogram": {"edges": [_format_time(e, dtype) for e in raw["histogram"]["edges"]],
                              "counts": raw["histogram"]["counts"]},
                "rank_error": raw["rank_error"],
            }
        length = None
        if self.lengths is not None:
            length = {"unit": self.length_unit, **self.lengths.report(options)}
        top = None
        if self.top is not None and self.top.n:
            items = self.top.top(options.top_k)
            # Every tracked value has the same uncertainty; with none to read it from, the a-priori bound.
            error = items[0]["upper"] - items[0]["lower"] if items else self.top.max_error
            top = {"items": items, "max_error": error}
        # Token counts say something only of text, not of codes and categories.
        text_like = length is not None and self.tokens is not None and (length["mean"] or 0) >= _TEXT_CHARS
        tokens = {**self.tokens.report(options), "unit": "whitespace tokens"} if text_like and self.tokens else None
        languages = ({"sampled": sum(self.languages.values()),
                      "counts": dict(sorted(self.languages.items(), key=lambda kv: (-kv[1], kv[0])))}
                     if self.languages else None)
        count = self.rows - self.missing
        return {
            "name": self.name,
            "type": real_types[0] if len(real_types) == 1 else ("mixed" if real_types else "null"),
            "kind": self.kind,
            "types": dict(self.types),
            "rows": self.rows,
            "count": count,
            "missing": self.missing,
            "missing_share": self.missing / self.rows if self.rows else 0.0,
            "distinct": self.distinct.estimate() if self.distinct is not None else None,
            "distinct_error": self.distinct.relative_error if self.distinct is not None else None,
            "numeric": numeric,
            "temporal": temporal,
            "length": length,
            "top": top,
            "tokens": tokens,
            "languages": languages,
        }


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for key, n in b.items():
        out[key] = out.get(key, 0) + n
    return out


@dataclass
class TableStats:
    """Statistics of every column of a table, updated batch by batch and merged across shards.

    Every column's ``rows`` equals the table's: rows of a batch that lacks a column count as
    missing in it.

    >>> a, b = TableStats(), TableStats()
    >>> a.update(pa.record_batch({"x": [1, 2]})); b.update(pa.record_batch({"x": [3, None]}))
    >>> merged = a.merge(b).report()
    >>> merged["rows"], merged["columns"][0]["numeric"]["max"]
    (4, 3)
    """

    options: StatsOptions = field(default_factory=StatsOptions)
    rows: int = 0
    columns: dict[str, ColumnStats] = field(default_factory=dict)
    # Per value of ``options.slice_by`` (JSON-able keys; None for missing), and the rows of values
    # past ``max_slices`` that were not profiled apart.
    slices: dict[Any, TableStats] = field(default_factory=dict)
    slice_overflow: int = 0

    @classmethod
    def for_schema(cls, schema: pa.Schema, options: StatsOptions | None = None) -> TableStats:
        """An empty state listing ``schema``'s columns (so an empty input still reports them)."""
        out = cls(options or StatsOptions())
        unknown = [c for c in out.options.columns or () if c not in schema.names]
        if unknown:
            raise SchemaError(f"no column {', '.join(map(repr, unknown))} to profile; the table has "
                              f"{', '.join(schema.names) or 'no columns'}.")
        for name in schema.names:
            if out.options.wants(name):
                out.columns[name] = ColumnStats(name, out.options)
        return out

    def _column(self, name: str) -> ColumnStats:
        column = self.columns.get(name)
        if column is None:
            column = ColumnStats(name, self.options, rows=self.rows, missing=self.rows,
                                 types={"absent": self.rows} if self.rows else {})
            self.columns[name] = column
        return column

    def update(self, batch: pa.RecordBatch | pa.Table, *, pool: Executor | None = None) -> None:
        """Add one batch (a table is added column by column as well).

        With a thread ``pool``, columns are updated in parallel (Arrow, numpy and the hashing
        kernels release the GIL); each column is still updated by one thread, batch after
        batch, so the result is the same.
        """
        n = batch.num_rows
        work: dict[str, tuple[ColumnStats, Any]] = {}
        for name, values in zip(batch.schema.names, batch.columns, strict=True):
            if self.options.wants(name) and name not in work:
                work[name] = (self._column(name), values)
        if pool is not None and len(work) > 1 and n >= _PARALLEL_ROWS:
            for future in [pool.submit(column.update, values) for column, values in work.values()]:
                future.result()
        else:
            for column, values in work.values():
                column.update(values)
        for name, column in self.columns.items():
            if name not in work and n:
                column.rows += n
                column.missing += n
                column.types["absent"] = column.types.get("absent", 0) + n
        self.rows += n
        if self.options.slice_by is not None:
            self._update_slices(batch, pool)

    def _update_slices(self, batch: pa.RecordBatch | pa.Table, pool: Executor | None) -> None:
        name = self.options.slice_by
        if name not in batch.schema.names:
            raise SchemaError(f"cannot slice by {name!r}: the data has no such column")
        keys = batch.column(batch.schema.get_field_index(name))
        if isinstance(keys, pa.ChunkedArray):
            keys = keys.combine_chunks()
        encoded = pc.dictionary_encode(keys, null_encoding="encode")
        # Sort once, then each slice is a zero-copy run of the sorted batch.
        order = pc.sort_indices(encoded.indices)
        ordered = batch.take(order)
        codes = encoded.indices.take(order).to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)
        sub_options = replace(self.options, slice_by=None)
        for start, end in zip(starts, [*starts[1:], len(codes)], strict=True):
            key = _json_key(encoded.dictionary[int(codes[start])].as_py())
            part = self.slices.get(key)
            if part is None:
                if len(self.slices) >= self.options.max_slices:
                    self.slice_overflow += int(end - start)
                    continue
                part = self.slices[key] = TableStats(sub_options)
            part.update(ordered.slice(int(start), int(end - start)), pool=pool)

    def update_all(self, batches: Iterable[pa.RecordBatch], *, threads: int | None = None) -> TableStats:
        """Add every batch, columns in parallel on ``threads`` threads (default: the cores, at most
        4); returns ``self``."""
        threads = threads or min(4, os.cpu_count() or 1)
        if threads <= 1:
            for batch in batches:
                self.update(batch)
            return self
        with ThreadPoolExecutor(threads, thread_name_prefix="datamill-stats") as pool:
            for batch in batches:
                self.update(batch, pool=pool)
        return self

    def merge(self, other: TableStats) -> TableStats:
        """A new state holding both (columns in first-seen order)."""
        out = TableStats(self.options, self.rows + other.rows)
        for name in dict.fromkeys([*self.columns, *other.columns]):
            left = self.columns.get(name) or _absent(name, self.options, self.rows)
            right = other.columns.get(name) or _absent(name, other.options, other.rows)
            out.columns[name] = left.merge(right)
        out.slice_overflow = self.slice_overflow + other.slice_overflow
        for key in dict.fromkeys([*self.slices, *other.slices]):
            a, b = self.slices.get(key), other.slices.get(key)
            merged = a.merge(b) if a is not None and b is not None else (a or b)
            if len(out.slices) < self.options.max_slices:
                out.slices[key] = merged  # type: ignore[assignment]
            else:
                out.slice_overflow += merged.rows if merged is not None else 0
        return out

    def report(self) -> dict[str, Any]:
        """``{"rows": n, "columns": [column report, ...]}`` (see `ColumnStats.report`), and with
        ``slice_by`` a ``slices`` part: the same report per value of that column, largest first."""
        out: dict[str, Any] = {"rows": self.rows, "columns": [c.report() for c in self.columns.values()]}
        if self.options.slice_by is not None:
            parts = sorted(self.slices.items(), key=lambda kv: (-kv[1].rows, str(kv[0])))
            out["slices"] = {"column": self.options.slice_by, "overflow_rows": self.slice_overflow,
                             "values": [{"value": key, **part.report()} for key, part in parts]}
        return out


def _json_key(value: Any) -> Any:
    """A slice key that survives JSON: numbers, text, booleans and None as they are, the rest as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _absent(name: str, options: StatsOptions, rows: int) -> ColumnStats:
    return ColumnStats(name, options, rows=rows, missing=rows, types={"absent": rows} if rows else {})
