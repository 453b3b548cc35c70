"""Labelling functions: sources that vote a class on a record, or abstain.

A labelling function (LF) returns a class for an item, or abstains. Two kinds exist:

- **Row LFs**, written with :func:`labeling_function` over one record (a dict), for any rule
  Python can say. An exception inside one is the row's fault, not an abstain: applied as the
  ``label.apply`` step, the row goes to quarantine (reason ``lf_error``) with the LF's name and
  the error.
- **Column LFs**, which vote on a whole batch at once with Arrow or polars kernels:
  :class:`KeywordLF`, :class:`RegexLF`, :class:`ExprLF` (any polars expression),
  :class:`LengthLF`, :class:`UrlLF`, :class:`ColumnLF` (a label another source already wrote),
  :class:`ModelLF` (any scikit-learn-style model with ``predict_proba``) and
  :class:`SimilarityLF` (embedding similarity to example texts). They are tens to hundreds of
  times faster than a Python loop over rows.

Votes are class indices ``0..k-1`` or class names from a label schema (``labels=("ham", "spam")``);
``None`` — or :data:`~datamill.label.ABSTAIN` (-1) — abstains. A null text makes a text LF abstain.

>>> lfs = [
...     KeywordLF("says_subscribe", ["subscribe", "sub4sub"], label="spam"),
...     RegexLF("check_out", r"check.*out", label="spam", ignore_case=True),
...     LengthLF("short", label="ham", max_words=4),
... ]
>>> import pyarrow as pa
>>> batch = pa.record_batch({"text": ["Please SUBSCRIBE!", "check this out", "nice song", None]})
>>> [lf.vote(batch, labels=("ham", "spam")).votes.tolist() for lf in lfs]
[[1, -1, -1, -1], [-1, 1, -1, -1], [0, 0, 0, -1]]
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from datamill.core.columns import TEXT
from datamill.core.errors import ConfigError, DatamillError, NotFoundError, SchemaError
from datamill.label.matrix import ABSTAIN
from datamill.pipeline.outcome import rows_of

__all__ = [
    "ColumnLF",
    "ExprLF",
    "KeywordLF",
    "LFVotes",
    "LabelingFunction",
    "LengthLF",
    "ModelLF",
    "PythonLF",
    "Record",
    "RegexLF",
    "SimilarityLF",
    "UrlLF",
    "labeling_function",
]

# Parameters that receive the whole record in a row LF; any other parameter names a column.
_RECORD_PARAMS = ("x", "record", "row")
_URL = r"(?i)(?:\bhttps?://|\bwww\.)\S"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


class Record(dict[str, Any]):
    """One row as a dict whose keys also read as attributes: ``x["text"]`` or ``x.text``.

    Attribute access lets a Snorkel LF written as ``x.text`` run unchanged.

    >>> Record({"text": "hi"}).text
    'hi'
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the record has no column {name!r}; it has {', '.join(self) or 'none'}") from None


@dataclass(frozen=True)
class LFVotes:
    """One LF's votes on a batch: a class index per row (-1 = abstain) and the rows that failed.

    Attributes:
        votes: ``(rows,)`` int16 class indices, :data:`ABSTAIN` where the LF abstained or failed.
        errors: row index → error message, for rows where the LF raised or returned no class.
    """

    votes: NDArray[np.int16]
    errors: dict[int, str] = field(default_factory=dict)


class BatchView:
    """A batch as labelling (or slicing) functions read it: columns checked and repaired once,
    records built once. ``what`` names the kind of function in errors."""

    def __init__(self, batch: pa.RecordBatch, what: str = "labelling function") -> None:
        self.batch = batch
        self.what = what
        self._columns: dict[str, pa.Array] = {}
        self._records: list[Record] | None = None
        self._frame: Any = None

    @property
    def num_rows(self) -> int:
        return int(self.batch.num_rows)

    def column(self, name: str, lf: str) -> pa.Array:
        if name not in self._columns:
            if name not in self.batch.schema.names:
                raise SchemaError(f"{self.what} {lf!r} reads the column `{name}`, which the input lacks; "
                                  f"it has {', '.join(self.batch.schema.names) or 'no columns'}. Point it at "
                                  "another column with `column=`.")
            array = self.batch.column(name)
            if pa.types.is_string_view(array.type) or pa.types.is_null(array.type):
                array = array.cast(pa.string())
            if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
                array = _valid_utf8(array)
            self._columns[name] = array
        return self._columns[name]

    def text(self, name: str, lf: str) -> pa.Array:
        array = self.column(name, lf)
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            raise SchemaError(f"{self.what} {lf!r} needs `{name}` to hold text; it holds {array.type}. "
                              "Point it at a text column with `column=`.")
        return array

    def records(self) -> list[Record]:
        if self._records is None:
            self._records = [Record(row) for row in rows_of(self.batch)]
        return self._records

    def frame(self) -> Any:
        if self._frame is None:
            import polars as pl

            columns = {name: self.column(name, "polars") for name in self.batch.schema.names}
            self._frame = pl.from_arrow(pa.table(columns))
        return self._frame


