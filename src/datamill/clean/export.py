"""Take a dataset out of datamill: files (JSONL, Parquet, CSV) and LangChain / LlamaIndex objects.

`export_dataset` streams a version batch by batch into one file, so memory stays near one
batch whatever the dataset's size. The file is written next to its destination and renamed
into place when complete, so a failed export never leaves half a file under the name.

- ``jsonl``: one JSON object per row, UTF-8 (characters are not ``\\u``-escaped). Timestamps and
  dates are ISO 8601 strings, binary values base64, decimals strings; NaN and infinities
  (which JSON cannot write) become ``null`` in float columns.
- ``parquet``: the Arrow schema as it is (zstd).
- ``csv``: a header and one line per row (pyarrow's writer); nested (lists, structs) and binary
  columns do not fit in CSV and are refused before anything is written: pick columns or use
  another format.

`to_langchain_documents` and `to_llamaindex_nodes` turn rows (chunks from ``chunk.text`` or any
dataset with a text column) into the objects those libraries index. They import their library
only when called, and say which package to install when it is missing.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import ID, TEXT
from datamill.core.dataset import Dataset
from datamill.core.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from llama_index.core.schema import TextNode

__all__ = ["FORMATS", "ExportResult", "export_dataset", "to_langchain_documents", "to_llamaindex_nodes"]

Format = Literal["jsonl", "parquet", "csv"]
FORMATS: tuple[Format, ...] = ("jsonl", "parquet", "csv")
_SUFFIXES: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
                                ".pq": "parquet", ".csv": "csv"}
# Columns about where a chunk sits, not what it says: LlamaIndex leaves them out of the text it
# embeds and shows to the model.
_POSITION_KEYS = ("id", "parent_id", "chunk_index", "start", "end", "sha256", "mime")

Rows: TypeAlias = Dataset | pa.Table | pa.RecordBatch | Iterable[pa.RecordBatch] | str


@dataclass(frozen=True)
class ExportResult:
    """What `export_dataset` wrote."""

    path: str
    format: Format
    rows: int
    bytes: int
    columns: list[str]


def _format_of(path: Path, fmt: str | None) -> Format:
    if fmt is not None:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")
        return fmt  # type: ignore[return-value]
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ConfigError(f"cannot tell the format of {str(path)!r} from its suffix; name it "
                          f"(`--format {'|'.join(FORMATS)}`) or end the file name in .jsonl, .parquet or .csv.")
    return found


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | dt.timedelta):
        return str(value)
    return str(value)


def _finite(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Float columns with NaN and infinities as nulls (JSON has neither)."""
    for index, field in enumerate(batch.schema):
        if pa.types.is_floating(field.type):
            column = batch.column(index)
            batch = batch.set_column(index, field, pc.if_else(pc.is_finite(column), column, None))
    return batch


def _write_jsonl(batches: Iterator[pa.RecordBatch], handle: Any) -> int:
    rows = 0
    for batch in batches:
        lines = [json.dumps(row, ensure_ascii=False, default=_json_default) for row in _finite(batch).to_pylist()]
        if lines:
            handle.write(("\n".join(lines) + "\n").encode("utf-8"))
        rows += batch.num_rows
    return rows


def _write_parquet(batches: Iterator[pa.RecordBatch], handle: Any, schema: pa.Schema) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _check_csv(schema: pa.Schema) -> None:
    """Refuse, before writing anything, the columns pyarrow's CSV writer fails on part-way."""
    nested = [f.name for f in schema if pa.types.is_nested(f.type)]
    binary = [f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)
              or pa.types.is_fixed_size_binary(f.type) or pa.types.is_binary_view(f.type)]
    for names, what in ((nested, "nested values (lists, structs)"), (binary, "binary values")):
        if names:
            raise SchemaError(f"column(s) {', '.join(map(repr, names))} hold {what}, which CSV cannot; export "
                              "other columns with `--columns`, or use `--format jsonl` or `parquet`.")


