"""``read.jsonl``: one JSON object per line, streamed line by line in bounded memory.

How a file is read, and why:

- Lines are read one at a time (at most ``max_line_bytes`` + 1 bytes are held for one line).
  ``line`` is the physical line number, from 1; ``id`` is ``<file>:<line>`` unless the objects
  carry one (``id_column``, or a key ``id``).
- Blank lines (only whitespace) are skipped and not counted: they hold no record.
- A file that is one JSON document (it starts with ``[``, or ``records`` names where its list
  of records is, as in ``{"data": {"items": [...]}}``) is parsed whole, up to
  ``max_document_bytes`` (bigger ones are quarantined as ``too_large``: convert them to JSON
  lines, which stream); ``line`` is then the record's position in the list, from 1.
- Quarantine reasons: ``line_too_long``, ``undecodable`` (not UTF-8, or a string holding a
  lone surrogate such as ``"\\ud800"`` that Arrow cannot store), ``malformed_json`` (with the
  parser's message), ``not_an_object`` (valid JSON that is not an object), ``too_many_columns``
  (an object bringing a key beyond the ``max_columns`` first ones), ``missing_id``.
- Schema: a first pass over the file collects the keys (in first-seen order) and the JSON
  types of their values, so every batch of a file has one schema and a key first seen on the
  last line still gets its column. A key whose values are all booleans is ``bool``; all
  integers ``int64``; integers and floats ``float64``; all strings ``string``. Anything else
  (objects, arrays, mixed types, integers beyond int64) is a ``string`` column of JSON text,
  so a value of an unexpected type is kept, never lost. The metric ``json_text_columns`` counts
  those columns. A small file (up to 8,192 lines) is parsed once, a bigger one twice; files
  read by one step may still disagree on a column's type (the engine unifies int64 with
  float64, not int64 with string: give such files the same ``fields``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import pyarrow as pa
from pydantic import Field

from datamill.core.columns import ID, SOURCE
from datamill.ingest._files import (
    QUARANTINE_CHUNK,
    FileSource,
    FileSourceConfig,
    open_binary,
    provenance_ids,
)
from datamill.ingest._lines import HEAD_BYTES
from datamill.pipeline.outcome import MAX_QUARANTINED_ROW_BYTES
from datamill.pipeline.registry import register
from datamill.pipeline.step import StepContext

__all__ = ["JsonlReader", "JsonlReaderConfig"]

# A batch is also cut when its lines add up to this much, whatever ``batch_rows`` says.
_BATCH_BYTES = 64 << 20
# Objects are turned into Arrow this many at a time.
_CHUNK_ROWS = 8192
# A file with at most this many lines is parsed once: the first pass keeps its objects.
_KEEP_ROWS = 8192
_INT64 = (-(1 << 63), (1 << 63) - 1)
_BOM = b"\xef\xbb\xbf"


class JsonlReaderConfig(FileSourceConfig):
    """Options of ``read.jsonl``."""

    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Output column → key path in the object ('meta.title'); empty keeps all "
        "top-level keys.",
    )
    max_line_bytes: int = Field(
        64 << 20, ge=1, description="Longer lines are quarantined as line_too_long."
    )
    max_columns: int = Field(
        10_000, ge=1, description="Most columns a file may create (keys beyond are quarantined)."
    )
    records: str | None = Field(
        None,
        description="Key path to the list of records when each file is one JSON document "
        "('data.items'); a file starting with '[' is read as a list of records without it.",
    )
    max_document_bytes: int = Field(
        256 << 20, ge=1,
        description="Largest file read as one JSON document (it is parsed whole); larger ones "
        "are quarantined as too_large.",
    )


def _getter(path: str) -> Callable[[Mapping[str, Any]], Any]:
    """A function reading the key path ``path`` ('a.b.c'); an exact key wins over a path."""
    parts = path.split(".")
    if len(parts) == 1:
        return lambda obj: obj.get(path)

    def get(obj: Mapping[str, Any]) -> Any:
        if path in obj:
            return obj[path]
        value: Any = obj
        for part in parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    return get


class _BigInt:
    """Stands for an integer beyond int64 in a key's set of value types."""


def _column_type(kinds: set[type]) -> tuple[pa.DataType, bool]:
    """The Arrow type for a key's value types, and whether values are stored as JSON text."""
    kinds = kinds - {type(None)}
    if kinds == {bool}:
        return pa.bool_(), False
    if kinds == {int}:
        return pa.int64(), False
    if kinds and kinds <= {int, float}:
        return pa.float64(), False
    if kinds <= {str}:
        return pa.string(), False
    return pa.string(), True