def _valid_utf8(array: pa.Array) -> pa.Array:
    """``array`` with invalid UTF-8 read as U+FFFD, so kernels and Python both accept it."""
    try:
        array.validate(full=True)
        return array
    except pa.ArrowInvalid:
        binary = pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary()
        raw = array.view(binary).to_pylist()
        return pa.array([None if v is None else v.decode("utf-8", "replace") for v in raw], array.type)


def _class_index(value: Any, labels: Sequence[str] | None, lf: str) -> int:
    """A vote as a class index: ints as they are, class names through ``labels``; -1 abstains."""
    if value is None:
        return ABSTAIN
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"labelling function {lf!r} returned {value!r}; return a class "
                         f"({_schema_hint(labels)}) or None to abstain")
    if isinstance(value, int | np.integer):
        index = int(value)
        if index == ABSTAIN:
            return ABSTAIN
        if index < 0 or (labels is not None and index >= len(labels)):
            raise ValueError(f"labelling function {lf!r} returned {index}, which is not a class "
                             f"({_schema_hint(labels)})")
        return index
    if isinstance(value, str):
        if labels is None:
            raise ValueError(f"labelling function {lf!r} returned the class name {value!r}, but no class names "
                             "are known; give the LF `labels=(...)`, or define LABELS in the LF file")
        try:
            return list(labels).index(value)
        except ValueError:
            raise ValueError(f"labelling function {lf!r} returned {value!r}, which is not a class "
                             f"({_schema_hint(labels)})") from None
    raise ValueError(f"labelling function {lf!r} returned a {type(value).__name__} ({value!r}); return a class "
                     f"({_schema_hint(labels)}) or None to abstain")


def _schema_hint(labels: Sequence[str] | None) -> str:
    if labels is None:
        return "an index from 0"
    return ", ".join(f"{i} or {name!r}" for i, name in enumerate(labels))


def _checked_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{what}: an LF name is a word (letters, digits, _ . -), got {name!r}.")
    return name


