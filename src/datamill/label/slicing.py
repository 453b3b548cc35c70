"""Slicing functions: named subsets of the data, for validation and error analysis.

A slice is a named boolean mask over the rows ("short comments", "has a link", "French"). The
same slices serve data validation (is this slice's share drifting?) and error analysis (is the
model worse on it?). Two kinds exist, as for labelling functions:

- **Record functions**, written with :func:`slicing_function` over one record: any rule Python
  can say. It returns something truthy for the rows in the slice. An exception is the row's
  fault, never silent: the row is not in the slice, the error is counted and reported
  (:attr:`SliceMasks.errors`, a warning, or a null in the slice column of ``slice_table``).
- **Column slices**, computed on a whole batch with Arrow or polars kernels: :class:`SliceExpr`
  (any boolean polars expression), :class:`ValueSlice` (``column == value``), :class:`KeywordSlice`
  and :class:`RegexSlice` (on a text column) and :class:`RangeSlice` (a numeric range, or a text
  length range).

:func:`apply_slices` gives one numpy mask per slice, :func:`slice_table` adds one boolean column
``slice:<name>`` per slice (the ``label.slices`` step does that in a pipeline), and
:func:`slice_summary` tables each slice's size, share, label distribution and, given predictions
and gold labels, its accuracy against the overall one.

>>> import pyarrow as pa
>>> data = pa.table({"text": ["Check out my channel http://x.co", "love it", "so good"], "CLASS": [1, 0, 0]})
>>> masks = apply_slices(data, [KeywordSlice("mentions_channel", ["channel"]),
...                             RangeSlice("short", "text", max=2, measure="words")])
>>> {name: mask.tolist() for name, mask in masks.items()}
{'mentions_channel': [True, False, False], 'short': [False, True, True]}
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from datamill.core.columns import TEXT
from datamill.core.errors import ConfigError, DatamillError, PipelineError, SchemaError
from datamill.label.lf import BatchView, RecordCall, _word_counts, functions_in_file, keyword_pattern
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, base_dir, register

__all__ = [
    "KeywordSlice",
    "LabelSlices",
    "LabelSlicesConfig",
    "PythonSlice",
    "RangeSlice",
    "RegexSlice",
    "SliceErrorWarning",
    "SliceExpr",
    "SliceMask",
    "SliceMasks",
    "SliceSet",
    "SliceSpec",
    "SlicingFunction",
    "ValueSlice",
    "apply_slices",
    "load_slices",
    "slice_summary",
    "slice_table",
    "slicing_function",
]

SLICE_PREFIX = "slice:"
SLICE_ERROR = "slice_error"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class SliceErrorWarning(UserWarning):
    """A slicing function raised on some rows; those rows are not in its slice."""


def _checked_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{what}: a slice name is a word (letters, digits, _ . -), got {name!r}.")
    return name


@dataclass(frozen=True)
class SliceMask:
    """One slicing function on a batch: which rows are in the slice, and the rows where it raised."""

    mask: NDArray[np.bool_]
    errors: dict[int, str] = field(default_factory=dict)


def _bools(array: Any) -> NDArray[np.bool_]:
    """A boolean Arrow array as numpy, null read as False (not in the slice)."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


