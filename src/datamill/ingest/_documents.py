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
from typing import Any

import pyarrow as pa

from datamill.core.columns import ID, META, PAGE, SOURCE, TEXT
from datamill.ingest._files import open_binary

__all__ = ["DOCUMENT_SCHEMA", "document_batch", "document_id", "read_capped"]

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
    """Records (dicts with the columns above; ``meta`` a dict) as one batch in the schema."""
    rows = []
    for record in records:
        row = {name: record.get(name) for name in DOCUMENT_SCHEMA.names}
        meta = record.get(META)
        row[META] = json.dumps(meta or {}, ensure_ascii=False, sort_keys=True, default=str)
        rows.append(row)
    return pa.RecordBatch.from_pylist(rows, schema=DOCUMENT_SCHEMA)


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
