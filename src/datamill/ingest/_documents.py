"""The record shape every document reader (text, PDF, HTML, DOCX) produces.

One row per document, or per page where a reader splits by page:

| column | type | meaning |
| --- | --- | --- |
| ``id`` | string | ``sha256(name + "\\0" + locator)[:24]``: stable across runs and machines |
| ``text`` | string | the extracted text |
| ``source`` | string | the file's path or URL |
| ``page`` | int32 | 1-based page number, null for a whole document |
| ``mime`` | string | the file's media type |
| ``sha256`` | string | hash of the raw file bytes |
| ``meta`` | string | JSON object: title, author, date, language, url, ... when known |

Private to ``datamill.ingest``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pyarrow as pa

from datamill.core.columns import ID, META, PAGE, SOURCE, TEXT
from datamill.ingest._files import open_binary
from datamill.pipeline.step import StepContext

__all__ = ["DOCUMENT_SCHEMA", "LoadedFile", "document_batch", "document_id", "load_document", "read_capped"]

DOCUMENT_SCHEMA = pa.schema([
    pa.field(ID, pa.string(), nullable=False),
    pa.field(TEXT, pa.string()),
    pa.field(SOURCE, pa.string()),
    pa.field(PAGE, pa.int32()),
    pa.field("mime", pa.string()),
    pa.field("sha256", pa.string()),
    pa.field(META, pa.string()),
])


def document_id(name: str, locator: str = "") -> str:
    """The id of a document (``locator`` ``""``) or of a part of it (``"page=3"``).

    >>> document_id("a.pdf", "page=1") == document_id("a.pdf", "page=1")
    True
    >>> len(document_id("a.pdf"))
    24
    """
    return hashlib.sha256(f"{name}\0{locator}".encode()).hexdigest()[:24]


def document_batch(records: Sequence[Mapping[str, Any]]) -> pa.RecordBatch:
    """Records (dicts with the columns above; ``meta`` a dict) as one batch in the schema.

    >>> document_batch([{"id": "a", "text": "x", "page": 1, "meta": {"b": 2}}]).to_pylist()[0]["meta"]
    '{"b": 2}'
    """
    # Column by column into typed arrays: a reader makes one small batch per file, and
    # from_pylist / from_pydict cost several times more per one-row batch (timed by hand) than
    # the reader's own work outside the parser.
    arrays = [
        pa.array(
            [json.dumps(r.get(META) or {}, ensure_ascii=False, sort_keys=True, default=str) for r in records]
            if field.name == META else [r.get(field.name) for r in records],
            type=field.type,
        )
        for field in DOCUMENT_SCHEMA
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=DOCUMENT_SCHEMA)


def read_capped(path: str, max_bytes: int) -> tuple[bytes | None, str]:
    """The file's bytes and their sha256, or ``(None, sha256 of the first bytes)`` if too large.

    Reads in chunks so a huge file never gets into memory past ``max_bytes``.
    """
    digest = hashlib.sha256()
    data = bytearray()
    with open_binary(path) as handle:
        while True:
            chunk = handle.read(min(8 << 20, max_bytes + 1 - len(data)))
            if not chunk:
                break
            digest.update(chunk)
            data += chunk
            if len(data) > max_bytes:
                return None, digest.hexdigest()
    return bytes(data), digest.hexdigest()


class LoadedFile(NamedTuple):
    """A document file read whole: its name, path, bytes and their sha256."""

    name: str
    path: str
    data: bytes
    sha256: str


def load_document(partition: Mapping[str, Any], ctx: StepContext, max_bytes: int) -> LoadedFile | None:
    """Read a partition's file for a document reader, or account for it and return None.

    An unreadable file is quarantined (``unreadable_file``), one over ``max_bytes`` too
    (``too_large``, without reading past the cap); an empty file is dropped (``empty_file``),
    as ``read.text`` and ``read.html`` do: a document reader gives one record per file, so the
    ledger names the file that gave none. (Table readers count ``empty_files`` instead: an
    empty table has no rows to account for.)
    """
    path = str(partition["path"])
    name = str(partition.get("name") or path.rsplit("/", 1)[-1])
    whole = {ID: document_id(name), SOURCE: path}
    try:
        data, sha256 = read_capped(path, max_bytes)
    except OSError as err:
        ctx.quarantine([whole], reason="unreadable_file",
                       error=f"{path!r} cannot be read: {type(err).__name__}: {err}")
        return None
    if data is None:
        ctx.quarantine([{**whole, "sha256_prefix": sha256}], reason="too_large",
                       error=f"{path!r} is larger than max_bytes={max_bytes:,}")
        return None
    if not data:
        ctx.drop(1, reason="empty_file")
        return None
    return LoadedFile(name, path, data, sha256)
