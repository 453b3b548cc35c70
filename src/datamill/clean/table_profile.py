"""Profile a table's columns for mixed representations, types and units.

`profile_table` streams record batches into a mergeable `TableState` (``update`` one batch,
``merge`` two states: the shape of an Aggregate's partial and merge) and `TableState.report`
turns it into a `TableReport`: per column, the inferred type, every representation class found
(see ``_table_values``) with counts and examples, and findings with what to normalise.

>>> import pyarrow as pa
>>> batch = pa.record_batch({"sex": [" Male", "Male", "male", " ?"], "age": ["39", "50", "-999", "1.0"]})
>>> report = profile_table([batch])
>>> report.column("sex").missing, [f.code for f in report.column("sex").findings]
(1, ['missing_tokens', 'whitespace', 'case_variants'])
>>> report.column("age").inferred
'int64'

Detection rules (also in ``docs/tables.md``):

- *Missing*: a string whose whitespace-stripped form is one of ``nulls`` (default
  `DEFAULT_NULLS`); a float NaN in a float column when ``NaN`` or ``nan`` is among them.
- *Sentinels*: a number in ``SENTINEL_CANDIDATES`` (or given by the user) is read as missing
  only with high confidence: at least ``MIN_SENTINEL_EVIDENCE`` other numbers in the column,
  fewer sentinel values than other numbers, and the sentinel far outside the others: a negative
  sentinel in a column whose other numbers are all ≥ 0; a positive one at least 10 times the
  largest other number.
- *Inferred type*: the first of bool (needs a boolean word; 0/1 numbers allowed), int64,
  float64, date, timestamp that every non-missing value parses to, else string. A column of
  codes with leading zeros stays string.
- *Slashed dates* (``04/03/2021``): day-first when some value only parses day-first (13/03),
  month-first when some only parses month-first, a conflict when both occur, and month-first
  when nothing tells (reported as ambiguous).
- *Case and whitespace variants*: values equal once stripped and lower-cased, in columns with at
  most ``MAX_DISTINCT`` distinct values (of ``MAX_VALUE_CHARS`` characters or less).
- *Extreme values* (reported only): among the ``EXTREMES`` smallest and largest numbers, those
  more than ``OUTLIER_Z`` standard deviations from the mean of the other numbers.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from datamill.clean._table_values import (
    BOOL_CLASSES,
    DATE_CLASSES,
    DEFAULT_NULLS,
    FLOAT_CLASSES,
    INT_CLASSES,
    NUMERIC_CLASSES,
    TIMESTAMP_CLASSES,
    class_label,
    classify,
)
from datamill.core.columns import RESERVED
from datamill.core.errors import SchemaError

__all__ = [
    "DEFAULT_NULLS",
    "SENTINEL_CANDIDATES",
    "ColumnReport",
    "ColumnState",
    "Finding",
    "ProfileOptions",
    "Representation",
    "TableReport",
    "TableState",
    "allowed_classes",
    "profile_table",
]

SENTINEL_CANDIDATES: tuple[float, ...] = (-99.0, -999.0, -9999.0, -99999.0, -999999.0, 999.0, 9999.0, 99999.0,
                                          999999.0, 9999999.0)
MIN_SENTINEL_EVIDENCE = 10
MAX_DISTINCT = 1000
MAX_VALUE_CHARS = 100
EXAMPLES = 10
EXTREMES = 5
OUTLIER_Z = 5.0
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


@dataclass(frozen=True)
class ProfileOptions:
    """What the profile reads as missing, which units it knows, and which columns it looks at.

    ``columns`` None means every column but the reserved ``id``, ``text``, ``source``, ``page``
    and ``meta``. ``column_nulls`` replaces ``nulls`` for the columns it names. ``units`` are
    extra unit names (a user's ``factors``). ``sentinels`` adds candidate sentinel values per
    column.
    """

    nulls: tuple[str, ...] = DEFAULT_NULLS
    column_nulls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    units: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sentinels: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    columns: tuple[str, ...] | None = None

    def nulls_for(self, column: str) -> tuple[str, ...]:
        """The null tokens of one column, stripped of surrounding whitespace."""
        tokens = self.column_nulls.get(column, self.nulls)
        return tuple(dict.fromkeys(t.strip() for t in tokens))

    def candidates_for(self, column: str) -> tuple[float, ...]:
        """Numbers that may be sentinels in one column."""
        return tuple(dict.fromkeys([*SENTINEL_CANDIDATES, *(float(v) for v in self.sentinels.get(column, ()))]))

    def selected(self, schema: pa.Schema) -> list[str]:
        """The columns of ``schema`` to profile."""
        if self.columns is None:
            return [n for n in schema.names if n not in RESERVED]
        missing = [c for c in self.columns if c not in schema.names]
        if missing:
            raise SchemaError(f"no column {', '.join(map(repr, missing))} to profile; the table has "
                              f"{', '.join(schema.names)}.")
        return list(self.columns)


# ------------------------------------------------------------------------------------ state
@dataclass
class NumericState:
    """Mergeable statistics of a column's numbers: moments, extremes, sentinel candidates.

    Candidate sentinel values are counted apart (by value, class, and whether they were
    padded) and kept out of the moments and extremes.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    candidates: dict[tuple[float, str, bool], int] = field(default_factory=dict)

    def add(self, values: pl.DataFrame, candidates: Sequence[float]) -> None:
        """Add numbers given as a frame of ``num`` (finite floats), ``n`` (counts), ``cls``, ``padded``."""
        if not values.height:
            return
        is_candidate = pl.col("num").is_in(pl.Series([float(c) for c in candidates], dtype=pl.Float64).implode())
        grouped = values.filter(is_candidate).group_by("num", "cls", "padded").agg(pl.col("n").sum())
        for num, cls, padded, n in grouped.iter_rows():
            key = (float(num), str(cls), bool(padded))
            self.candidates[key] = self.candidates.get(key, 0) + int(n)
        rest = values.filter(~is_candidate).group_by("num").agg(pl.col("n").sum()).sort("num")
        if not rest.height:
            return
        n = int(rest["n"].sum())
        mean = float((rest["num"] * rest["n"]).sum()) / n
        m2 = float((((rest["num"] - mean) ** 2) * rest["n"]).sum())
        self._combine(n, mean, m2, _expand(rest, EXTREMES, ascending=True), _expand(rest, EXTREMES, ascending=False))

    def _combine(self, n: int, mean: float, m2: float, low: list[float], high: list[float]) -> None:
        total = self.count + n
        if n:
            delta = mean - self.mean
            self.m2 = self.m2 + m2 + delta * delta * self.count * n / total
            self.mean = self.mean + delta * n / total
            self.count = total
        self.low = heapq.nsmallest(EXTREMES, [*self.low, *low])
        self.high = heapq.nlargest(EXTREMES, [*self.high, *high])

    def merge(self, other: NumericState) -> NumericState:
        """A new state holding both."""
        out = NumericState(self.count, self.mean, self.m2, list(self.low), list(self.high), dict(self.candidates))
        out._combine(other.count, other.mean, other.m2, other.low, other.high)
        for key, n in other.candidates.items():
            out.candidates[key] = out.candidates.get(key, 0) + n
        return out

    @property
    def std(self) -> float:
        """Sample standard deviation of the non-sentinel numbers (0 for fewer than two)."""
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0

    @property
    def minimum(self) -> float | None:
        """Smallest non-sentinel number."""
        return self.low[0] if self.low else None

    @property
    def maximum(self) -> float | None:
        """Largest non-sentinel number."""
        return self.high[0] if self.high else None


def _expand(frame: pl.DataFrame, k: int, *, ascending: bool) -> list[float]:
    out: list[float] = []
    rows = frame.iter_rows() if ascending else reversed(list(frame.tail(k).iter_rows()))
    for num, n in rows:
        out.extend([float(num)] * min(int(n), k - len(out)))
        if len(out) >= k:
            break
    return out


@dataclass
class ColumnState:
    """What the profile keeps about one column (bounded in size; merge with `merge`)."""

    name: str
    dtype: str
    kind: str  # string | number | other
    rows: int = 0
    nulls: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    padded: Counter[str] = field(default_factory=Counter)
    examples: dict[str, dict[str, int]] = field(default_factory=dict)
    values: dict[str, int] | None = field(default_factory=dict)
    numbers: NumericState = field(default_factory=NumericState)

    def merge(self, other: ColumnState) -> ColumnState:
        """A new state holding both (the left one's examples come first)."""
        if (self.kind, self.dtype) != (other.kind, other.dtype):
            raise SchemaError(f"column {self.name!r} is {self.dtype} in one part of the input and "
                              f"{other.dtype} in another; cast it to one type first.")
        examples = {k: dict(v) for k, v in self.examples.items()}
        for cls, seen in other.examples.items():
            _add_examples(examples.setdefault(cls, {}), seen)
        values: dict[str, int] | None = None
        if self.values is not None and other.values is not None:
            values = dict(self.values)
            for value, n in other.values.items():
                values[value] = values.get(value, 0) + n
            if len(values) > MAX_DISTINCT:
                values = None
        return ColumnState(self.name, self.dtype, self.kind, self.rows + other.rows, self.nulls + other.nulls,
                           self.classes + other.classes, self.padded + other.padded, examples, values,
                           self.numbers.merge(other.numbers))


def _add_examples(into: dict[str, int], seen: Mapping[str, int]) -> None:
    for value, n in seen.items():
        if value in into:
            into[value] += n
        elif len(into) < EXAMPLES:
            into[value] = n


def _kind(dtype: pa.DataType) -> str:
    if dtype in _STRING_TYPES or (pa.types.is_dictionary(dtype) and dtype.value_type in _STRING_TYPES):
        return "string"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "number"
    return "other"


def _short(value: str) -> str:
    return value if len(value) <= 80 else value[:80] + f"… [{len(value)} chars]"


def _string_update(state: ColumnState, column: pa.Array, options: ProfileOptions) -> None:
    series = pl.Series("v", column).cast(pl.String)
    distinct = (pl.DataFrame({"v": series}).drop_nulls().group_by("v", maintain_order=True).len("n"))
    stripped = distinct["v"].str.strip_chars()
    classes = classify(stripped, nulls=options.nulls_for(state.name), units=options.units.get(state.name, ()))
    frame = distinct.with_columns(
        stripped.alias("s"), classes["cls"], classes["num"],
        (distinct["v"] != stripped).alias("padded"),
    )
    for cls, n, padded in frame.group_by("cls").agg(pl.col("n").sum(), (pl.col("n") * pl.col("padded")).sum()
                                                    .alias("p")).iter_rows():
        state.classes[cls] += int(n)
        if cls != "missing" and padded:
            state.padded[cls] += int(padded)
    for cls, values, counts in (frame.group_by("cls", maintain_order=True)
                                .agg(pl.col("v").head(EXAMPLES), pl.col("n").head(EXAMPLES)).iter_rows()):
        seen = {_short(v): int(n) for v, n in zip(values, counts, strict=True)}
        _add_examples(state.examples.setdefault(cls, {}), seen)
    if state.values is not None:
        present = frame.filter(pl.col("cls") != "missing").group_by("s", maintain_order=True).agg(pl.col("n").sum())
        longest = int(present["s"].str.len_chars().max() or 0) if present.height else 0  # type: ignore[arg-type]
        if present.height > MAX_DISTINCT or longest > MAX_VALUE_CHARS:
            state.values = None
        else:
            for value, n in present.iter_rows():
                state.values[value] = state.values.get(value, 0) + int(n)
            if len(state.values) > MAX_DISTINCT:
                state.values = None
    numbers = (frame.filter(pl.col("cls").is_in(list(NUMERIC_CLASSES)) & pl.col("num").is_finite())
               .select("num", "n", "cls", "padded"))
    state.numbers.add(numbers, options.candidates_for(state.name))


def _number_update(state: ColumnState, column: pa.Array, options: ProfileOptions) -> None:
    series = pl.Series("num", column).cast(pl.Float64)
    valid = series.drop_nulls()
    nan_is_null = any(t.lower() == "nan" for t in options.nulls_for(state.name))
    nans = int(valid.is_nan().sum())
    if nans:
        cls = "missing" if nan_is_null else "nan"
        state.classes[cls] += nans
        _add_examples(state.examples.setdefault(cls, {}), {"NaN": nans})
    values = valid.filter(valid.is_finite())
    infinite = len(valid) - nans - len(values)
    state.classes["number"] += len(values) + infinite
    if len(values):
        frame = (pl.DataFrame({"num": values}).group_by("num", maintain_order=True).len("n")
                 .with_columns(pl.lit("number").alias("cls"), pl.lit(False).alias("padded")))
        _add_examples(state.examples.setdefault("number", {}),
                      {_fmt(v): int(n) for v, n in frame.head(EXAMPLES).select("num", "n").iter_rows()})
        state.numbers.add(frame.select("num", "n", "cls", "padded"), options.candidates_for(state.name))


def _fmt(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


@dataclass
class TableState:
    """The mergeable summary of a table: one `ColumnState` per profiled column, in order."""

    options: ProfileOptions = field(default_factory=ProfileOptions)
    rows: int = 0
    columns: dict[str, ColumnState] = field(default_factory=dict)

    def update(self, batch: pa.RecordBatch | pa.Table) -> TableState:
        """Add one batch (in place) and return self."""
        self.rows += batch.num_rows
        for name in self.options.selected(batch.schema):
            column = batch.column(name)
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks()
            dtype = column.type
            state = self.columns.get(name)
            if state is None:
                state = self.columns[name] = ColumnState(name, str(dtype), _kind(dtype))
            elif state.dtype != str(dtype):
                raise SchemaError(f"column {name!r} is {state.dtype} in one batch and {dtype} in another; "
                                  "cast it to one type first.")
            state.rows += len(column)
            state.nulls += column.null_count
            if state.kind == "string":
                if pa.types.is_dictionary(dtype):
                    column = column.cast(dtype.value_type)
                _string_update(state, column, self.options)
            elif state.kind == "number":
                _number_update(state, column, self.options)
            else:
                state.classes["typed"] += len(column) - column.null_count
        return self

    def merge(self, other: TableState) -> TableState:
        """A new state holding both (columns in the left one's order)."""
        columns = dict(self.columns)
        for name, state in other.columns.items():
            columns[name] = columns[name].merge(state) if name in columns else state
        return TableState(self.options, self.rows + other.rows, columns)

    def report(self) -> TableReport:
        """Turn the summary into a report."""
        return TableReport(self.rows, [_column_report(s, self.options) for s in self.columns.values()],
                           self.options)


# ----------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Representation:
    """One way values of a column are written: a class, how many, padded how many, examples."""

    cls: str
    count: int
    padded: int
    examples: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"class": self.cls, "label": class_label(self.cls), "count": self.count,
                "padded": self.padded, "examples": self.examples}


@dataclass(frozen=True)
class Finding:
    """A problem (or a note) about a column: a stable code, a message, a count, examples."""

    code: str
    message: str
    count: int = 0
    examples: Mapping[str, float] = field(default_factory=dict)  # value → count (a z-score for extremes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"code": self.code, "message": self.message, "count": self.count, "examples": dict(self.examples)}


@dataclass
class ColumnReport:
    """What the profile found in one column."""

    name: str
    dtype: str
    kind: str
    rows: int
    nulls: int
    missing: int
    inferred: str
    representations: list[Representation]
    findings: list[Finding]
    numbers: NumericState
    values: dict[str, int] | None
    day_first: bool | None = None
    sentinels: dict[float, int] = field(default_factory=dict)
    case_groups: dict[str, dict[str, int]] = field(default_factory=dict)
    classes: Counter[str] = field(default_factory=Counter)
    padded: Counter[str] = field(default_factory=Counter)

    @property
    def present(self) -> int:
        """Values that are neither null nor a missing token."""
        return self.rows - self.nulls - self.missing

    def finding(self, code: str) -> Finding | None:
        """The finding with this code, if any."""
        return next((f for f in self.findings if f.code == code), None)

    def sentinel_count(self, values: Iterable[float], *, classes: Iterable[str] | None = None,
                       padded: bool | None = None) -> int:
        """How many values are one of ``values`` (optionally of given classes, padded or not)."""
        wanted = {float(v) for v in values}
        keep = None if classes is None else set(classes)
        return sum(n for (num, cls, pad), n in self.numbers.candidates.items()
                   if num in wanted and (keep is None or cls in keep) and (padded is None or pad == padded))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {
            "name": self.name, "type": self.dtype, "inferred": self.inferred, "rows": self.rows,
            "nulls": self.nulls, "missing": self.missing,
            "representations": [r.to_dict() for r in self.representations],
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.numbers.count:
            out["numbers"] = {"count": self.numbers.count, "min": self.numbers.minimum,
                              "max": self.numbers.maximum, "mean": self.numbers.mean, "std": self.numbers.std}
        if self.sentinels:
            out["sentinels"] = {_fmt(k): v for k, v in self.sentinels.items()}
        if self.day_first is not None:
            out["day_first"] = self.day_first
        return out


@dataclass
class TableReport:
    """The profile of a table: one `ColumnReport` per column."""

    rows: int
    columns: list[ColumnReport]
    options: ProfileOptions = field(default_factory=ProfileOptions)

    def column(self, name: str) -> ColumnReport:
        """The report of one column."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"rows": self.rows, "columns": [c.to_dict() for c in self.columns]}


def allowed_classes(col: ColumnReport, target: str, *, day_first: bool | None = None) -> frozenset[str]:
    """The classes of ``col`` that parse to ``target`` (int64, float64, bool, date, timestamp, string).

    Missing values are not counted: they become null whatever the target.
    """
    first = col.day_first if day_first is None else day_first
    dates = DATE_CLASSES - (_MONTH_FIRST if first else _DAY_FIRST)
    if target == "int64":
        return INT_CLASSES
    if target == "float64":
        return FLOAT_CLASSES
    if target == "bool":
        lo, hi = col.numbers.minimum, col.numbers.maximum
        zero_one = (lo is None or lo >= 0) and (hi is None or hi <= 1) and not (col.classes.keys()
                                                                               & (FLOAT_CLASSES - INT_CLASSES))
        if zero_one and not col.numbers.candidates:
            return BOOL_CLASSES | {"int", "float_integral"}
        return BOOL_CLASSES
    if target == "date":
        return dates
    if target == "timestamp":
        return dates | TIMESTAMP_CLASSES
    return frozenset(col.classes)


_DAY_FIRST = frozenset({"date:d/m/Y", "date:d-m-Y"})
_MONTH_FIRST = frozenset({"date:m/d/Y", "date:m-d-Y"})


def _infer(col: ColumnReport) -> str:
    if col.kind != "string":
        return _typed_name(col.dtype)
    present = {c for c, n in col.classes.items() if n and c != "missing"}
    if not present:
        return "string"
    for target, needs in (("bool", BOOL_CLASSES), ("int64", INT_CLASSES), ("float64", FLOAT_CLASSES),
                          ("date", DATE_CLASSES), ("timestamp", TIMESTAMP_CLASSES)):
        if present & needs and present <= allowed_classes(col, target):
            return target
    return "string"


def _typed_name(dtype: str) -> str:
    return {"double": "float64", "float": "float32", "halffloat": "float16", "date32[day]": "date"}.get(dtype, dtype)


def _day_first(classes: Mapping[str, int]) -> tuple[bool | None, bool]:
    """The slashed-date order of a column, and whether its values disagree."""
    dmy = sum(n for c, n in classes.items() if c in _DAY_FIRST)
    mdy = sum(n for c, n in classes.items() if c in _MONTH_FIRST)
    either = sum(n for c, n in classes.items() if c in ("date:?/?/Y", "date:?-?-Y"))
    if not (dmy or mdy or either):
        return None, False
    return dmy > mdy, bool(dmy and mdy)


def _sentinels(col: ColumnReport, candidates: Sequence[float]) -> dict[float, int]:
    nums = col.numbers
    found: dict[float, int] = {}
    for value in candidates:
        count = col.sentinel_count([value])
        if not count or nums.count < MIN_SENTINEL_EVIDENCE or count >= nums.count:
            continue
        lo, hi = nums.minimum, nums.maximum
        if (value < 0 and lo is not None and lo >= 0) or (value > 0 and hi is not None and hi * 10 <= value):
            found[value] = count
    return found


def _outliers(nums: NumericState) -> dict[str, float]:
    out: dict[str, float] = {}
    for value in sorted(set(nums.low) | set(nums.high)):
        n = nums.count - 1
        if n < MIN_SENTINEL_EVIDENCE:
            break
        mean = (nums.mean * nums.count - value) / n
        m2 = nums.m2 - (value - nums.mean) * (value - mean)
        std = math.sqrt(max(m2, 0.0) / (n - 1))
        if std > 0 and abs(value - mean) / std > OUTLIER_Z:
            out[_fmt(value)] = round(abs(value - mean) / std, 1)
    return out


def _case_groups(values: Mapping[str, int] | None) -> dict[str, dict[str, int]]:
    if not values:
        return {}
    frame = pl.DataFrame({"s": list(values), "n": list(values.values())}, schema={"s": pl.String, "n": pl.Int64})
    frame = frame.with_columns(pl.col("s").str.to_lowercase().alias("key"))
    groups: dict[str, dict[str, int]] = {}
    for key, forms, counts in frame.group_by("key", maintain_order=True).agg("s", "n").iter_rows():
        if len(forms) > 1:
            groups[key] = dict(sorted(zip(forms, counts, strict=True), key=lambda fc: (-fc[1], fc[0])))
    return groups


def _column_report(state: ColumnState, options: ProfileOptions) -> ColumnReport:
    reps = [Representation(c, n, state.padded.get(c, 0), state.examples.get(c, {}))
            for c, n in sorted(state.classes.items(), key=lambda cn: (-cn[1], cn[0])) if n]
    day_first, conflict = _day_first(state.classes)
    col = ColumnReport(state.name, state.dtype, state.kind, state.rows, state.nulls, state.classes.get("missing", 0),
                       "string", reps, [], state.numbers, state.values, day_first,
                       classes=state.classes, padded=state.padded)
    col.sentinels = _sentinels(col, options.candidates_for(state.name))
    col.case_groups = _case_groups(state.values) if state.kind == "string" else {}
    col.inferred = _infer(col)
    col.findings = list(_findings(col, conflict, options))
    return col


def _findings(col: ColumnReport, date_conflict: bool, options: ProfileOptions) -> Iterator[Finding]:
    classes = col.classes
    kinds = _kinds(classes)
    present = col.present
    if col.rows and present == 0 and col.rows > col.nulls:
        yield Finding("all_missing", "every value is null or a missing token", col.missing)
    if col.missing:
        tokens = _examples(col, "missing")
        yield Finding("missing_tokens", f"{col.missing:,} value(s) are missing-value tokens "
                      f"({', '.join(repr(t) for t in tokens)}); read them as null", col.missing, tokens)
    if col.sentinels:
        listed = ", ".join(f"{_fmt(v)} ({n:,}×)" for v, n in col.sentinels.items())
        yield Finding("sentinels", f"{listed} look like codes for missing: far outside the other numbers "
                      f"({_fmt(col.numbers.minimum or 0)} to {_fmt(col.numbers.maximum or 0)})",
                      sum(col.sentinels.values()), {_fmt(v): n for v, n in col.sentinels.items()})
    possible = {v: col.sentinel_count([v]) for v in options.candidates_for(col.name)
                if v not in col.sentinels and col.sentinel_count([v])}
    if possible:
        nums = col.numbers
        why = (f"too few other numbers to be sure ({nums.count} < {MIN_SENTINEL_EVIDENCE})"
               if nums.count < MIN_SENTINEL_EVIDENCE else
               f"they are not far outside the other numbers ({_fmt(nums.minimum or 0)} to {_fmt(nums.maximum or 0)})")
        yield Finding("possible_sentinels", f"value(s) often used as missing-value codes, kept: {why}; list them "
                      "in `sentinels` to read them as null", sum(possible.values()),
                      {_fmt(v): n for v, n in possible.items()})
    padded = sum(n for c, n in col.padded.items() if c != "missing")
    if padded:
        yield Finding("whitespace", f"{padded:,} value(s) have leading or trailing whitespace", padded,
                      _padded_examples(col))
    if col.case_groups:
        variants = sum(sum(forms.values()) - max(forms.values()) for forms in col.case_groups.values())
        examples = {" / ".join(forms): sum(forms.values()) for forms in list(col.case_groups.values())[:5]}
        yield Finding("case_variants", f"{len(col.case_groups):,} value(s) are written in several cases "
                      f"({variants:,} value(s) differ from the most common form)", variants, examples)
    numeric = {c: n for c, n in classes.items() if c in NUMERIC_CLASSES}
    if len(numeric) > 1 and col.inferred in ("int64", "float64"):
        yield Finding("number_formats", "numbers are written in several forms: "
                      + ", ".join(f"{class_label(c)} ({n:,})" for c, n in numeric.items()), sum(numeric.values()),
                      _class_examples(col, numeric))
    if col.inferred == "bool" and col.values:
        spellings = {v: n for v, n in col.values.items()}
        if len(spellings) > 2:
            yield Finding("bool_spellings", f"booleans are spelled {len(spellings)} ways", present, spellings)
    dates = {c: n for c, n in classes.items() if c in DATE_CLASSES | TIMESTAMP_CLASSES}
    if len(dates) > 1:
        yield Finding("date_formats", "dates are written in several formats: "
                      + ", ".join(f"{c.split(':', 1)[1]} ({n:,})" for c, n in dates.items()), sum(dates.values()),
                      _class_examples(col, dates))
    if date_conflict:
        yield Finding("date_order_conflict", "some dates only make sense day-first (13/03/2021) and others "
                      "only month-first (03/13/2021)", sum(dates.values()))
    elif col.day_first is False and not dates.keys() & _MONTH_FIRST:
        yield Finding("date_order_ambiguous", "every slashed date is valid both day-first and month-first; "
                      "read month-first (set `day_first` to change)", sum(dates.values()))
    units = {c: n for c, n in classes.items() if c.startswith("unit:")}
    if units and (len(units) > 1 or numeric):
        parts = [f"{c.split(':', 1)[1]} ({n:,})" for c, n in units.items()]
        if numeric:
            parts.append(f"no unit ({sum(numeric.values()):,})")
        yield Finding("mixed_units", "numbers are written with different units: " + ", ".join(parts),
                      sum(units.values()) + sum(numeric.values()),
                      _class_examples(col, {**units, **numeric}))
    elif units:
        only = next(iter(units))
        yield Finding("unit_in_values", f"every number carries the unit {only.split(':', 1)[1]}; "
                      "convert to numbers with `units`", units[only], _examples(col, only))
    if kinds and col.inferred == "string":
        main, share = max(kinds.items(), key=lambda kv: kv[1])
        odd = {c: n for c, n in classes.items() if c != "missing" and _kind_of(c) != main}
        if main != "text" and 2 * share > present and odd:
            odd_examples: dict[str, int] = {}
            for c in odd:
                _add_examples(odd_examples, _examples(col, c))
            yield Finding("mixed_types", f"mostly {main} ({share:,} of {present:,}), but "
                          f"{sum(odd.values()):,} value(s) are not", sum(odd.values()), odd_examples)
    if classes.get("code") and col.inferred == "string":
        yield Finding("leading_zeros", "numbers with leading zeros: kept as text (codes)", classes["code"],
                      _examples(col, "code"))
    outliers = _outliers(col.numbers)
    if outliers:
        yield Finding("extreme_values", f"{len(outliers)} value(s) lie more than {OUTLIER_Z:g} standard deviations "
                      "from the other numbers (reported, not changed)", len(outliers), outliers)


def _examples(col: ColumnReport, cls: str) -> dict[str, int]:
    for rep in col.representations:
        if rep.cls == cls:
            return dict(rep.examples)
    return {}


def _class_examples(col: ColumnReport, classes: Mapping[str, int]) -> dict[str, int]:
    """One example per class, with the class's count: ``{"1.0 (float_integral)": 502}``."""
    return {f"{next(iter(_examples(col, c)), '')} ({c})": n for c, n in classes.items()}


def _padded_examples(col: ColumnReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for rep in col.representations:
        if rep.cls != "missing":
            _add_examples(out, {v: n for v, n in rep.examples.items() if v != v.strip()})
    return dict(list(out.items())[:5])


_KINDS = {**dict.fromkeys(NUMERIC_CLASSES, "number"), "bool": "bool", "code": "text", "text": "text", "empty": "text"}


def _kind_of(cls: str) -> str:
    if cls in _KINDS:
        return _KINDS[cls]
    if cls.startswith(("date:", "timestamp:")):
        return "date"
    if cls.startswith("unit:"):
        return "quantity"
    return "text"


def _kinds(classes: Mapping[str, int]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for cls, n in classes.items():
        if cls != "missing" and n:
            out[_kind_of(cls)] += n
    return dict(out)


def profile_table(data: Any, *, options: ProfileOptions | None = None) -> TableReport:
    """Profile a table: record batches, a pyarrow Table, or a `datamill.Dataset`.

    Streams batch by batch; memory is bounded by the batch size and the per-column limits.
    """
    state = TableState(options or ProfileOptions())
    if isinstance(data, pa.Table):
        batches: Iterable[pa.RecordBatch] = data.to_batches()
        if not data.num_rows:
            state.update(data)
    elif isinstance(data, pa.RecordBatch):
        batches = [data]
    elif hasattr(data, "batches") and callable(data.batches):
        batches = data.batches()
    else:
        batches = data
    for batch in batches:
        state.update(batch)
    return state.report()