def _write_csv(batches: Iterator[pa.RecordBatch], handle: Any, schema: pa.Schema) -> int:
    import pyarrow.csv as pcsv

    rows = 0
    with pcsv.CSVWriter(handle, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def export_dataset(
    dataset: Dataset,
    path: str | os.PathLike[str],
    *,
    format: Format | None = None,
    columns: Sequence[str] | None = None,
    batch_size: int = 65_536,
) -> ExportResult:
    """Write a version to one file, streaming batch by batch (``format`` from the suffix if None).

    >>> import datamill as dm, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> ds = dm.init(str(folder)).write("notes", pa.table({"id": ["a"], "text": ["café"]}))
    >>> export_dataset(ds, folder / "notes.jsonl").rows
    1
    >>> (folder / "notes.jsonl").read_text(encoding="utf-8")
    '{"id": "a", "text": "café"}\\n'
    """
    target = Path(path)
    fmt = _format_of(target, format)
    cols = list(columns) if columns else None
    if cols is not None:
        missing = [c for c in cols if c not in dataset.schema.names]
        if missing:
            raise SchemaError(f"{dataset.ref} has no column {', '.join(map(repr, missing))}; it has "
                              f"{', '.join(dataset.schema.names)}.")
    schema = dataset.schema if cols is None else pa.schema([dataset.schema.field(c) for c in cols])
    if fmt == "csv":
        _check_csv(schema)
    if target.is_dir():
        example = str(target / f"data.{fmt}")
        raise ConfigError(f"{str(target)!r} is a directory; give a file name, e.g. {example!r}.")
    if not target.parent.is_dir():
        raise ConfigError(f"the folder {str(target.parent)!r} does not exist; create it first.")
    batches = dataset.batches(cols, batch_size=batch_size)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as handle:
            if fmt == "jsonl":
                rows = _write_jsonl(batches, handle)
            elif fmt == "parquet":
                rows = _write_parquet(batches, handle, schema)
            else:
                rows = _write_csv(batches, handle, schema)
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportResult(str(target), fmt, rows, target.stat().st_size, schema.names)


def _batches(data: Rows) -> Iterator[pa.RecordBatch]:
    if isinstance(data, str):
        import datamill

        data = datamill.open(data)
    if isinstance(data, Dataset):
        yield from data.batches()
    elif isinstance(data, pa.Table):
        yield from data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        yield data
    else:
        yield from data


def _records(data: Rows, text_column: str, metadata_columns: Sequence[str] | None
             ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(text, metadata) per row; metadata leaves out nulls (vector stores refuse them)."""
    for batch in _batches(data):
        names = batch.schema.names
        if text_column not in names:
            raise SchemaError(f"no text column {text_column!r}: the rows have {', '.join(names)}. "
                              "Name yours with `text_column=`.")
        keys = [c for c in names if c != text_column] if metadata_columns is None else list(metadata_columns)
        missing = [c for c in keys if c not in names]
        if missing:
            raise SchemaError(f"`metadata_columns` names {', '.join(map(repr, missing))}, which the rows do not "
                              f"have; they have {', '.join(names)}.")
        texts = batch.column(text_column).to_pylist()
        metas = batch.select(keys).to_pylist()
        for text, meta in zip(texts, metas, strict=True):
            if text is None:
                raise SchemaError(f"row {meta.get(ID)!r} has no text (null {text_column!r}); drop such rows first, "
                                  "e.g. with `chunk.text` (it drops them as empty_text) or `filter.expr`.")
            yield text, {k: v for k, v in meta.items() if v is not None}


def to_langchain_documents(
    data: Rows,
    *,
    text_column: str = TEXT,
    metadata_columns: Sequence[str] | None = None,
) -> list[Document]:
    """Rows as LangChain ``Document``s: ``page_content`` is the text, the other columns metadata.

    ``data`` is a dataset (or a reference such as ``"chunks@2"``), an Arrow table, a batch or
    batches. ``metadata_columns`` picks the metadata (default: every column but the text); null
    values are left out, and ``meta`` stays the JSON string it is in the dataset, since vector
    stores take flat metadata only. ``Document.id`` is the row's ``id``. Needs ``langchain-core``.

    >>> docs = to_langchain_documents(pa.table({"id": ["d#0"], "text": ["Hi."], "start": [0], "end": [3]}))
    >>> docs[0].page_content, docs[0].id, docs[0].metadata
    ('Hi.', 'd#0', {'id': 'd#0', 'start': 0, 'end': 3})
    """
    try:
        from langchain_core.documents import Document
    except ImportError as err:
        raise ImportError("to_langchain_documents() needs LangChain's core package: "
                          "pip install langchain-core") from err
    return [Document(page_content=text, metadata=meta, id=None if meta.get(ID) is None else str(meta[ID]))
            for text, meta in _records(data, text_column, metadata_columns)]


def to_llamaindex_nodes(
    data: Rows,
    *,
    text_column: str = TEXT,
    metadata_columns: Sequence[str] | None = None,
) -> list[TextNode]:
    """Rows as LlamaIndex ``TextNode``s, with ``start``/``end`` as the nodes' character offsets.

    Takes the same ``data`` as `to_langchain_documents`. The node id is the row's ``id``; a
    ``parent_id`` becomes the node's SOURCE relationship (LlamaIndex's ``ref_doc_id``); the
    position columns (id, parent_id, chunk_index, start, end, sha256, mime) stay in the metadata
    but out of the text LlamaIndex embeds and shows the model. Needs ``llama-index-core``.

    >>> nodes = to_llamaindex_nodes(pa.table({"id": ["d#0"], "text": ["Hi."], "parent_id": ["d"],
    ...                                       "start": [0], "end": [3]}))
    >>> nodes[0].node_id, nodes[0].ref_doc_id, nodes[0].start_char_idx, nodes[0].end_char_idx
    ('d#0', 'd', 0, 3)
    """
    try:
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
    except ImportError as err:
        raise ImportError("to_llamaindex_nodes() needs LlamaIndex's core package: "
                          "pip install llama-index-core") from err
    nodes = []
    for text, meta in _records(data, text_column, metadata_columns):
        hidden = [k for k in _POSITION_KEYS if k in meta]
        options: dict[str, Any] = {}
        if meta.get(ID) is not None:
            options["id_"] = str(meta[ID])
        if meta.get("parent_id") is not None:
            options["relationships"] = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=str(meta["parent_id"]))}
        nodes.append(TextNode(
            text=text, metadata=meta, start_char_idx=meta.get("start"), end_char_idx=meta.get("end"),
            excluded_embed_metadata_keys=hidden, excluded_llm_metadata_keys=hidden, **options))
    return nodes