class LabelingFunction:
    """Base of every labelling function: a ``name`` and a ``vote`` over a batch.

    Subclasses implement ``_batch_votes(view, labels)``, returning one class index per row
    (-1 to abstain). When it raises on a whole batch, ``vote`` runs it row by row to find the
    rows at fault, so one bad row never costs the batch.
    """

    kind: ClassVar[str] = "lf"

    def __init__(self, name: str, *, labels: Sequence[str] | None = None) -> None:
        self.name = _checked_name(name, type(self).__name__)
        self.labels = tuple(labels) if labels is not None else None

    def vote(self, batch: pa.RecordBatch, labels: Sequence[str] | None = None) -> LFVotes:
        """The LF's votes on every row of ``batch``; ``labels`` maps class names to indices.

        ``labels`` defaults to the LF's own ``labels``.
        """
        return self._vote(BatchView(batch), self._schema(labels))

    def _schema(self, labels: Sequence[str] | None) -> tuple[str, ...] | None:
        if labels is not None and self.labels is not None and tuple(labels) != self.labels:
            raise ConfigError(f"labelling function {self.name!r} was written for the classes {list(self.labels)}, "
                              f"but the label schema is {list(labels)}; use one schema for every LF.")
        return tuple(labels) if labels is not None else self.labels

    def _vote(self, view: BatchView, labels: tuple[str, ...] | None) -> LFVotes:
        try:
            votes = self._batch_votes(view, labels)
        except DatamillError:
            raise
        except Exception:  # a fault in one row fails a whole-batch kernel: find the row
            return self._row_by_row(view, labels)
        return LFVotes(np.asarray(votes, dtype=np.int16))

    def _row_by_row(self, view: BatchView, labels: tuple[str, ...] | None) -> LFVotes:
        votes = np.full(view.num_rows, ABSTAIN, dtype=np.int16)
        errors: dict[int, str] = {}
        for row in range(view.num_rows):
            try:
                votes[row] = self._batch_votes(BatchView(view.batch.slice(row, 1)), labels)[0]
            except DatamillError:
                raise
            except Exception as err:  # the LF's own code: the row is quarantined with the error
                errors[row] = f"{self.name}: {type(err).__name__}: {err}"
        return LFVotes(votes, errors)

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        raise NotImplementedError

    def _label(self, label: int | str, labels: tuple[str, ...] | None) -> int:
        try:
            index = _class_index(label, labels, self.name)
        except ValueError as err:
            raise ConfigError(str(err).replace("returned", "votes")) from err
        if index == ABSTAIN:
            raise ConfigError(f"labelling function {self.name!r}: `label` must be a class, not an abstain.")
        return index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class RecordCall:
    """What a Python labelling or slicing function receives, read once from its signature.

    One parameter named ``x``, ``record`` or ``row`` gets the whole record; any other name gets
    that column's value; names in ``resources`` get those objects.
    """

    name: str
    fn: Callable[..., Any]
    resources: dict[str, Any]
    columns: tuple[str, ...]
    _record_param: str | None

    def _bind(self, fn: Callable[..., Any], resources: Mapping[str, Any] | None, what: str) -> None:
        self.fn = fn
        self.resources = dict(resources or {})
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.POSITIONAL_ONLY)]
        missing = [n for n in self.resources if n not in params]
        if missing:
            raise ConfigError(f"{what} {self.name!r} has no parameter for the resource(s) "
                              f"{', '.join(map(repr, missing))}; add them to its signature.")
        inputs = [p for p in params if p not in self.resources]
        if not inputs:
            raise ConfigError(f"{what} {self.name!r} takes no record; give it a parameter `x` "
                              "(the whole record) or parameters named after columns.")
        self._record_param = inputs[0] if len(inputs) == 1 and inputs[0] in _RECORD_PARAMS else None
        self.columns = () if self._record_param else tuple(inputs)

    def __call__(self, record: Mapping[str, Any]) -> Any:
        """Run the function on one record (a dict), returning what it returns."""
        if self._record_param is not None:
            return self.fn(**{self._record_param: Record(record)}, **self.resources)
        return self.fn(**{c: record.get(c) for c in self.columns}, **self.resources)


class PythonLF(RecordCall, LabelingFunction):
    """A row LF: a Python function of one record, made by :func:`labeling_function`.

    The function's parameters say what it receives: one named ``x``, ``record`` or ``row``
    gets the whole record (a :class:`Record`: ``x["text"]`` or ``x.text``); any other name
    gets that column's value; names in ``resources`` get those objects. Calling the LF on a
    dict runs the function as written, which is how to unit-test it.
    """

    kind: ClassVar[str] = "python"

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None, labels: Sequence[str] | None = None,
                 resources: Mapping[str, Any] | None = None) -> None:
        super().__init__(name or fn.__name__, labels=labels)
        self._bind(fn, resources, "labelling function")

    def _vote(self, view: BatchView, labels: tuple[str, ...] | None) -> LFVotes:
        votes = np.full(view.num_rows, ABSTAIN, dtype=np.int16)
        errors: dict[int, str] = {}
        fn, resources = self.fn, self.resources
        if self._record_param is not None:
            key = self._record_param
            calls: Any = ({key: record} for record in view.records())
        else:
            values = [view.column(c, self.name).to_pylist() for c in self.columns]
            calls = (dict(zip(self.columns, row, strict=True)) for row in zip(*values, strict=True))
        for row, kwargs in enumerate(calls):
            try:
                votes[row] = _class_index(fn(**kwargs, **resources), labels, self.name)
            except Exception as err:  # the user's code: quarantine the row, never abstain
                errors[row] = f"{self.name}: {type(err).__name__}: {err}"
        return LFVotes(votes, errors)


