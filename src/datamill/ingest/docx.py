"""``read.docx``: Word documents as Markdown text, one record per document.

The body is read in document order, paragraphs and tables interleaved: a "Title" paragraph
becomes ``# ...``, "Heading N" becomes N ``#``, "List Bullet" / "List Number" items become
``- `` / ``1. `` lines, and a table becomes a Markdown table whose first row is the header.
Blocks are separated by a blank line; empty paragraphs are left out.

Records follow the document schema (``datamill.ingest._documents``): ``id`` is
``document_id(name)``, ``page`` is null (a DOCX has no fixed pages), and ``meta`` holds the
core properties when set: title, author, subject, keywords, language, created, modified.

A file that is not a readable DOCX (not a zip, a zip without ``word/document.xml``,
truncated, bad XML) is quarantined as ``unreadable_file``; one larger than ``max_bytes``
(it is read whole into memory) as ``too_large``. A zero-byte file is dropped as
``empty_file``, as the other document readers do.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from typing import Any

import docx
import pyarrow as pa
from docx.opc.exceptions import OpcError
from docx.table import Table
from docx.text.paragraph import Paragraph
from pydantic import Field

from datamill.core.columns import ID, META, PAGE, SOURCE, TEXT
from datamill.ingest._documents import document_batch, document_id, load_document
from datamill.ingest._files import FileSource, FileSourceConfig
from datamill.pipeline.registry import register
from datamill.pipeline.step import StepContext

__all__ = ["DocxReader", "DocxReaderConfig"]

MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MiB = 1024 * 1024
_HEADING = re.compile(r"^Heading (\d)$")
# What python-docx and the libraries under it raise for bytes that are not a sound DOCX:
# a bad zip, a missing part (KeyError), a wrong content type (ValueError), bad XML (lxml's
# XMLSyntaxError is a SyntaxError).
_UNREADABLE = (zipfile.BadZipFile, OpcError, KeyError, ValueError, EOFError, OSError,
               SyntaxError)


class DocxReaderConfig(FileSourceConfig):
    """Options of ``read.docx``."""

    max_bytes: int = Field(
        512 * _MiB, ge=1,
        description="Files larger than this are quarantined as too_large (a file is read "
        "whole into memory).",
    )


def _cell(text: str) -> str:
    # A pipe would end the cell and a newline the row: escape one, fold the other.
    return " ".join(text.replace("|", "\\|").split())


def _table(table: Table) -> str:
    rows = [[_cell(cell.text) for cell in row.cells] for row in table.rows]
    rows = [row for row in rows if row]
    if not rows:
        return ""
    width = max(len(row) for row in rows)
    rows = [row + [""] * (width - len(row)) for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _paragraph(paragraph: Paragraph) -> str:
    text = paragraph.text.strip()
    if not text:
        return ""
    style = paragraph.style.name if paragraph.style is not None else ""
    style = style or ""
    if style == "Title":
        return f"# {text}"
    heading = _HEADING.match(style)
    if heading:
        return f"{'#' * int(heading.group(1))} {text}"
    if style.startswith("List Bullet"):
        return f"- {text}"
    if style.startswith("List Number"):
        return f"1. {text}"
    return text


def _markdown(document: Any) -> str:
    blocks = []
    for item in document.iter_inner_content():
        block = _table(item) if isinstance(item, Table) else _paragraph(item)
        if block:
            blocks.append(block)
    return "\n\n".join(blocks)


def _meta(document: Any) -> dict[str, Any]:
    props = document.core_properties
    meta: dict[str, Any] = {}
    for key, attr in (("title", "title"), ("author", "author"), ("subject", "subject"),
                      ("keywords", "keywords"), ("language", "language"),
                      ("created", "created"), ("modified", "modified")):
        value = getattr(props, attr, None)
        if isinstance(value, datetime):
            meta[key] = value.isoformat()
        elif value:
            meta[key] = str(value)
    return meta


@register("read.docx")
class DocxReader(FileSource[DocxReaderConfig]):
    """Read Word (.docx) files as Markdown, one record per document.

    >>> DocxReader(paths="a.docx").extensions
    ('.docx',)
    """

    extensions = (".docx",)
    version = 1

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the document as one record; quarantine a file that cannot be read."""
        loaded = load_document(partition, ctx, self.config.max_bytes)
        if loaded is None:
            return
        name, path, data, sha256 = loaded
        doc_id = document_id(name)
        whole = {ID: doc_id, SOURCE: path}
        try:
            document = docx.Document(BytesIO(data))
            text = _markdown(document)
            meta = _meta(document)
        except _UNREADABLE as err:
            ctx.quarantine([{**whole, "sha256": sha256}], reason="unreadable_file",
                           error=f"{path!r} cannot be read as DOCX: {type(err).__name__}: {err}")
            return
        yield document_batch([{
            ID: doc_id,
            TEXT: text,
            SOURCE: path if self.config.source_column else None,
            PAGE: None,
            "mime": MIME,
            "sha256": sha256,
            META: meta,
        }])
