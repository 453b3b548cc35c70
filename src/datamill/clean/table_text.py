"""``table.to_text``: table rows as text for LLM prompts (Markdown tables, JSON lines or a template).

Formats:

- ``markdown``: a GitHub-flavoured Markdown table: a header row, the ``| --- |`` rule and one
  line per row. One row per record is still a table (header and one data row) rather than
  ``key: value`` lines, so every record reads the same whatever ``rows_per_record`` is, and
  ``header`` means the same thing in both cases. In cells (and column names), ``\\`` and ``|`` are
  escaped with a backslash and every line break (``\\r\\n``, ``\\n``, ``\\r`` and the other
  characters ``str.splitlines`` breaks on) becomes ``<br>``, so a record has exactly one line
  per row, whatever the cells hold.
- ``jsonl``: one JSON object per row (UTF-8, not ASCII-escaped); nulls are JSON ``null``.
- ``template``: ``str.format`` text with column names, e.g. ``"{name} is {age:>3} years old"``.
  Only plain names are allowed: ``{a.b}`` or ``{a[0]}`` (attribute and index access) are
  config errors, so a template reads values and never runs code. A format spec applies to the
  typed value (``{fnlwgt:,}``); a value it does not fit quarantines the row
  (``template_error``); a name the input lacks is reported before the run when the input's
  schema is known, else quarantines the rows (``unknown_template_field``).

Nulls render as ``null_text`` (markdown and template). ``rows_per_record: N`` folds up to N
consecutive rows into one record (counted as ``merged`` in the ledger) with id
``<first id>..<last id>``; a group never spans two batches, so the last group of a batch can be
shorter. Rows without an id are quarantined (``missing_id``).
"""

from __future__ import annotations

import json
import re
import string
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from datamill.core.columns import ID, TEXT
from datamill.core.errors import SchemaError
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register

__all__ = ["TableToText", "TableToTextConfig", "markdown_cell", "template_fields"]

# Everything str.splitlines() breaks a line on; one of them left in a cell would split a row.
_LINE_BREAK = "\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"
_LINE_BREAK_RE = re.compile(_LINE_BREAK)
_ELLIPSIS = "…"


def markdown_cell(value: str) -> str:
    r"""Escape one value for a Markdown table cell.

    >>> markdown_cell("a|b\nc \\ d")
    'a\\|b<br>c \\\\ d'
    """
    return _LINE_BREAK_RE.sub("<br>", value.replace("\\", "\\\\").replace("|", "\\|"))