_encode = json.JSONEncoder(ensure_ascii=False).encode


def _as_text(value: Any) -> str | None:
    if value is None or type(value) is str:
        return value
    return _encode(value)


@dataclass
class _Bad:
    reason: str
    line: int
    raw: str
    error: str

    def __post_init__(self) -> None:
        # The quarantine keeps 1 MiB of a row at most; hold no more than that meanwhile.
        self.raw = self.raw[:MAX_QUARANTINED_ROW_BYTES]


_Item = tuple[int, dict[str, Any], int] | _Bad  # (line, object, bytes) or a bad line


@dataclass
class _Plan:
    """What the first pass learned: columns (name → key path), value types, the id key."""

    paths: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, set[type]] = field(default_factory=dict)
    id_path: str | None = None
    id_name: str | None = None
    # Keys that get no column: beyond ``max_columns``, or not storable (a lone surrogate).
    capped: bool = False
    bad_keys: set[str] = field(default_factory=set)


def _lines(handle: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | None, bytes]]:
    """Yield (line number, line without its newline or None when too long, head of the line)."""
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if line.endswith(b"\n") or len(line) <= limit:
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            yield number, line.rstrip(b"\r\n"), b""
            continue
        head = line[:HEAD_BYTES]
        while line and not line.endswith(b"\n"):
            line = handle.readline(1 << 20)
        yield number, None, head


