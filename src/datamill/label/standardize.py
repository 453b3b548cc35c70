"""Label standardisation: one spelling per class, merges, and an explicit uncertain class.

Raters and old datasets spell one class many ways ("Umm", "umm ", "UMM"), split classes the task
no longer needs ("deep scratch", "shallow scratch") and invent labels of their own. A
:class:`LabelSchema` says what the classes are and how to get there:

- ``classes``: the class names (with a description and examples, for raters and for docs);
- ``uncertain``: the explicit uncertain/borderline class, when the task has one;
- ``merges``: ``{target: [sources…]}``, e.g. ``{"scratch": ["deep scratch", "shallow scratch"]}``;
- ``normalise``: Unicode NFKC, white-space and control-character trimming, optional punctuation
  trimming, case folding (used to *match*: the output is always the schema's own spelling),
  exact ``mappings`` and regular-expression ``rewrites`` such as ``^u+m+$`` → ``Um``;
- ``unknown``: what happens to a label that is none of these: ``quarantine`` (the default),
  ``uncertain`` (map it to the uncertain class), ``keep`` (leave it as it is) or ``drop``.

:func:`standardize_labels` works on the distinct labels of a column (a dictionary mapping: the
cost is per distinct label, not per row), on a string column or on a list<string> column (one
label per rater), and keeps nulls null. :func:`label_changes` tables what changed. The
``label.standardize`` step does it in a pipeline and reports every change in its metrics.

>>> schema = LabelSchema.parse({
...     "classes": ["Um", "scratch", "ok"], "uncertain": "unsure",
...     "merges": {"scratch": ["deep scratch", "shallow scratch"]},
...     "normalise": {"rewrites": [{"pattern": "^u+m+$", "to": "Um"}]},
...     "unknown": "uncertain"})
>>> values, changes = standardize_labels(pa.array(["Umm", "umm ", "Deep Scratch", "OK", "what?", None]), schema)
>>> values.to_pylist()
['Um', 'Um', 'scratch', 'ok', 'unsure', None]
>>> changes.to_pylist()[0]
{'from': 'Deep Scratch', 'to': 'scratch', 'rule': 'merge', 'count': 1}
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, base_dir, register

__all__ = [
    "LabelClass",
    "LabelSchema",
    "LabelStandardize",
    "LabelStandardizeConfig",
    "Normalise",
    "Rewrite",
    "UnknownPolicy",
    "label_changes",
    "standardize_labels",
]

UnknownPolicy = Literal["quarantine", "uncertain", "keep", "drop"]
UNKNOWN_LABEL = "unknown_label"
INVALID_LABEL = "invalid_label"
CHANGES_SCHEMA = pa.schema([pa.field("from", pa.string()), pa.field("to", pa.string()),
                            pa.field("rule", pa.string()), pa.field("count", pa.int64())])
# Unicode "other" categories a label never means: controls, format characters (zero-width
# space, BOM), surrogates, private use and unassigned code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_SPACES = re.compile(r"\s+")
_SHOWN_CHARS = 80


def _shown(label: str | None) -> str:
    """A label as an error message or metric shows it: escaped, and cut when long."""
    if label is None:
        return "null"
    text = repr(label)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 12] + f"…[{len(label)} chars]"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LabelClass(_Frozen):
    """One class: its name, what it means, and example items (for raters and the docs)."""

    name: str = Field(min_length=1, description="The class name, as standardised labels spell it.")
    description: str = Field("", description="What the class means, for raters.")
    examples: list[str] = Field(default_factory=list, description="Example items of the class.")


class Rewrite(_Frozen):
    """A regular-expression rewrite (Python ``re``), e.g. ``^u+m+$`` → ``Um``.

    Applied with ``re.sub`` to the normalised label; ignores case when the schema folds case.
    """

    pattern: str = Field(min_length=1, description="A Python regular expression.")
    to: str = Field(description="The replacement (``\\1`` refers to a group).")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"{value!r} is not a valid regular expression: {err}") from err
        return value


class Normalise(_Frozen):
    """Text normalisations applied to every label before it is matched to a class."""

    unicode: Literal["NFKC", "NFC", "none"] = Field("NFKC", description="Unicode normal form (full-width "
                                                    "letters and ligatures become plain ones under NFKC).")
    whitespace: bool = Field(True, description="Trim white space at both ends, collapse runs to one space and "
                             "remove control and zero-width characters.")
    punctuation: bool = Field(False, description="Trim punctuation at both ends (\"spam!\" → \"spam\").")
    case_fold: bool = Field(True, description="Match labels to classes ignoring case (the output keeps the "
                            "schema's spelling).")
    mappings: dict[str, str] = Field(default_factory=dict, description="Exact rewrites: label → label.")
    rewrites: list[Rewrite] = Field(default_factory=list, description="Regex rewrites, applied in order.")


@dataclass(frozen=True)
class _Resolved:
    output: str | None
    rule: str  # "+"-joined rules that changed the label; "" when unchanged
    unknown: bool  # the label is no class (whatever the policy did with it)
    matched: str = ""  # the text the rules made, as matched against the classes


class _Resolver:
    """The schema compiled: label → (standard label, rule), with the checks that make it sound."""

    def __init__(self, schema: LabelSchema) -> None:
        norm = schema.normalise
        self.norm = norm
        flags = re.IGNORECASE if norm.case_fold else 0
        self.rewrites = [(re.compile(r.pattern, flags), r.to) for r in norm.rewrites]
        self.policy = schema.unknown
        self.uncertain = schema.uncertain
        self.classes: dict[str, str] = {}
        names = [c.name for c in schema.classes]
        if schema.uncertain is not None and schema.uncertain not in names:
            names.append(schema.uncertain)
        for name in names:
            key = self.key(name)
            if not key:
                raise ValueError(f"class {_shown(name)} is empty once normalised; give it a name.")
            if key in self.classes:
                raise ValueError(f"classes {_shown(self.classes[key])} and {_shown(name)} are the same class once "
                                 "normalised (case, white space, Unicode); keep one and merge the other into it.")
            self.classes[key] = name
        self.mappings = {self.key(k): v for k, v in norm.mappings.items()}
        self.merges = self._merges(schema.merges)
        # A label the schema already standardised must stand still on a second pass.
        outputs = [n for n in names if self.key(n) not in self.merges]
        for name in outputs:
            got = self.resolve(name)
            if got.output != name:
                made = f"{got.rule.removesuffix('unknown').rstrip('+') or 'normalising'} makes it {_shown(got.matched)}"
                where = ", which is no class" if got.unknown else (
                    "" if got.output == got.matched else f", standardised as {_shown(got.output)}")
                raise ValueError(f"class {_shown(name)} does not standardise to itself: {made}{where}. A label already "
                                 "standardised would change again; change the rule or the class.")
        for source, target in norm.mappings.items():
            if self._lookup(self.key(target)) is None:
                raise ValueError(f"mapping {_shown(source)} → {_shown(target)}: {_shown(target)} is not a class "
                                 f"(classes: {', '.join(map(_shown, outputs))}).")

    def _merges(self, merges: Mapping[str, list[str]]) -> dict[str, str]:
        """Merge sources by key → the final class key, chains followed and cycles refused."""
        edges: dict[str, str] = {}
        for target, sources in merges.items():
            if self.key(target) not in self.classes:
                raise ValueError(f"merge target {_shown(target)} is not a class; add it to `classes` "
                                 f"(classes: {', '.join(map(_shown, self.classes.values()))}).")
            for source in sources:
                key = self.key(source)
                if key == self.key(target):
                    raise ValueError(f"{_shown(source)} is merged into itself; remove it from the merge.")
                if key in edges and edges[key] != self.key(target):
                    raise ValueError(f"{_shown(source)} is merged into two targets, "
                                     f"{_shown(self.classes[edges[key]])} and {_shown(target)}; keep one.")
                edges[key] = self.key(target)
        resolved: dict[str, str] = {}
        for start in edges:
            seen = [start]
            node = edges[start]
            while node in edges:
                if node in seen:
                    cycle = " → ".join(_shown(self.classes.get(k, k)) for k in [*seen[seen.index(node):], node])
                    raise ValueError(f"the merges go round in a cycle ({cycle}); a class cannot merge into "
                                     "a class that merges back into it.")
                seen.append(node)
                node = edges[node]
            resolved[start] = node
        return resolved

    def text(self, value: str) -> str:
        """Unicode form, white space and punctuation normalised; case kept."""
        norm = self.norm
        if norm.unicode != "none":
            value = unicodedata.normalize(norm.unicode, value)
        if norm.whitespace:
            value = "".join(ch for ch in value if ch in "\t\n\r" or unicodedata.category(ch) not in _INVISIBLE)
            value = _SPACES.sub(" ", value).strip()
        if norm.punctuation:
            start, end = 0, len(value)
            while start < end and unicodedata.category(value[start]).startswith("P"):
                start += 1
            while end > start and unicodedata.category(value[end - 1]).startswith("P"):
                end -= 1
            value = value[start:end].strip() if norm.whitespace else value[start:end]
        return value

    def key(self, value: str) -> str:
        """What labels are matched on: the normalised text, case folded when the schema says so."""
        text = self.text(value)
        return text.casefold() if self.norm.case_fold else text

    def _lookup(self, key: str) -> str | None:
        key = self.merges.get(key, key)
        return self.classes.get(key)

    def resolve(self, value: str) -> _Resolved:
        """The standard label for one distinct raw label, and the rules that made it."""
        rules: list[str] = []
        text = self.text(value)
        if text != value:
            rules.append("normalise")
        key = text.casefold() if self.norm.case_fold else text
        if key in self.mappings:
            text = self.text(self.mappings[key])
            rules.append("mapping")
        for pattern, replacement in self.rewrites:
            new = pattern.sub(replacement, text)
            if new != text:
                text = self.text(new)
                rules.append("rewrite")
        key = text.casefold() if self.norm.case_fold else text
        if key in self.merges:
            key = self.merges[key]
            rules.append("merge")
        name = self.classes.get(key)
        if name is not None:
            if name != value and not rules:
                rules.append("case")
            return _Resolved(name, "+".join(rules) if name != value else "", False, text)
        if self.policy == "uncertain":
            return _Resolved(self.uncertain, "+".join([*rules, "uncertain"]), True, text)
        if self.policy == "keep":
            return _Resolved(value, "", True, text)
        return _Resolved(None, "+".join([*rules, "unknown"]), True, text)


class LabelSchema(_Frozen):
    """The classes of a task and how raw labels become them (see the module documentation).

    Load one with :meth:`parse` (a mapping) or :meth:`load` (a YAML or JSON file); both turn
    every problem into a :class:`~datamill.core.errors.ConfigError` naming the field.

    >>> LabelSchema.parse({"classes": ["scratch"], "merges": {"dent2": ["dent"]}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    datamill.core.errors.ConfigError: label schema: merge target 'dent2' is not a class; add it to `classes` ...
    """

    classes: list[LabelClass] = Field(min_length=1, description="The classes (names, or name/description/examples).")
    uncertain: str | None = Field(None, min_length=1, description="The explicit uncertain/borderline class.")
    merges: dict[str, list[str]] = Field(default_factory=dict, description="{target: [sources…]}.")
    normalise: Normalise = Field(default_factory=Normalise, description="Text normalisations before matching.")
    unknown: UnknownPolicy = Field("quarantine", description="What happens to a label that is no class: "
                                   "quarantine, uncertain, keep or drop.")
    _resolver: _Resolver | None = PrivateAttr(None)

    @field_validator("classes", mode="before")
    @classmethod
    def _class_forms(cls, value: Any) -> Any:
        if isinstance(value, Mapping):  # {name: description}
            return [{"name": k, "description": v or ""} for k, v in value.items()]
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _sound(self) -> LabelSchema:
        if self.unknown == "uncertain" and self.uncertain is None:
            raise ValueError("`unknown: uncertain` maps unknown labels to the uncertain class, but the schema names "
                             "none; set `uncertain: <class name>`.")
        self._resolver = _Resolver(self)
        return self

    @property
    def resolver(self) -> _Resolver:
        assert self._resolver is not None
        return self._resolver

    @property
    def class_names(self) -> list[str]:
        """Every label a standardised column may hold (the uncertain class last)."""
        names = [c.name for c in self.classes if self.resolver.key(c.name) not in self.resolver.merges]
        if self.uncertain is not None and self.uncertain not in names:
            names.append(self.uncertain)
        return names

    @classmethod
    def parse(cls, data: Any, *, where: str = "label schema") -> LabelSchema:
        """A schema from a mapping (the parsed YAML/JSON), with errors that name the field."""
        if isinstance(data, LabelSchema):
            return data
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: a label schema is a mapping with `classes` (and `merges`, `normalise`, "
                              f"`uncertain`, `unknown`), got {type(data).__name__}.")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as err:
            lines = []
            for problem in err.errors():
                loc = ".".join(str(p) for p in problem["loc"])
                msg = problem["msg"].removeprefix("Value error, ")
                lines.append(f"`{loc}`: {msg[0].lower() + msg[1:]}" if loc else msg)
            raise ConfigError(f"{where}: " + "\n".join(lines)) from None

    @classmethod
    def load(cls, path: str | Path) -> LabelSchema:
        """A schema from a YAML or JSON file."""
        file = Path(path)
        if not file.is_file():
            raise NotFoundError(f"label schema file {str(file)!r} does not exist; give the path of a YAML or JSON "
                                "file with `classes:` (relative to the pipeline file).")
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ConfigError(f"label schema file {str(file)!r} is not valid YAML or JSON: {err}") from err
        return cls.parse(data, where=f"label schema {str(file)!r}")


# --- columns ---------------------------------------------------------------------------------


def _as_array(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if not isinstance(values, pa.Array):
        values = pa.array(values)
    if pa.types.is_string_view(values.type) or pa.types.is_null(values.type):
        values = values.cast(pa.string())
    return values


def _invalid_utf8(array: pa.Array) -> NDArray[np.bool_] | None:
    """Rows holding bytes that are not UTF-8 (None when there are none); only scans on failure."""
    try:
        array.validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    raw = array.view(pa.large_binary() if pa.types.is_large_string(array.type) else pa.binary()).to_pylist()
    bad = np.zeros(len(raw), dtype=bool)
    for i, value in enumerate(raw):
        if value is not None:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                bad[i] = True
    return bad


@dataclass
class _Standardized:
    values: pa.Array
    changes: pa.Table
    unknown_rows: NDArray[np.bool_]  # rows with a label that is no class
    invalid_rows: NDArray[np.bool_]  # rows whose labels are not UTF-8 text
    labels: int  # non-null labels seen
    changed: int  # labels changed
    unknown: int  # labels that are no class, whatever the policy did with them
    first_unknown: list[str | None]  # per row, the first unknown label (for quarantine messages)


def _list_parts(array: pa.Array) -> tuple[pa.Array, NDArray[np.int64]]:
    """A list array's values (only the referenced range) and its offsets from 0."""
    offsets = np.asarray(array.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    start, end = int(offsets[0]), int(offsets[-1])
    return array.values.slice(start, end - start), offsets - start


def _standardize(values: Any, schema: LabelSchema, *, column: str = "labels") -> _Standardized:
    array = _as_array(values)
    is_list = pa.types.is_list(array.type) or pa.types.is_large_list(array.type)
    if pa.types.is_fixed_size_list(array.type):
        array = array.cast(pa.list_(array.type.value_type))
        is_list = True
    flat, offsets = _list_parts(array) if is_list else (array, np.arange(len(array) + 1, dtype=np.int64))
    if is_list and (pa.types.is_string_view(flat.type) or pa.types.is_null(flat.type)):
        flat = flat.cast(pa.string())
    if not (pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type)):
        hint = " Decode bytes to text first (e.g. `clean.text`)." if pa.types.is_binary(flat.type) or \
            pa.types.is_large_binary(flat.type) else ""
        raise SchemaError(f"`{column}` holds {array.type}; labels are text (a string column, or a list of strings "
                          f"per item).{hint}")
    n = len(array)
    parents = np.repeat(np.arange(n), np.diff(offsets))
    bad = _invalid_utf8(flat)
    invalid_rows = np.zeros(n, dtype=bool)
    if bad is not None:
        invalid_rows[parents[bad]] = True
        flat = pc.if_else(pa.array(bad), pa.scalar(None, flat.type), flat)  # checked rows get no label
    resolver = schema.resolver
    encoded = pc.dictionary_encode(flat)
    distinct = encoded.dictionary.to_pylist()
    resolved = [resolver.resolve(v) for v in distinct]
    indices = np.asarray(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    present = indices >= 0
    counts = np.bincount(indices[present], minlength=len(distinct))
    out_dictionary = pa.array([r.output for r in resolved], flat.type)
    new_flat = pc.take(out_dictionary, encoded.indices)
    unknown_distinct = np.array([r.unknown and schema.unknown in ("quarantine", "drop") for r in resolved], bool)
    unknown_elems = np.zeros(len(flat), dtype=bool)
    unknown_elems[present] = unknown_distinct[indices[present]]
    unknown_rows = np.zeros(n, dtype=bool)
    unknown_rows[parents[unknown_elems]] = True
    first_unknown: list[str | None] = [None] * n
    for elem in np.flatnonzero(unknown_elems)[::-1]:  # reversed: the first one per row wins
        first_unknown[int(parents[elem])] = distinct[int(indices[elem])]
    rows = [{"from": distinct[i], "to": r.output, "rule": r.rule, "count": int(counts[i])}
            for i, r in enumerate(resolved) if r.output != distinct[i] and counts[i]]
    rows.sort(key=lambda r: (-r["count"], r["from"]))
    changes = pa.Table.from_pylist(rows, schema=CHANGES_SCHEMA)
    if is_list:
        mask = pc.is_null(array)
        kind = pa.LargeListArray if pa.types.is_large_list(array.type) else pa.ListArray
        offset_type = pa.int64() if pa.types.is_large_list(array.type) else pa.int32()
        new = kind.from_arrays(pa.array(offsets, offset_type), new_flat, mask=mask)
    else:
        new = new_flat
    return _Standardized(new, changes, unknown_rows, invalid_rows, int(present.sum()),
                         int(sum(r["count"] for r in rows)),
                         int(sum(int(counts[i]) for i, r in enumerate(resolved) if r.unknown)), first_unknown)


def standardize_labels(values: Any, schema: LabelSchema | Mapping[str, Any]) -> tuple[pa.Array, pa.Table]:
    """Standardise a label column: ``(new labels, table of changes)``.

    ``values`` is a string array (one label per item) or a list<string> array (one label per
    rater), as pyarrow or anything ``pa.array`` takes. Each *distinct* label is resolved once
    and the column is rewritten through the resulting dictionary. Nulls stay null. A label
    that is no class follows ``schema.unknown``: ``uncertain`` maps it to the uncertain class,
    ``keep`` leaves it, and ``quarantine`` or ``drop`` make it null here (the
    ``label.standardize`` step quarantines or drops its row). The changes table has one row per
    distinct change: ``from``, ``to``, ``rule`` (``normalise``, ``case``, ``mapping``,
    ``rewrite``, ``merge``, ``uncertain``, ``unknown``, joined by ``+``) and ``count``.

    >>> schema = {"classes": ["ham", "spam"], "unknown": "drop"}
    >>> new, changes = standardize_labels([["SPAM", " ham"], ["eggs", None], None], schema)
    >>> new.to_pylist()
    [['spam', 'ham'], [None, None], None]
    >>> [(c["from"], c["to"], c["rule"]) for c in changes.to_pylist()]
    [(' ham', 'ham', 'normalise'), ('SPAM', 'spam', 'case'), ('eggs', None, 'unknown')]
    """
    result = _standardize(values, LabelSchema.parse(schema))
    if result.invalid_rows.any():
        row = int(np.flatnonzero(result.invalid_rows)[0])
        raise SchemaError(f"{int(result.invalid_rows.sum())} label(s) are not valid UTF-8 text (first at row {row}); "
                          "decode the column first (e.g. with `clean.text`), or run the `label.standardize` step, "
                          "which quarantines such rows.")
    return result.values, result.changes


def label_changes(original: Any, standardized: Any, schema: LabelSchema | Mapping[str, Any] | None = None
                  ) -> pa.Table:
    """The table of changes between two label columns: ``from``, ``to``, ``rule``, ``count``.

    Use it on a ``label.standardize`` output that kept the original (``keep_original``), or on
    any two versions of a label column. ``rule`` says which rule made the change when
    ``schema`` is given, else it is null. List columns are compared label by label.

    >>> label_changes(["Umm", "um", "ok", "Umm", None], ["Um", "Um", "ok", "Um", None]).to_pylist()
    [{'from': 'Umm', 'to': 'Um', 'rule': None, 'count': 2}, {'from': 'um', 'to': 'Um', 'rule': None, 'count': 1}]
    """
    import polars as pl

    before, after = _as_array(original), _as_array(standardized)
    if len(before) != len(after):
        raise SchemaError(f"label_changes: {len(before)} original labels but {len(after)} standardised ones; "
                          "give two columns of the same rows.")
    if pa.types.is_list(before.type) or pa.types.is_large_list(before.type):
        lengths = [pc.list_value_length(a).fill_null(0) for a in (before, after)]
        if not pc.all(pc.equal(*lengths)).as_py():
            raise SchemaError("label_changes: the two list columns hold different numbers of labels in some rows.")
        before, after = pc.list_flatten(before), pc.list_flatten(after)
    frame = pl.DataFrame({"from": pl.Series(before.cast(pa.large_string())),
                          "to": pl.Series(after.cast(pa.large_string()))})
    changed = frame.filter(pl.col("from").is_not_null() & pl.col("from").ne_missing(pl.col("to")))
    grouped = changed.group_by(["from", "to"]).len("count").sort(["count", "from"], descending=[True, False])
    rules: list[str | None] = [None] * grouped.height
    if schema is not None:
        resolver = LabelSchema.parse(schema).resolver
        rules = []
        for value, to in zip(grouped["from"].to_list(), grouped["to"].to_list(), strict=True):
            got = resolver.resolve(value)
            rules.append(got.rule if got.output == to else None)
    return pa.table({"from": grouped["from"].cast(pl.String).to_arrow(), "to": grouped["to"].cast(pl.String).to_arrow(),
                     "rule": pa.array(rules, pa.string()), "count": grouped["count"].cast(pl.Int64).to_arrow()},
                    schema=CHANGES_SCHEMA)


# --- the step ----------------------------------------------------------------------------------


class LabelStandardizeConfig(StepConfig):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    column: str = Field("label", min_length=1, description="The label column (string, or list of strings).")
    label_schema: LabelSchema | None = Field(None, alias="schema", description="The label schema, inline.")
    schema_path: str | None = Field(None, description="A YAML or JSON label schema file (relative to the pipeline "
                                    "file), instead of `schema`.")
    out_column: str | None = Field(None, min_length=1, description="Write the standard labels here; unset: "
                                   "rewrite `column` in place.")
    keep_original: bool = Field(False, description="In place only: keep the original labels in "
                                "`<column>_original`.")

    @model_validator(mode="after")
    def _one_schema(self) -> LabelStandardizeConfig:
        if (self.label_schema is None) == (self.schema_path is None):
            raise ValueError("give the label schema inline (`schema:`) or as a file (`schema_path:`), not "
                             + ("both" if self.label_schema is not None else "neither"))
        if self.keep_original and self.out_column is not None:
            raise ValueError("`keep_original` keeps the original labels when `column` is rewritten in place; with "
                             "`out_column` set, `column` keeps them already. Drop one of the two options.")
        return self


def _metric_key(prefix: str, before: str | None, after: str | None) -> str:
    """A metric name for one change: JSON (escaped, unambiguous), long labels cut and hashed."""

    def part(label: str | None) -> str | None:
        if label is None or len(label) <= 60:
            return label
        return label[:40] + "…#" + hashlib.sha256(label.encode("utf-8", "surrogatepass")).hexdigest()[:10]

    return prefix + json.dumps([part(before), part(after)])


@register("label.standardize")
class LabelStandardize(Transform[LabelStandardizeConfig]):
    """Rewrite a label column to the schema's classes, and report every change.

    Rows with a label that is no class follow the schema's ``unknown`` policy: ``quarantine``
    (reason ``unknown_label``, with the label), ``drop`` (reason ``unknown_label``; in a list
    column the label becomes null and the row stays), ``uncertain`` or ``keep``. Labels that
    are not UTF-8 text quarantine their row (reason ``invalid_label``). Metrics: ``labels``
    (non-null labels seen), ``changed``, ``unknown``, ``rule.<rule>`` (labels changed by each
    rule) and ``change:["from", "to"]`` per distinct change; :func:`label_changes` tables them
    from the output when ``keep_original`` is set.

    >>> LabelStandardize(column="label", schema={"classes": ["a", "b"]}).config.out_column is None
    True
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._hashes: list[str] = []
        if self.config.label_schema is not None:
            self.schema = self.config.label_schema
        else:
            assert self.config.schema_path is not None
            path = Path(self.config.schema_path).expanduser()
            path = path if path.is_absolute() else base_dir() / path
            self.schema = LabelSchema.load(path)
            self._hashes = [hashlib.sha256(path.read_bytes()).hexdigest()]

    def code_hashes(self) -> list[str]:
        """The schema file's sha256: editing the schema re-runs the step."""
        return self._hashes

    def required_columns(self) -> dict[str, str]:
        """The label column."""
        return {self.config.column: "column"}

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Standardise the batch's labels; quarantine or drop rows per the unknown policy."""
        column = self.config.column
        if column not in batch.schema.names:
            raise SchemaError(f"step {self.label!r}: there is no label column `{column}`; the input has "
                              f"{', '.join(batch.schema.names) or 'no columns'}. Name it with `column:`.")
        original = batch.column(column)
        result = _standardize(original, self.schema, column=column)
        out = batch
        if self.config.out_column is not None:
            out = _put(out, self.config.out_column, result.values)
        else:
            if self.config.keep_original:
                out = _put(out, f"{column}_original", original)
            out = _put(out, column, result.values)
        ctx.metric("labels", result.labels)
        ctx.metric("changed", result.changed)
        ctx.metric("unknown", result.unknown)
        for change in result.changes.to_pylist():
            ctx.metric(f"rule.{change['rule']}", change["count"])
            ctx.metric(_metric_key("change:", change["from"], change["to"]), change["count"])
        policy = self.schema.unknown
        is_list = not (pa.types.is_string(result.values.type) or pa.types.is_large_string(result.values.type))
        outcome = Outcome(out, original=batch)
        if result.invalid_rows.any():
            outcome.quarantine(result.invalid_rows, reason=INVALID_LABEL,
                               error=f"`{column}` holds bytes that are not UTF-8 text; fix the encoding upstream.")
        if result.unknown_rows.any() and (policy == "quarantine" or not is_list):
            classes = ", ".join(map(_shown, self.schema.class_names))
            messages = [f"label {_shown(label)} is not in the label schema (classes: {classes}); add it to the "
                        "classes, a merge or a mapping, or set `unknown:`" if label is not None else ""
                        for label in result.first_unknown]
            if policy == "quarantine":
                outcome.quarantine(result.unknown_rows, reason=UNKNOWN_LABEL, error=messages)
            else:
                outcome.drop(result.unknown_rows, reason=UNKNOWN_LABEL)
        return outcome


def _put(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    index = batch.schema.get_field_index(name)
    field = pa.field(name, values.type)
    return batch.set_column(index, field, values) if index >= 0 else batch.append_column(field, values)