class SlicingFunction:
    """Base of every slicing function: a ``name`` and a ``mask`` over a batch.

    Subclasses implement ``_batch_mask(rows)``. When it raises on a whole batch, ``mask`` runs it
    row by row to find the rows at fault, so one bad row never costs the batch.
    """

    kind: ClassVar[str] = "slice"

    def __init__(self, name: str) -> None:
        self.name = _checked_name(name, type(self).__name__)

    def mask(self, batch: pa.RecordBatch) -> SliceMask:
        """Which rows of ``batch`` are in the slice, and the rows where the function raised."""
        return self._mask(BatchView(batch, "slice"))

    def _mask(self, rows: BatchView) -> SliceMask:
        try:
            return SliceMask(np.asarray(self._batch_mask(rows), dtype=bool))
        except DatamillError:
            raise
        except Exception:  # a fault in one row fails a whole-batch kernel: find the row
            mask = np.zeros(rows.num_rows, dtype=bool)
            errors: dict[int, str] = {}
            for row in range(rows.num_rows):
                try:
                    mask[row] = bool(self._batch_mask(BatchView(rows.batch.slice(row, 1), "slice"))[0])
                except DatamillError:
                    raise
                except Exception as err:  # the slice's own code: count the row, never hide it
                    errors[row] = f"{self.name}: {type(err).__name__}: {err}"
            return SliceMask(mask, errors)

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class PythonSlice(RecordCall, SlicingFunction):
    """A record slicing function, made by :func:`slicing_function`.

    Parameters say what the function receives, as for labelling functions: one named ``x``,
    ``record`` or ``row`` gets the whole record; any other name gets that column's value; names
    in ``resources`` get those objects. Calling it on a dict runs the function as written.
    """

    kind: ClassVar[str] = "python"

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 resources: Mapping[str, Any] | None = None) -> None:
        super().__init__(name or fn.__name__)
        self._bind(fn, resources, "slicing function")

    def _mask(self, rows: BatchView) -> SliceMask:
        mask = np.zeros(rows.num_rows, dtype=bool)
        errors: dict[int, str] = {}
        if self._record_param is not None:
            key = self._record_param
            calls: Any = ({key: record} for record in rows.records())
        else:
            values = [rows.column(c, self.name).to_pylist() for c in self.columns]
            calls = (dict(zip(self.columns, row, strict=True)) for row in zip(*values, strict=True))
        for row, kwargs in enumerate(calls):
            try:
                mask[row] = bool(self.fn(**kwargs, **self.resources))
            except Exception as err:  # the user's code: the row is not in the slice, and that is reported
                errors[row] = f"{self.name}: {type(err).__name__}: {err}"
        return SliceMask(mask, errors)


def slicing_function(fn: Callable[..., Any] | None = None, *, name: str | None = None,
                     resources: Mapping[str, Any] | None = None) -> Any:
    """Make a slicing function from a function of a record; works with and without parentheses.

    The function returns something truthy for the rows in the slice. Raising is not "no": the
    row is left out of the slice and the error is counted and reported.

    >>> @slicing_function(name="short_comment")
    ... def short(text):
    ...     return len(text.split()) < 5
    >>> short({"text": "great song"})
    True
    >>> import pyarrow as pa
    >>> got = short.mask(pa.record_batch({"text": ["great song", "a b c d e f", None]}))
    >>> got.mask.tolist(), got.errors
    ([True, False, False], {2: "short_comment: AttributeError: 'NoneType' object has no attribute 'split'"})
    """

    def wrap(func: Callable[..., Any]) -> PythonSlice:
        return PythonSlice(func, name=name, resources=resources)

    return wrap(fn) if fn is not None else wrap


class SliceExpr(SlicingFunction):
    """The rows where a boolean polars expression is true (null is not in the slice).

    ``expr`` is a ``pl.Expr``, or its Python text (``"pl.col('n') > 2"``) as YAML gives it.

    >>> import polars as pl
    >>> s = SliceExpr("long", pl.col("text").str.len_chars() > 5)
    >>> s.mask(pa.record_batch({"text": ["short", "longer text", None]})).mask.tolist()
    [False, True, False]
    """

    kind: ClassVar[str] = "expr"

    def __init__(self, name: str, expr: Any) -> None:
        super().__init__(name)
        import polars as pl

        if isinstance(expr, str):
            from datamill.ops.filter import compile_expr

            try:
                expr = compile_expr(expr)
            except ValueError as err:
                raise ConfigError(f"SliceExpr {name!r}: {err}") from err
        if not isinstance(expr, pl.Expr):
            raise ConfigError(f"SliceExpr {name!r}: `expr` must be a polars expression, got {type(expr).__name__}.")
        self.expr = expr

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        import polars as pl

        try:
            series = rows.frame().select(self.expr.alias("in_slice")).to_series()
        except pl.exceptions.ColumnNotFoundError as err:
            raise SchemaError(f"slice {self.name!r}: {err}; the input has "
                              f"{', '.join(rows.batch.schema.names)}.") from err
        if len(series) != rows.num_rows:
            raise ConfigError(f"SliceExpr {self.name!r}: the expression gave {len(series)} values for "
                              f"{rows.num_rows} rows; it must give one per row (no aggregation).")
        if series.dtype != pl.Boolean:
            raise ConfigError(f"SliceExpr {self.name!r}: the expression gives {series.dtype}, not booleans; "
                              "compare it (`... > 3`, `.is_in([...])`).")
        return np.asarray(series.fill_null(False).to_numpy(), dtype=bool)