@register("read.jsonl")
class JsonlReader(FileSource[JsonlReaderConfig]):
    """Read JSON Lines files; each bad line is quarantined with the reason.

    See the module docstring for the schema rules (one schema per file; mixed or nested values
    become JSON text).

    >>> JsonlReader(paths="a.jsonl", fields={"title": "meta.title"}).config.fields
    {'title': 'meta.title'}
    """

    extensions = (".jsonl", ".ndjson", ".json")
    version = 1

    def _objects(self, path: str) -> Iterator[_Item]:
        """Parsed objects with their line and size, and bad lines, in file order."""
        with open_binary(path) as handle:
            start = handle.read(HEAD_BYTES)
            if self.config.records is not None or start.removeprefix(_BOM).lstrip().startswith(b"["):
                yield from self._document(start, handle)
                return
        with open_binary(path) as handle:
            for number, line, head in _lines(handle, self.config.max_line_bytes):
                if line is None:
                    yield _Bad("line_too_long", number, head.decode("utf-8", "replace"),
                               f"line {number} is longer than max_line_bytes="
                               f"{self.config.max_line_bytes}")
                    continue
                if not line or line.isspace():
                    continue
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as err:
                    yield _Bad("undecodable", number, line.decode("utf-8", "replace"),
                               f"line {number} is not valid UTF-8: {err.reason} at byte "
                               f"{err.start}")
                    continue
                try:
                    value = json.loads(text)
                except (ValueError, RecursionError) as err:
                    yield _Bad("malformed_json", number, text, str(err) or type(err).__name__)
                    continue
                if type(value) is not dict:
                    yield _Bad("not_an_object", number, text,
                               f"expected a JSON object, got {_json_type(value)}")
                    continue
                yield number, value, len(line)

    def _document(self, start: bytes, handle: IO[bytes]) -> Iterator[_Item]:
        """The records of a file that is one JSON document: a list, or a list at ``records``."""
        limit = self.config.max_document_bytes
        data = start + handle.read(max(0, limit + 1 - len(start)))
        head = data[:HEAD_BYTES].decode("utf-8", "replace")
        if len(data) > limit:
            yield _Bad("too_large", 1, head, f"the file is one JSON document larger than max_document_bytes="
                       f"{limit}; raise the limit or write it as JSON lines, which are read as a stream")
            return
        try:
            value = json.loads(data.removeprefix(_BOM).decode("utf-8"))
        except UnicodeDecodeError as err:
            yield _Bad("undecodable", 1, head, f"the file is not valid UTF-8: {err.reason} at byte {err.start}")
            return
        except (ValueError, RecursionError) as err:
            yield _Bad("malformed_json", 1, head, str(err) or type(err).__name__)
            return
        where = self.config.records
        if where is not None:
            value = _getter(where)(value) if isinstance(value, dict) else None
            if not isinstance(value, list):
                yield _Bad("missing_records", 1, head, f"the document has no list of records at "
                           f"{where!r}; set `records` to the key path of the list")
                return
        if not isinstance(value, list):
            yield _Bad("not_an_object", 1, head, f"expected a list of JSON objects, got {_json_type(value)}")
            return
        for number, item in enumerate(value, start=1):
            if type(item) is not dict:
                yield _Bad("not_an_object", number, _dump(item), f"record {number}: expected a JSON object, "
                           f"got {_json_type(item)}")
                continue
            yield number, item, len(_dump(item))

    def _plan(self, items: Iterator[_Item], keep: list[_Item]) -> tuple[_Plan, bool]:
        """First pass: columns and the types of their values.

        ``keep`` collects the items while they are few; the flag says whether the whole file
        fitted (then there is no second pass).
        """
        plan = _Plan()
        fields = self.config.fields
        kinds = plan.kinds
        getters = {name: _getter(path) for name, path in fields.items()}
        for name in fields:
            kinds[name] = set()
        low, high = _INT64
        most = self.config.max_columns
        whole = True
        kept_size = 0
        for item in items:
            if whole:
                kept_size += len(item.raw) if isinstance(item, _Bad) else item[2]
                if len(keep) < _KEEP_ROWS and kept_size <= _BATCH_BYTES:
                    keep.append(item)
                else:
                    whole = False
                    keep.clear()
            if isinstance(item, _Bad):
                continue
            obj = item[1]
            pairs = ((n, g(obj)) for n, g in getters.items()) if fields else obj.items()
            for key, value in pairs:
                kind = type(value)
                if kind is int and not low <= value <= high:
                    kind = _BigInt
                seen = kinds.get(key)
                if seen is None:
                    if key in plan.bad_keys:
                        continue
                    if len(kinds) >= most:
                        plan.capped = True
                        continue
                    if not _storable(key):
                        plan.bad_keys.add(key)
                        continue
                    seen = kinds[key] = set()
                seen.add(kind)
        plan.paths = dict(fields) if fields else {key: key for key in kinds}
        self._choose_id(plan)
        return plan, whole

    def _choose_id(self, plan: _Plan) -> None:
        wanted = self.config.id_column
        if wanted is None and ID in plan.paths:
            wanted = ID
        if wanted is None:
            return
        plan.id_name = wanted
        if wanted in plan.paths:
            plan.id_path = plan.paths.pop(wanted)
            plan.kinds.pop(wanted, None)
        else:
            plan.id_path = wanted

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the objects of one file as batches; quarantine the lines that are not."""
        path = str(partition["path"])
        name = str(partition.get("name") or path.rsplit("/", 1)[-1])
        kept: list[_Item] = []
        plan, whole = self._plan(self._objects(path), kept)
        types = {key: _column_type(kinds) for key, kinds in plan.kinds.items()}
        mixed = sum(as_json for _, as_json in types.values())
        if mixed:
            ctx.metric("json_text_columns", mixed)
        known = set(plan.paths) | ({plan.id_name} if plan.id_name else set())
        check_keys = (plan.capped or bool(plan.bad_keys)) and not self.config.fields
        builder = _Builder(self, plan, types, partition, name, ctx)
        bad: list[_Bad] = []
        bad_size = 0
        for item in kept if whole else self._objects(path):
            if isinstance(item, _Bad):
                bad.append(item)
                bad_size += len(item.raw)
                if len(bad) >= QUARANTINE_CHUNK or bad_size >= _BATCH_BYTES:
                    self._quarantine(bad, path, name, ctx)
                    bad, bad_size = [], 0
                continue
            if check_keys:
                extra = next((k for k in item[1] if k not in known), None)
                if extra is not None:
                    bad.append(self._unknown_key(item, extra, plan))
                    continue
            batch = builder.add(item)
            if batch is not None:
                yield batch
        self._quarantine(bad, path, name, ctx)
        batch = builder.flush()
        if batch is not None:
            yield batch

    def _unknown_key(self, item: tuple[int, dict[str, Any], int], key: str, plan: _Plan) -> _Bad:
        number, obj, _ = item
        if key in plan.bad_keys:
            return _Bad("undecodable", number, _dump(obj, ascii=True),
                        f"the key {key!r} holds a lone surrogate")
        return _Bad("too_many_columns", number, _dump(obj),
                    f"the key {key!r} would be a column beyond "
                    f"max_columns={self.config.max_columns}")

    def _quarantine(self, bad: list[_Bad], path: str, name: str, ctx: StepContext) -> None:
        by_reason: dict[str, tuple[list[Mapping[str, Any]], list[str]]] = {}
        for item in bad:
            rows, errors = by_reason.setdefault(item.reason, ([], []))
            rows.append({ID: f"{name}:{item.line}", SOURCE: path, "line": item.line,
                         "raw": item.raw})
            errors.append(item.error)
        for reason, (rows, errors) in by_reason.items():
            ctx.quarantine(rows, reason=reason, error=errors)


class _Builder:
    """Turns objects into Arrow columns a few thousand at a time, and batches out of those.

    Converting in small chunks keeps few Python objects alive at once, which keeps the
    garbage collector's passes short.
    """

    def __init__(self, reader: JsonlReader, plan: _Plan, types: dict[str, tuple[pa.DataType, bool]],
                 partition: dict[str, Any], name: str, ctx: StepContext) -> None:
        self.reader = reader
        self.plan = plan
        self.types = types
        self.partition = partition
        self.name = name
        self.ctx = ctx
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.size = 0
        self.chunks: list[tuple[dict[str, pa.Array], pa.Array, pa.Array | None]] = []
        self.chunked_rows = 0
        self.chunked_size = 0

    def add(self, item: tuple[int, dict[str, Any], int]) -> pa.RecordBatch | None:
        self.rows.append((item[0], item[1]))
        self.size += item[2]
        if len(self.rows) >= _CHUNK_ROWS or self.size >= _BATCH_BYTES:
            self._convert()
        limit = self.reader.config.batch_rows
        if self.chunked_rows + len(self.rows) >= limit or self.chunked_size >= _BATCH_BYTES:
            return self.flush()
        return None

    def flush(self) -> pa.RecordBatch | None:
        self._convert()
        if not self.chunks:
            return None
        chunks, self.chunks = self.chunks, []
        self.chunked_rows = self.chunked_size = 0
        if len(chunks) == 1:
            columns, lines, ids = chunks[0]
        else:
            columns = {k: pa.concat_arrays([c[0][k] for c in chunks]) for k in chunks[0][0]}
            lines = pa.concat_arrays([c[1] for c in chunks])
            ids = None if chunks[0][2] is None else pa.concat_arrays([c[2] for c in chunks])
        if ids is None:
            ids = provenance_ids(self.name, lines)
        return self.reader.finish(columns, partition=self.partition, ids=ids, ctx=self.ctx,
                                  id_from=self.plan.id_name if self.plan.id_path else None,
                                  provenance=lines)

    def _convert(self) -> None:
        rows, self.rows = self.rows, []
        size, self.size = self.size, 0
        if not rows:
            return
        try:
            chunk = self._arrays(rows)
        except UnicodeEncodeError:
            # A JSON escape such as "\ud800" makes a lone surrogate, which Arrow cannot store.
            good, bad = [], []
            for number, obj in rows:
                try:
                    _encode(obj).encode("utf-8")
                    good.append((number, obj))
                except UnicodeEncodeError as err:
                    bad.append(_Bad("undecodable", number, _dump(obj, ascii=True),
                                    f"a string holds a lone surrogate: {err.reason}"))
            self.reader._quarantine(bad, str(self.partition["path"]), self.name, self.ctx)
            if not good:
                return
            rows = good
            chunk = self._arrays(rows)
        self.chunks.append(chunk)
        self.chunked_rows += len(rows)
        self.chunked_size += size

    def _arrays(
        self, rows: list[tuple[int, dict[str, Any]]]
    ) -> tuple[dict[str, pa.Array], pa.Array, pa.Array | None]:
        objects = [obj for _, obj in rows]
        lines = pa.array([number for number, _ in rows], pa.int64())
        columns: dict[str, pa.Array] = {}
        for key, path in self.plan.paths.items():
            arrow_type, as_json = self.types[key]
            if "." in path:
                get = _getter(path)
                values = [get(obj) for obj in objects]
            else:
                values = [obj.get(path) for obj in objects]
            if as_json:
                values = [_as_text(v) for v in values]
            columns[key] = pa.array(values, arrow_type)
        ids = None
        if self.plan.id_path is not None:
            get = _getter(self.plan.id_path)
            ids = pa.array([_as_text(get(obj)) for obj in objects], pa.string())
        return columns, lines, ids


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dump(obj: Any, *, ascii: bool = False) -> str:
    return json.dumps(obj, ensure_ascii=ascii)[:HEAD_BYTES]


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