def template_fields(template: str) -> list[str]:
    """The column names a template reads, in order, each once; a ValueError says what is wrong.

    >>> template_fields("{age} years, {workclass!s:>10}; {{braces}} {age}")
    ['age', 'workclass']
    >>> template_fields("{row.__class__}")
    Traceback (most recent call last):
    ...
    ValueError: template field {row.__class__}: only plain column names are allowed, no `.` or `[`
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"the template is not str.format text: {err} (write literal braces as {{{{ and }}}})") from err
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if not name or name.isdigit():
            raise ValueError("template fields must name a column, like {age}; `{}` and `{0}` have no column")
        if "." in name or "[" in name:
            raise ValueError(f"template field {{{name}}}: only plain column names are allowed, no `.` or `[`")
        if spec and ("{" in spec or "}" in spec):
            raise ValueError(f"template field {{{name}}}: a format spec cannot hold another field")
        if name not in names:
            names.append(name)
    return names


class TableToTextConfig(StepConfig):
    """Options of ``table.to_text``."""

    format: Literal["markdown", "jsonl", "template"] = Field(
        "markdown", description="markdown: a table; jsonl: a JSON object per row; template: `template` per row."
    )
    columns: list[str] | None = Field(
        None, min_length=1,
        description="Columns to render, in this order (markdown, jsonl); default every column but `id`.",
    )
    template: str | None = Field(
        None, description="For `format: template`: str.format text naming columns, e.g. '{age} years, {job}'."
    )
    rows_per_record: int = Field(
        1, ge=1, description="Rows per output record; above 1, consecutive rows of a batch are folded together."
    )
    header: bool = Field(True, description="Markdown: start each record with the header row and rule.")
    null_text: str = Field("", description="How a null renders (markdown and template).")
    max_cell_chars: int | None = Field(
        None, ge=1, description="Cut text values longer than this, ending them with '…'; default no cut."
    )
    text_column: str = Field(TEXT, min_length=1, description="The column the text goes to.")
    keep_columns: bool = Field(
        False, description="Keep the input's columns next to the text (only with `rows_per_record: 1`)."
    )

    @field_validator("columns")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each column should be listed once")
        return value

    @field_validator("template")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            template_fields(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TableToTextConfig:
        if self.format == "template" and self.template is None:
            raise ValueError("`format: template` needs `template`, e.g. '{name}: {age} years'")
        if self.format != "template" and self.template is not None:
            raise ValueError(f"`template` is only used with `format: template` (format is {self.format!r})")
        if self.format == "template" and self.columns is not None:
            raise ValueError("with `format: template` the template names the columns; remove `columns`")
        if self.keep_columns and self.rows_per_record > 1:
            raise ValueError("`keep_columns` needs `rows_per_record: 1`: a record of several rows has no one "
                             "value per column")
        if self.text_column == ID:
            raise ValueError("`text_column` cannot be `id`")
        return self


class _Template(string.Formatter):
    """str.format over a row dict: nulls become ``null_text``; long strings are cut."""

    def __init__(self, null_text: str, max_chars: int | None) -> None:
        self.null_text = null_text
        self.max_chars = max_chars

    def format_field(self, value: Any, format_spec: str) -> Any:
        if value is None:
            return self.null_text
        if isinstance(value, str) and self.max_chars is not None:
            value = _cut(value, self.max_chars)
        return super().format_field(value, format_spec)


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit] + _ELLIPSIS


def _py_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _as_text(values: pa.Array) -> pa.Array:
    """A column as large strings (nulls kept); nested and binary values go through Python."""
    try:
        return pc.cast(values, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return pa.array([None if v is None else _py_text(v) for v in values.to_pylist()], pa.large_string())


def _markdown_cells(values: pa.Array, null_text: str, max_chars: int | None) -> pa.Array:
    text = _as_text(values)
    if max_chars is not None:
        long = pc.fill_null(pc.greater(pc.utf8_length(text), max_chars), False)
        cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, max_chars), _big(_ELLIPSIS), _big(""))
        text = pc.if_else(long, cut, text)
    text = pc.replace_substring(text, "\\", "\\\\")
    text = pc.replace_substring(text, "|", "\\|")
    text = pc.replace_substring_regex(text, _LINE_BREAK, "<br>")
    return pc.fill_null(text, _big(markdown_cell(null_text)))


def _big(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


@register("table.to_text")
class TableToText(Transform[TableToTextConfig]):
    """Render table rows as text for LLM prompts: a Markdown table, JSON lines or a template.

    >>> from datamill.testing import make_batch, run_step
    >>> batch = make_batch(name=["Ada", "Bo|b"], age=[36, None])
    >>> print(run_step(TableToText(), [batch]).output["text"][1])
    | name | age |
    | --- | --- |
    | Bo\\|b |  |
    >>> run_step(TableToText(format="template", template="{name} ({age})"), [batch]).output["text"].to_pylist()
    ['Ada (36)', 'Bo|b ()']
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._fields = template_fields(self.config.template) if self.config.template is not None else []
        self._formatter = _Template(self.config.null_text, self.config.max_cell_chars)

    def required_columns(self) -> dict[str, str]:
        needed = {ID: "id"}
        needed.update({c: "columns" for c in self.config.columns or []})
        needed.update({c: "template" for c in self._fields})
        return needed

    def _columns(self, batch: pa.RecordBatch, ctx: StepContext) -> list[str]:
        names = batch.schema.names
        if ID not in names:
            raise SchemaError(f"step {ctx.step_id!r} (table.to_text) needs an `id` column; the input has "
                              f"{', '.join(names)}.")
        if self.config.columns is None:
            columns = [c for c in names if c != ID]
            if not columns and self.config.format != "template":
                raise SchemaError(f"step {ctx.step_id!r} (table.to_text): the input has only `id`; there is "
                                  "nothing to render.")
            return columns
        missing = [c for c in self.config.columns if c not in names]
        if missing:
            raise SchemaError(f"step {ctx.step_id!r} (table.to_text): `columns` names "
                              f"{', '.join(map(repr, missing))}, which the input does not have; it has "
                              f"{', '.join(names)}.")
        return list(self.config.columns)

    def _markdown(self, batch: pa.RecordBatch, columns: list[str]) -> tuple[pa.Array, str | None]:
        cfg = self.config
        cells = [_markdown_cells(batch.column(c), cfg.null_text, cfg.max_cell_chars) for c in columns]
        if cells:
            lines = pc.binary_join_element_wise(_big("| "), pc.binary_join_element_wise(*cells, _big(" | ")),
                                                _big(" |"), _big(""))
        else:
            lines = pa.array(["|  |"] * batch.num_rows, pa.large_string())
        head = None
        if cfg.header:
            head = _table_row([markdown_cell(c) for c in columns]) + "\n" + _table_row(["---"] * len(columns))
        return lines, head

    def _jsonl(self, batch: pa.RecordBatch, columns: list[str]) -> pa.Array:
        limit = self.config.max_cell_chars
        rows = batch.select(columns).to_pylist()
        if limit is not None:
            rows = [{k: _cut(v, limit) if isinstance(v, str) else v for k, v in row.items()} for row in rows]
        return pa.array([json.dumps(r, ensure_ascii=False, default=str) for r in rows], pa.large_string())

    def _template(self, batch: pa.RecordBatch, errors: list[str | None]) -> pa.Array:
        template = self.config.template or ""
        texts: list[str | None] = []
        for i, row in enumerate(batch.select(self._fields).to_pylist()):
            try:
                texts.append(self._formatter.vformat(template, (), row))
            except (ValueError, TypeError, KeyError, IndexError, OverflowError) as err:
                texts.append(None)
                errors[i] = f"{type(err).__name__}: {err} (values: {_short(row)})"
        return pa.array(texts, pa.large_string())

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        cfg = self.config
        columns = self._columns(batch, ctx)
        bad: list[tuple[pa.Array, str, str | list[str]]] = []
        missing_id = pc.is_null(batch.column(ID))
        if pc.any(missing_id).as_py():
            bad.append((missing_id, "missing_id", "the row has no id; give every row an id"))
        head: str | None = None
        if cfg.format == "markdown":
            lines, head = self._markdown(batch, columns)
        elif cfg.format == "jsonl":
            lines = self._jsonl(batch, columns)
        else:
            absent = [f for f in self._fields if f not in batch.schema.names]
            if absent:
                message = (f"the template names {', '.join('{' + f + '}' for f in absent)}, which the input "
                           f"does not have; it has {', '.join(batch.schema.names)}. Fix `template`.")
                every = pa.array([True] * batch.num_rows, pa.bool_())
                bad.append((every, "unknown_template_field", message))
                lines = pa.nulls(batch.num_rows, pa.large_string())
            else:
                errors: list[str | None] = [None] * batch.num_rows
                lines = self._template(batch, errors)
                if any(e is not None for e in errors):
                    failed = pa.array([e is not None for e in errors], pa.bool_())
                    bad.append((failed, "template_error", [e or "" for e in errors]))
        if cfg.rows_per_record == 1:
            return self._one_per_row(batch, lines, head, bad)
        return self._grouped(batch, lines, head, bad)

    def _one_per_row(self, batch: pa.RecordBatch, lines: pa.Array, head: str | None,
                     bad: list[tuple[pa.Array, str, str | list[str]]]) -> Outcome:
        cfg = self.config
        text = pc.binary_join_element_wise(_big(head), lines, _big("\n")) if head is not None else lines
        text = pc.cast(text, pa.string())
        if cfg.keep_columns:
            index = batch.schema.get_field_index(cfg.text_column)
            out = (batch.set_column(index, cfg.text_column, text) if index >= 0
                   else batch.append_column(cfg.text_column, text))
        else:
            out = pa.RecordBatch.from_arrays([batch.column(ID), text], names=[ID, cfg.text_column])
        outcome = Outcome(out, original=batch)
        for mask, reason, error in bad:
            outcome.quarantine(mask, reason=reason, error=error)
        return outcome

    def _grouped(self, batch: pa.RecordBatch, lines: pa.Array, head: str | None,
                 bad: list[tuple[pa.Array, str, str | list[str]]]) -> Outcome:
        n = self.config.rows_per_record
        good = pa.array([True] * batch.num_rows, pa.bool_())
        for mask, _, _ in bad:
            good = pc.and_not(good, mask)
        ids = pc.cast(batch.column(ID).filter(good), pa.string())
        kept = lines.filter(good)
        count = len(kept)
        offsets = pa.array([*range(0, count, n), count], pa.int32())
        bodies = pc.binary_join(pa.ListArray.from_arrays(offsets, kept), _big("\n"))
        text = pc.binary_join_element_wise(_big(head), bodies, _big("\n")) if head is not None else bodies
        first = ids.take(offsets[:-1])
        last = ids.take(pc.subtract(offsets[1:], 1)) if count else first
        sizes = pc.subtract(offsets[1:], offsets[:-1])
        group_ids = pc.if_else(pc.greater(sizes, 1), pc.binary_join_element_wise(first, last, ".."), first)
        combined = pa.RecordBatch.from_arrays([pc.cast(group_ids, pa.string()), pc.cast(text, pa.string())],
                                              names=[ID, self.config.text_column])
        outcome = Outcome(batch)
        for mask, reason, error in bad:
            outcome.quarantine(mask, reason=reason, error=error)
        return outcome.fold(combined)


def _short(row: dict[str, Any], limit: int = 200) -> str:
    text = json.dumps(row, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + _ELLIPSIS