def labeling_function(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    labels: Sequence[str] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Any:
    """Make a row LF from a function of a record; works with and without parentheses.

    The function returns a class index, a class name from ``labels``, or ``None`` (or -1) to
    abstain. ``resources`` are passed as keyword arguments (word lists, a loaded model), as in
    Snorkel. Raising is not abstaining: the row is quarantined with the error.

    >>> @labeling_function(labels=("ham", "spam"))
    ... def says_free_money(text):
    ...     return "spam" if "free money" in text.lower() else None
    >>> says_free_money({"text": "FREE MONEY now"})
    'spam'
    >>> import pyarrow as pa
    >>> says_free_money.vote(pa.record_batch({"text": ["free money", "hello", None]})).errors
    {2: "says_free_money: AttributeError: 'NoneType' object has no attribute 'lower'"}
    """

    def wrap(func: Callable[..., Any]) -> PythonLF:
        return PythonLF(func, name=name, labels=labels, resources=resources)

    return wrap(fn) if fn is not None else wrap


class _TextLF(LabelingFunction):
    """An LF voting ``label`` where a boolean test of a text column holds."""

    def __init__(self, name: str, label: int | str, *, column: str = TEXT,
                 labels: Sequence[str] | None = None) -> None:
        super().__init__(name, labels=labels)
        self.label = label
        self.column = column
        if self.labels is not None:
            self._label(label, self.labels)  # a name outside the schema fails now, not on the first batch

    def _test(self, texts: pa.Array) -> pa.Array:
        raise NotImplementedError

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        index = self._label(self.label, labels)
        hit = pc.fill_null(self._test(view.text(self.column, self.name)), False)
        mask = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        return np.where(mask, index, ABSTAIN).astype(np.int16)


def keyword_pattern(keywords: Sequence[str], whole_words: bool = True) -> str:
    """An RE2 pattern matching any of ``keywords`` (as whole words: not inside a longer word).

    RE2's ``\\b`` knows only ASCII letters, so "ab" would match inside "abé": a word edge here is
    the start, the end, or any character that is not a letter, digit or underscore in Unicode.

    >>> bool(pc.match_substring_regex(pa.array(["ABé"]), keyword_pattern(["ab"]), ignore_case=True)[0])
    False
    """
    words = "|".join(re.escape(k) for k in keywords)
    return rf"(?:^|[^\pL\pN_])(?:{words})(?:[^\pL\pN_]|$)" if whole_words else f"(?:{words})"


class KeywordLF(_TextLF):
    """Vote ``label`` when the text contains any of ``keywords``, ignoring case.

    With ``whole_words`` (the default) a keyword matches only as a whole word (``my`` does not
    match "mystery"); ``whole_words=False`` matches anywhere, like Python's ``in``.

    >>> lf = KeywordLF("mentions_song", ["song", "lyrics"], label=0)
    >>> lf.vote(pa.record_batch({"text": ["Great SONG", "songbird", "lyrics?"]})).votes.tolist()
    [0, -1, 0]
    """

    def __init__(self, name: str, keywords: Sequence[str], label: int | str, *, column: str = TEXT,
                 whole_words: bool = True, labels: Sequence[str] | None = None) -> None:
        super().__init__(name, label, column=column, labels=labels)
        if isinstance(keywords, str) or not keywords or not all(isinstance(k, str) and k for k in keywords):
            raise ConfigError(f"KeywordLF {name!r}: `keywords` must be a non-empty list of words, got {keywords!r}.")
        self.keywords = tuple(keywords)
        self.whole_words = whole_words
        self._pattern = keyword_pattern(self.keywords, whole_words)

    def _test(self, texts: pa.Array) -> pa.Array:
        return pc.match_substring_regex(texts, self._pattern, ignore_case=True)


class RegexLF(_TextLF):
    """Vote ``label`` when the text matches ``pattern`` (RE2 syntax, searched anywhere).

    >>> lf = RegexLF("check_out", r"check.*out", label=1, ignore_case=True)
    >>> lf.vote(pa.record_batch({"text": ["Check me out", "checkers"]})).votes.tolist()
    [1, -1]
    """

    def __init__(self, name: str, pattern: str, label: int | str, *, column: str = TEXT, ignore_case: bool = False,
                 labels: Sequence[str] | None = None) -> None:
        super().__init__(name, label, column=column, labels=labels)
        try:
            pc.match_substring_regex(pa.array([""]), pattern)
        except pa.ArrowInvalid as err:
            raise ConfigError(f"RegexLF {name!r}: `pattern` {pattern!r} is not a valid RE2 expression: {err}") from err
        self.pattern = pattern
        self.ignore_case = ignore_case

    def _test(self, texts: pa.Array) -> pa.Array:
        return pc.match_substring_regex(texts, self.pattern, ignore_case=self.ignore_case)


class UrlLF(_TextLF):
    """Vote ``label`` when the text holds a link (``http://``, ``https://`` or ``www.``).

    >>> UrlLF("has_link", label=1).vote(pa.record_batch({"text": ["see www.x.com", "no"]})).votes.tolist()
    [1, -1]
    """

    def _test(self, texts: pa.Array) -> pa.Array:
        return pc.match_substring_regex(texts, _URL)


class LengthLF(_TextLF):
    """Vote ``label`` when the text's length lies within the given bounds (inclusive).

    Words are runs of non-white-space (Python's ``len(text.split())``); characters are code
    points. Give at least one bound.

    >>> lf = LengthLF("short", label=0, max_words=4)
    >>> lf.vote(pa.record_batch({"text": ["so cute", "one two three four five", ""]})).votes.tolist()
    [0, -1, 0]
    """

    def __init__(self, name: str, label: int | str, *, column: str = TEXT, min_words: int | None = None,
                 max_words: int | None = None, min_chars: int | None = None, max_chars: int | None = None,
                 labels: Sequence[str] | None = None) -> None:
        super().__init__(name, label, column=column, labels=labels)
        bounds = {"min_words": min_words, "max_words": max_words, "min_chars": min_chars, "max_chars": max_chars}
        if all(v is None for v in bounds.values()):
            raise ConfigError(f"LengthLF {name!r}: give at least one of min_words, max_words, min_chars, max_chars.")
        for key, value in bounds.items():
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ConfigError(f"LengthLF {name!r}: `{key}` must be a whole number >= 0, got {value!r}.")
        self.bounds = bounds

    def _test(self, texts: pa.Array) -> pa.Array:
        ok = pc.is_valid(texts)
        b = self.bounds
        if b["min_words"] is not None or b["max_words"] is not None:
            ok = _within(ok, _word_counts(texts), b["min_words"], b["max_words"])
        if b["min_chars"] is not None or b["max_chars"] is not None:
            ok = _within(ok, pc.utf8_length(texts), b["min_chars"], b["max_chars"])
        return ok


def _word_counts(texts: pa.Array) -> pa.Array:
    """Words per text as Python's ``len(text.split())`` counts them (null for null text).

    ``utf8_split_whitespace`` keeps empty pieces where a text starts or ends with white space.
    """
    pieces = pc.utf8_split_whitespace(texts)
    lengths = pc.utf8_length(pc.list_flatten(pieces))
    nonempty = pc.cast(pc.greater(lengths, 0), pa.int64())
    parents = pc.list_parent_indices(pieces)
    counts = np.bincount(np.asarray(parents), weights=np.asarray(nonempty), minlength=len(texts)).astype(np.int64)
    return pa.array(counts, mask=np.asarray(pc.is_null(texts).to_numpy(zero_copy_only=False), dtype=bool))


def _within(ok: pa.Array, values: pa.Array, low: int | None, high: int | None) -> pa.Array:
    if low is not None:
        ok = pc.and_(ok, pc.greater_equal(values, low))
    if high is not None:
        ok = pc.and_(ok, pc.less_equal(values, high))
    return ok


class ExprLF(LabelingFunction):
    """Votes from a polars expression evaluated on the whole batch.

    A boolean expression votes ``label`` where it is true; any other expression's values are
    the votes themselves (class indices or names; null abstains).

    >>> import polars as pl
    >>> lf = ExprLF("many_caps", pl.col("text").str.count_matches("[A-Z]") > 5, label=1)
    >>> lf.vote(pa.record_batch({"text": ["BUY NOW CHEAP", "hello"]})).votes.tolist()
    [1, -1]
    """

    kind: ClassVar[str] = "expr"

    def __init__(self, name: str, expr: Any, label: int | str | None = None, *,
                 labels: Sequence[str] | None = None) -> None:
        super().__init__(name, labels=labels)
        import polars as pl

        if not isinstance(expr, pl.Expr):
            raise ConfigError(f"ExprLF {name!r}: `expr` must be a polars expression, got {type(expr).__name__}.")
        self.expr = expr
        self.label = label

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        import polars as pl

        try:
            series = view.frame().select(self.expr.alias("vote")).to_series()
        except pl.exceptions.ColumnNotFoundError as err:
            raise SchemaError(f"labelling function {self.name!r}: {err}; the input has "
                              f"{', '.join(view.batch.schema.names)}.") from err
        if len(series) != view.num_rows:
            raise ConfigError(f"ExprLF {self.name!r}: the expression gave {len(series)} values for "
                              f"{view.num_rows} rows; it must give one per row (no aggregation).")
        if series.dtype == pl.Boolean:
            if self.label is None:
                raise ConfigError(f"ExprLF {self.name!r}: a boolean expression needs `label=`, the class it votes.")
            index = self._label(self.label, labels)
            mask = series.fill_null(False).to_numpy()
            return np.where(mask, index, ABSTAIN).astype(np.int16)
        return _values_as_votes(series.to_list(), labels, self.name)


def _values_as_votes(values: list[Any], labels: tuple[str, ...] | None, lf: str) -> NDArray[np.int16]:
    cache: dict[Any, int] = {}
    out = np.empty(len(values), dtype=np.int16)
    for i, value in enumerate(values):
        if value not in cache:
            cache[value] = _class_index(value, labels, lf)
        out[i] = cache[value]
    return out


class ColumnLF(LabelingFunction):
    """Votes already in a column: another model's predictions, a rater's labels, a tag.

    Values are class indices or names (``mapping`` translates others, e.g. ``{"yes": "spam"}``);
    null and -1 abstain. A value that is no class quarantines its row.

    >>> lf = ColumnLF("old_model", "pred", mapping={"junk": "spam", "ok": "ham"})
    >>> lf.vote(pa.record_batch({"pred": ["junk", None, "ok"]}), labels=("ham", "spam")).votes.tolist()
    [1, -1, 0]
    """

    kind: ClassVar[str] = "column"

    def __init__(self, name: str, column: str, *, mapping: Mapping[Any, int | str | None] | None = None,
                 labels: Sequence[str] | None = None) -> None:
        super().__init__(name, labels=labels)
        self.column = column
        self.mapping = dict(mapping) if mapping is not None else None

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        values = view.column(self.column, self.name).to_pylist()
        if self.mapping is not None:
            values = [self.mapping.get(v, v) if v is not None else None for v in values]
        return _values_as_votes(values, labels, self.name)


class ModelLF(LabelingFunction):
    """Votes of any model with ``predict_proba`` (scikit-learn style), where it is confident.

    The model gets the column's values (a list of texts), or ``featurize(values)`` when given.
    It votes its most probable class when that probability is at least ``threshold``, else
    abstains. Its classes are ``model.classes_`` (indices or names) when it has them, else the
    columns of ``predict_proba`` in order. A null value abstains.
    """

    kind: ClassVar[str] = "model"

    def __init__(self, name: str, model: Any, *, column: str = TEXT, threshold: float = 0.5,
                 featurize: Callable[[list[Any]], Any] | None = None, labels: Sequence[str] | None = None) -> None:
        super().__init__(name, labels=labels)
        if not callable(getattr(model, "predict_proba", None)):
            raise ConfigError(f"ModelLF {name!r}: the model has no `predict_proba`; give a fitted classifier "
                              "(e.g. a scikit-learn Pipeline of TfidfVectorizer and LogisticRegression).")
        if not 0 <= threshold <= 1:
            raise ConfigError(f"ModelLF {name!r}: `threshold` is a probability in 0..1, got {threshold!r}.")
        self.model = model
        self.column = column
        self.threshold = threshold
        self.featurize = featurize

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        array = view.column(self.column, self.name)
        values = array.to_pylist()
        present = [i for i, v in enumerate(values) if v is not None]
        votes = np.full(len(values), ABSTAIN, dtype=np.int16)
        if not present:
            return votes
        inputs = [values[i] for i in present]
        probs = np.asarray(self.model.predict_proba(self.featurize(inputs) if self.featurize else inputs))
        if probs.ndim != 2 or probs.shape[0] != len(present):
            raise ConfigError(f"ModelLF {self.name!r}: predict_proba returned shape {probs.shape} for "
                              f"{len(present)} inputs; it must return one row of class probabilities per input.")
        classes = list(getattr(self.model, "classes_", range(probs.shape[1])))
        index = np.array([_class_index(c.item() if isinstance(c, np.generic) else c, labels, self.name)
                          for c in classes], dtype=np.int16)
        best = probs.argmax(axis=1)
        sure = probs[np.arange(len(present)), best] >= self.threshold
        votes[np.asarray(present)[sure]] = index[best[sure]]
        return votes


class SimilarityLF(LabelingFunction):
    """Vote the class whose example texts are most similar to the text, when similar enough.

    ``embed(texts) -> array (n, d)`` is any sentence-embedding function. Each class's examples
    are embedded once; a text votes the class with the highest cosine similarity to the mean of
    its examples, when that similarity is at least ``min_similarity``.
    """

    kind: ClassVar[str] = "similarity"

    def __init__(self, name: str, embed: Callable[[list[str]], Any], examples: Mapping[int | str, Sequence[str]], *,
                 column: str = TEXT, min_similarity: float = 0.5, labels: Sequence[str] | None = None) -> None:
        super().__init__(name, labels=labels)
        if not examples or not all(examples.values()):
            raise ConfigError(f"SimilarityLF {name!r}: `examples` must give at least one text for each class.")
        self.embed = embed
        self.examples = {k: list(v) for k, v in examples.items()}
        self.column = column
        self.min_similarity = min_similarity
        self._centroids: NDArray[np.float64] | None = None

    def _unit(self, texts: list[str]) -> NDArray[np.float64]:
        vectors = np.asarray(self.embed(texts), dtype=np.float64)
        unit: NDArray[np.float64] = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return unit

    def _batch_votes(self, view: BatchView, labels: tuple[str, ...] | None) -> NDArray[np.int16]:
        classes = np.array([_class_index(c, labels, self.name) for c in self.examples], dtype=np.int16)
        if self._centroids is None:
            self._centroids = np.stack([self._unit(texts).mean(axis=0) for texts in self.examples.values()])
            self._centroids /= np.maximum(np.linalg.norm(self._centroids, axis=1, keepdims=True), 1e-12)
        values = view.text(self.column, self.name).to_pylist()
        present = [i for i, v in enumerate(values) if v is not None]
        votes = np.full(len(values), ABSTAIN, dtype=np.int16)
        if present:
            sims = self._unit([values[i] for i in present]) @ self._centroids.T
            best = sims.argmax(axis=1)
            close = sims[np.arange(len(present)), best] >= self.min_similarity
            votes[np.asarray(present)[close]] = classes[best[close]]
        return votes


def functions_in_file(path: str | Path, kind: type, list_name: str, what: str, hint: str) -> tuple[Any, list[Any]]:
    """The module of a user's Python file and the ``kind`` objects it defines: the list named
    ``list_name`` if the file has one, else every such object at top level (clear errors otherwise).

    The file is imported once per content (``module.__datamill_code_hash__`` is its sha256).
    """
    from datamill.pipeline.registry import load_user_file

    file = Path(path)
    if not file.is_file():
        raise NotFoundError(f"{what} file {str(file)!r} does not exist; give the path of a .py file defining "
                            f"{what}s (relative to the pipeline file).")
    module = load_user_file(file.resolve())
    found = module.__dict__.get(list_name)
    if found is None:
        found = [v for v in vars(module).values() if isinstance(v, kind)]
    elif isinstance(found, kind) or not isinstance(found, list | tuple):
        raise ConfigError(f"{str(file)!r}: `{list_name}` must be a list of {what}s, got {type(found).__name__}.")
    if not found:
        raise ConfigError(f"{str(file)!r} defines no {what}; {hint}")
    return module, list(found)