class ValueSlice(SlicingFunction):
    """The rows where ``column`` equals ``value`` (or is one of ``values``).

    >>> ValueSlice("psy", "video", "psy").mask(pa.record_batch({"video": ["psy", "katy", None]})).mask.tolist()
    [True, False, False]
    """

    kind: ClassVar[str] = "value"

    def __init__(self, name: str, column: str, value: Any = None, *, values: Sequence[Any] | None = None) -> None:
        super().__init__(name)
        if (value is None) == (values is None):
            raise ConfigError(f"ValueSlice {name!r}: give `value` or `values` (one of them).")
        self.column = column
        self.values = [value] if values is None else list(values)

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        array = rows.column(self.column, self.name)
        try:
            wanted = pa.array(self.values).cast(array.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise SchemaError(f"slice {self.name!r}: `{self.column}` holds {array.type}, and {self.values!r} "
                              f"cannot be compared with it: {err}") from err
        return _bools(pc.is_in(array, value_set=wanted))


class KeywordSlice(SlicingFunction):
    """The rows whose text contains any of ``keywords``, ignoring case (whole words by default).

    Word boundaries are Unicode-aware, as in Python's ``re``: "ab" is not a word of "abé".

    >>> s = KeywordSlice("mentions_song", ["song", "lyrics"])
    >>> s.mask(pa.record_batch({"text": ["Great SONG", "songbird", None]})).mask.tolist()
    [True, False, False]
    """

    kind: ClassVar[str] = "keyword"

    def __init__(self, name: str, keywords: Sequence[str], *, column: str = TEXT, whole_words: bool = True) -> None:
        super().__init__(name)
        if isinstance(keywords, str) or not keywords or not all(isinstance(k, str) and k for k in keywords):
            raise ConfigError(f"KeywordSlice {name!r}: `keywords` must be a non-empty list of words, got {keywords!r}.")
        self.keywords = tuple(keywords)
        self.column = column
        self._pattern = keyword_pattern(self.keywords, whole_words)

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        return _bools(pc.match_substring_regex(rows.text(self.column, self.name), self._pattern, ignore_case=True))


class RegexSlice(SlicingFunction):
    """The rows whose text matches ``pattern`` (RE2 syntax, searched anywhere).

    >>> s = RegexSlice("has_url", r"https?://|www\\.", ignore_case=True)
    >>> s.mask(pa.record_batch({"text": ["see HTTP://x.co", "no link"]})).mask.tolist()
    [True, False]
    """

    kind: ClassVar[str] = "regex"

    def __init__(self, name: str, pattern: str, *, column: str = TEXT, ignore_case: bool = False) -> None:
        super().__init__(name)
        try:
            pc.match_substring_regex(pa.array([""]), pattern)
        except pa.ArrowInvalid as err:
            raise ConfigError(f"RegexSlice {name!r}: `pattern` {pattern!r} is not a valid RE2 expression: "
                              f"{err}") from err
        self.pattern = pattern
        self.column = column
        self.ignore_case = ignore_case

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        texts = rows.text(self.column, self.name)
        return _bools(pc.match_substring_regex(texts, self.pattern, ignore_case=self.ignore_case))


Measure = Literal["value", "chars", "words"]


class RangeSlice(SlicingFunction):
    """The rows where ``min <= x <= max`` (both inclusive; give one or both); null is outside.

    ``x`` is the column's value (``measure="value"``, a number or a date), or a text column's
    length in characters (``"chars"``) or words (``"words"``, as ``len(text.split())``).

    >>> s = RangeSlice("short", "text", max=2, measure="words")
    >>> s.mask(pa.record_batch({"text": ["so good", "one two three", ""]})).mask.tolist()
    [True, False, True]
    """

    kind: ClassVar[str] = "range"

    def __init__(self, name: str, column: str, *, min: Any = None, max: Any = None,
                 measure: Measure = "value") -> None:
        super().__init__(name)
        if min is None and max is None:
            raise ConfigError(f"RangeSlice {name!r}: give `min`, `max` or both.")
        if measure not in ("value", "chars", "words"):
            raise ConfigError(f"RangeSlice {name!r}: `measure` is value, chars or words, got {measure!r}.")
        self.column = column
        self.min = min
        self.max = max
        self.measure = measure

    def _batch_mask(self, rows: BatchView) -> NDArray[np.bool_]:
        if self.measure == "value":
            x = rows.column(self.column, self.name)
        elif self.measure == "chars":
            x = pc.utf8_length(rows.text(self.column, self.name))
        else:
            x = _word_counts(rows.text(self.column, self.name))
        try:
            ok = pc.is_valid(x)
            if self.min is not None:
                ok = pc.and_(ok, pc.greater_equal(x, pa.scalar(self.min).cast(x.type)))
            if self.max is not None:
                ok = pc.and_(ok, pc.less_equal(x, pa.scalar(self.max).cast(x.type)))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
            raise SchemaError(f"slice {self.name!r}: `{self.column}` holds {x.type}, which cannot be compared with "
                              f"min={self.min!r} / max={self.max!r}: {err}") from err
        return _bools(ok)


# --- sets, loading and YAML specs ---------------------------------------------------------------


class SliceSet:
    """Slicing functions with distinct names, in order.

    >>> SliceSet.of([KeywordSlice("a", ["x"]), KeywordSlice("a", ["y"])])
    Traceback (most recent call last):
    ...
    datamill.core.errors.ConfigError: two slices are named 'a'; slice names must be unique.
    """

    def __init__(self, slices: Sequence[SlicingFunction], sha256: str | None = None) -> None:
        self.slices = list(slices)
        self.sha256 = sha256

    @classmethod
    def of(cls, slices: Iterable[SlicingFunction] | SliceSet, *, sha256: str | None = None,
           where: str = "slices") -> SliceSet:
        """Check and wrap slicing functions (or return a SliceSet as it is)."""
        if isinstance(slices, SliceSet):
            return slices
        items = list(slices)
        seen: set[str] = set()
        for item in items:
            if not isinstance(item, SlicingFunction):
                raise ConfigError(f"{where}: {item!r} is not a slicing function; decorate a function with "
                                  "`@slicing_function` or use SliceExpr, ValueSlice, KeywordSlice, RegexSlice, "
                                  "RangeSlice.")
            if item.name in seen:
                raise ConfigError(f"two slices are named {item.name!r}; slice names must be unique.")
            seen.add(item.name)
        if not items:
            raise ConfigError(f"{where}: no slicing functions given.")
        return cls(items, sha256)

    @property
    def names(self) -> list[str]:
        """The slice names, in order."""
        return [s.name for s in self.slices]

    def masks(self, batch: pa.RecordBatch) -> dict[str, SliceMask]:
        """Every slice's mask (and errors) on one batch."""
        rows = BatchView(batch, "slice")
        return {s.name: s._mask(rows) for s in self.slices}


def load_slices(path: str | Path) -> SliceSet:
    """The slicing functions defined in a Python file (``SLICES`` if it defines it, else every one).

    The file is imported once per content, like an LF file; its sha256 is the set's ``sha256``.
    """
    module, found = functions_in_file(path, SlicingFunction, "SLICES", "slicing function",
                                      "decorate functions with `@slicing_function` (from datamill.label.slicing) "
                                      "or define SliceExpr(...) objects.")
    file = Path(path)
    return SliceSet.of(found, sha256=module.__datamill_code_hash__, where=str(file))


class SliceSpec(BaseModel):
    """A column slice written in YAML: a ``name`` and one of ``expr``, ``keywords``, ``regex``,
    ``value``/``values`` (with ``column``) or ``min``/``max`` (with ``column``, ``measure``).

    >>> SliceSpec(name="short", column="text", max=3, measure="words").build()
    RangeSlice('short')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    expr: str | None = Field(None, description="A boolean polars expression, e.g. \"pl.col('n') > 2\".")
    keywords: list[str] | None = Field(None, description="Words to look for in `column` (text by default).")
    regex: str | None = Field(None, description="An RE2 pattern to search `column` for.")
    value: Any = Field(None, description="`column` equals this value.")
    values: list[Any] | None = Field(None, description="`column` is one of these values.")
    min: Any = Field(None, description="Lower bound (inclusive) of `column` or its length.")
    max: Any = Field(None, description="Upper bound (inclusive) of `column` or its length.")
    column: str | None = Field(None, description="The column read (text by default for keywords and regex).")
    measure: Measure = Field("value", description="min/max bound the value, or the text's chars or words.")
    ignore_case: bool = Field(False, description="regex only: ignore case.")

    @model_validator(mode="after")
    def _one_kind(self) -> SliceSpec:
        kinds = [k for k, on in (("expr", self.expr is not None), ("keywords", self.keywords is not None),
                                 ("regex", self.regex is not None),
                                 ("value", self.value is not None or self.values is not None),
                                 ("range", self.min is not None or self.max is not None)) if on]
        if len(kinds) != 1:
            raise ValueError(f"slice {self.name!r}: give exactly one of expr, keywords, regex, value/values, "
                             f"min/max; got {', '.join(kinds) or 'none'}.")
        if kinds[0] in ("value", "range") and self.column is None:
            raise ValueError(f"slice {self.name!r}: `{kinds[0]}` needs `column`.")
        return self

    def build(self) -> SlicingFunction:
        """The slicing function this spec describes."""
        if self.expr is not None:
            return SliceExpr(self.name, self.expr)
        if self.keywords is not None:
            return KeywordSlice(self.name, self.keywords, column=self.column or TEXT)
        if self.regex is not None:
            return RegexSlice(self.name, self.regex, column=self.column or TEXT, ignore_case=self.ignore_case)
        assert self.column is not None
        if self.value is not None or self.values is not None:
            return ValueSlice(self.name, self.column, self.value, values=self.values)
        return RangeSlice(self.name, self.column, min=self.min, max=self.max, measure=self.measure)


# --- applying ------------------------------------------------------------------------------------


class SliceMasks(dict[str, NDArray[np.bool_]]):
    """Slice name → numpy boolean mask over the rows; ``errors`` holds the rows where a function raised.

    ``errors[name]`` maps a row index to the error; those rows are False in the mask.
    """

    def __init__(self, masks: Mapping[str, NDArray[np.bool_]], errors: Mapping[str, dict[int, str]],
                 n_rows: int) -> None:
        super().__init__(masks)
        self.errors = {k: dict(v) for k, v in errors.items()}
        self.n_rows = n_rows

    @property
    def error_counts(self) -> dict[str, int]:
        """Rows each slicing function raised on (0 where none)."""
        return {name: len(self.errors.get(name, {})) for name in self}


def _batches(data: Any) -> list[pa.RecordBatch]:
    if isinstance(data, pa.RecordBatch):
        return [data]
    if isinstance(data, pa.Table):
        return data.to_batches(max_chunksize=65_536) or [pa.RecordBatch.from_pylist([], schema=data.schema)]
    to_arrow = getattr(data, "to_arrow", None)  # a polars DataFrame
    if callable(to_arrow):
        return _batches(to_arrow())
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        return _batches(pa.Table.from_pylist(data))
    if isinstance(data, Iterable) and not isinstance(data, str | bytes | Mapping):
        items = list(data)
        if all(isinstance(b, pa.RecordBatch) for b in items):
            return items
    raise ConfigError(f"slices: give a pyarrow Table, RecordBatch or list of batches, a polars DataFrame or a list "
                      f"of dicts, got {type(data).__name__}.")


def _run(data: Any, slices: Iterable[SlicingFunction] | SliceSet) -> tuple[SliceSet, list[pa.RecordBatch],
                                                                            SliceMasks]:
    sliceset = SliceSet.of(slices)
    batches = _batches(data)
    parts: dict[str, list[NDArray[np.bool_]]] = {name: [] for name in sliceset.names}
    errors: dict[str, dict[int, str]] = {name: {} for name in sliceset.names}
    start = 0
    for batch in batches:
        for name, got in sliceset.masks(batch).items():
            parts[name].append(got.mask)
            errors[name].update({start + row: message for row, message in got.errors.items()})
        start += batch.num_rows
    masks = {name: np.concatenate(p) if p else np.zeros(0, dtype=bool) for name, p in parts.items()}
    return sliceset, batches, SliceMasks(masks, errors, start)


def apply_slices(data: Any, slices: Iterable[SlicingFunction] | SliceSet, *,
                 on_error: Literal["warn", "raise"] = "warn") -> SliceMasks:
    """One numpy boolean mask per slice over ``data`` (a Table, batches, a polars frame, dicts).

    Column slices run vectorised. A record function that raises on a row leaves the row out of
    its slice and records the error in ``masks.errors``; with ``on_error="warn"`` (the default)
    a :class:`SliceErrorWarning` says so, with ``"raise"`` it is a
    :class:`~datamill.core.errors.PipelineError`.

    >>> @slicing_function
    ... def loud(text):
    ...     return text.isupper()
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     masks = apply_slices([{"text": "HI"}, {"text": None}], [loud])
    >>> masks["loud"].tolist(), masks.error_counts, len(caught)
    ([True, False], {'loud': 1}, 1)
    """
    _, _, masks = _run(data, slices)
    failed = {name: errs for name, errs in masks.errors.items() if errs}
    if failed:
        errs = next(iter(failed.values()))
        row = min(errs)
        summary = ", ".join(f"{n!r} on {len(e)} row(s)" for n, e in failed.items())
        message = (f"slicing functions raised: {summary}; first: row {row}: {errs[row]}. Those rows are not in "
                   "the slice; see `masks.errors`, and fix the function (return False instead of raising).")
        if on_error == "raise":
            raise PipelineError(message)
        warnings.warn(message, SliceErrorWarning, stacklevel=2)
    return masks


def _slice_columns(batch: pa.RecordBatch, got: Mapping[str, SliceMask], prefix: str) -> pa.RecordBatch:
    out = batch
    for name, result in got.items():
        nulls = np.zeros(len(result.mask), dtype=bool)
        nulls[list(result.errors)] = True
        column = pa.array(result.mask, pa.bool_(), mask=nulls if result.errors else None)
        field = pa.field(prefix + name, pa.bool_())
        index = out.schema.get_field_index(field.name)
        out = out.set_column(index, field, column) if index >= 0 else out.append_column(field, column)
    return out


def slice_table(data: Any, slices: Iterable[SlicingFunction] | SliceSet, *, prefix: str = SLICE_PREFIX) -> pa.Table:
    """``data`` as a Table with one boolean column ``slice:<name>`` per slice.

    One column per slice (rather than a list of slice names per row) keeps every slice a plain
    filter (``pl.col("slice:short")``) and a vectorised sum. A row where the slicing function
    raised holds null: not in the slice, and visibly not "checked and false".

    >>> slice_table(pa.table({"text": ["a b", "a b c d"]}), [RangeSlice("short", "text", max=2, measure="words")])
    pyarrow.Table
    text: string
    slice:short: bool
    ----
    text: [["a b","a b c d"]]
    slice:short: [[true,false]]
    """
    sliceset = SliceSet.of(slices)
    batches = [_slice_columns(b, sliceset.masks(b), prefix) for b in _batches(data)]
    return pa.Table.from_batches(batches)


def _known(values: Any, n: int, what: str) -> tuple[pa.Array, NDArray[np.bool_]]:
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        np.asarray(values) if not isinstance(values, list) else values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) != n:
        raise ConfigError(f"slice_summary: {len(array)} {what} for {n} rows; give one per row.")
    known = np.asarray(pc.is_valid(array).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(array.type):
        known &= np.asarray(pc.not_equal(array, -1).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return array, known


def slice_summary(masks: Mapping[str, Any], labels: Any = None, predictions: Any = None) -> pa.Table:
    """Per slice: size, share of all rows, label distribution and, with predictions, accuracy.

    One row per slice after a first row ``(all)`` for the whole data. Columns: ``slice``,
    ``size``, ``share``, ``errors`` (rows where the function raised); with ``labels``,
    ``labelled`` and one ``label:<class>`` column per class with its share among the slice's
    labelled rows; with ``labels`` and ``predictions`` also ``correct``, ``accuracy`` and
    ``accuracy_delta`` (the slice's accuracy minus the overall one: negative where the model is
    worse). Null, NaN and -1 labels are unknown; accuracy is measured on rows with a gold label,
    and a missing prediction counts as wrong.

    >>> masks = {"short": np.array([True, True, False, False])}
    >>> table = slice_summary(masks, labels=["spam", "ham", "ham", "spam"], predictions=["spam", "spam", "ham", "spam"])
    >>> [(r["slice"], r["size"], r["label:spam"], r["accuracy"]) for r in table.to_pylist()]
    [('(all)', 4, 0.5, 0.75), ('short', 2, 0.5, 0.5)]
    """
    names = list(masks)
    arrays = {name: np.asarray(masks[name], dtype=bool) for name in names}
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) > 1:
        raise ConfigError(f"slice_summary: the masks have different lengths ({sorted(sizes)}); give masks over "
                          "the same rows.")
    n = sizes.pop() if sizes else (len(labels) if labels is not None else 0)
    errors = getattr(masks, "error_counts", {})
    rows: list[dict[str, Any]] = []
    subsets = [("(all)", np.ones(n, dtype=bool), 0)] + [(k, arrays[k], int(errors.get(k, 0))) for k in names]
    for name, mask, failed in subsets:
        size = int(mask.sum())
        rows.append({"slice": name, "size": size, "share": size / n if n else None, "errors": failed})
    columns: dict[str, pa.Array] = {
        "slice": pa.array([r["slice"] for r in rows], pa.string()),
        "size": pa.array([r["size"] for r in rows], pa.int64()),
        "share": pa.array([r["share"] for r in rows], pa.float64()),
        "errors": pa.array([r["errors"] for r in rows], pa.int64()),
    }
    if labels is not None:
        gold, known = _known(labels, n, "labels")
        encoded = pc.dictionary_encode(gold)
        classes = encoded.dictionary
        codes = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        order = np.argsort(np.asarray(classes.to_pylist(), dtype=object).astype(str), kind="stable")
        labelled, shares = [], []
        for _, mask, _ in subsets:
            hit = mask & known
            counts = np.bincount(codes[hit], minlength=len(classes)).astype(np.float64)
            total = int(hit.sum())
            labelled.append(total)
            shares.append(counts / total if total else np.full(len(classes), np.nan))
        columns["labelled"] = pa.array(labelled, pa.int64())
        for j in order:
            value = classes[int(j)].as_py()
            if known[codes == j].any():
                columns[f"label:{value}"] = pa.array([float(s[j]) for s in shares], pa.float64(), from_pandas=True)
        if predictions is not None:
            predicted, _ = _known(predictions, n, "predictions")
            try:
                right = np.asarray(pc.equal(predicted, gold.cast(predicted.type) if gold.type != predicted.type
                                            else gold).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise ConfigError(f"slice_summary: labels ({gold.type}) and predictions ({predicted.type}) cannot "
                                  f"be compared: {err}") from err
            right &= known
            correct = [int((mask & right).sum()) for _, mask, _ in subsets]
            accuracy = [c / t if t else None for c, t in zip(correct, labelled, strict=True)]
            overall = accuracy[0]
            columns["correct"] = pa.array(correct, pa.int64())
            columns["accuracy"] = pa.array(accuracy, pa.float64())
            columns["accuracy_delta"] = pa.array(
                [a - overall if a is not None and overall is not None else None for a in accuracy], pa.float64())
    elif predictions is not None:
        raise ConfigError("slice_summary: accuracy needs the gold `labels` as well as the `predictions`.")
    return pa.table(columns)


# --- the step -----------------------------------------------------------------------------------


class LabelSlicesConfig(StepConfig):
    file: str | None = Field(None, description="A Python file defining slicing functions (relative to the "
                             "pipeline file).")
    slices: list[SliceSpec] = Field(default_factory=list, description="Column slices written inline.")
    prefix: str = Field(SLICE_PREFIX, min_length=1, description="Slice columns are named <prefix><slice name>.")
    on_error: Literal["keep", "quarantine"] = Field("keep", description="A row a slicing function raised on: "
                                                    "kept with null in that slice's column, or quarantined.")

    @model_validator(mode="after")
    def _some(self) -> LabelSlicesConfig:
        if self.file is None and not self.slices:
            raise ValueError("give slicing functions: a Python file (`file:`) and/or inline `slices:`.")
        return self


@register("label.slices")
class LabelSlices(Transform[LabelSlicesConfig]):
    """Add one boolean column ``slice:<name>`` per slicing function.

    A row a slicing function raised on is kept with null in that column (``on_error: keep``) or goes to
    quarantine with reason ``slice_error`` and the error (``on_error: quarantine``). Metrics:
    ``slice.<name>`` (rows in the slice) and ``errors.<name>`` (rows it raised on).

    >>> LabelSlices(slices=[{"name": "short", "column": "text", "max": 3, "measure": "words"}]).config.prefix
    'slice:'
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        found: list[SlicingFunction] = []
        sha256 = None
        if self.config.file is not None:
            path = Path(self.config.file).expanduser()
            loaded = load_slices(path if path.is_absolute() else base_dir() / path)
            found.extend(loaded.slices)
            sha256 = loaded.sha256
        found.extend(spec.build() for spec in self.config.slices)
        self._slices = SliceSet.of(found, sha256=sha256, where=f"step {self.label!r}")

    def code_hashes(self) -> list[str]:
        """The slice file's sha256: editing a slicing function re-runs the step."""
        return [self._slices.sha256] if self._slices.sha256 else []

    def output_schema(self, input_schemas: list[pa.Schema]) -> pa.Schema | None:
        """The input's columns plus one boolean column per slice."""
        if not input_schemas:
            return None
        schema = input_schemas[0]
        for name in self._slices.names:
            field = pa.field(self.config.prefix + name, pa.bool_())
            index = schema.get_field_index(field.name)
            schema = schema.set(index, field) if index >= 0 else schema.append(field)
        return schema

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Compute every slice on the batch."""
        got = self._slices.masks(batch)
        out = _slice_columns(batch, got, self.config.prefix)
        failed = np.zeros(batch.num_rows, dtype=bool)
        messages: list[list[str]] = [[] for _ in range(batch.num_rows)]
        for name, result in got.items():
            ctx.metric(f"slice.{name}", float(result.mask.sum()))
            ctx.metric(f"errors.{name}", float(len(result.errors)))
            for row, message in result.errors.items():
                failed[row] = True
                messages[row].append(message)
        if self.config.on_error == "keep" or not failed.any():
            return out
        return Outcome(out, original=batch).quarantine(failed, reason=SLICE_ERROR,
                                                       error=["; ".join(m) for m in messages])
