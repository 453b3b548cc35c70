"""Readers: Source steps that turn files into Arrow batches, quarantining what they cannot read.

Tables: ``read.csv`` (`CsvReader`), ``read.jsonl`` (`JsonlReader`), ``read.parquet``
(`ParquetReader`), ``read.sql`` (`SqlReader`: a query or table of any SQLAlchemy database).
Documents, one record per file or page in one schema (id, text, source, page, mime, sha256,
meta): ``read.text``, ``read.html``, ``read.pdf``, ``read.docx``; from the web, ``read.api``
(`ApiReader`: paged JSON APIs) and ``read.web`` (`WebReader`: pages, robots.txt obeyed). File readers take
the same file options (``paths``, ``include``, ``exclude``, ``source_column``, ...) and read
``.gz``/``.bz2``/``.xz``/``.zst`` files and the members of ``.zip`` archives within decompression
limits (see ``datamill.ingest.archives``); `reader_for` picks one by file extension.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from datamill.core.errors import ConfigError
from datamill.ingest.archives import COMPRESSION_SUFFIXES, split_member_url

if TYPE_CHECKING:
    from datamill.ingest.api import ApiReader
    from datamill.ingest.csv import CsvReader
    from datamill.ingest.docx import DocxReader
    from datamill.ingest.html import HtmlReader
    from datamill.ingest.jsonl import JsonlReader
    from datamill.ingest.parquet import ParquetReader
    from datamill.ingest.pdf import PdfReader
    from datamill.ingest.sql import SqlReader
    from datamill.ingest.text import TextReader
    from datamill.ingest.web import WebReader

# Readers load on first use: a worker reading Parquet should not carry trafilatura or PDFium.
_MODULES = {"ApiReader": "api", "CsvReader": "csv", "DocxReader": "docx", "HtmlReader": "html", "JsonlReader": "jsonl",
            "ParquetReader": "parquet", "PdfReader": "pdf", "SqlReader": "sql", "TextReader": "text",
            "WebReader": "web"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"datamill.ingest.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'datamill.ingest' has no attribute {name!r}")


__all__ = ["ApiReader", "CsvReader", "DocxReader", "HtmlReader", "JsonlReader", "ParquetReader", "PdfReader",
           "SqlReader", "TextReader", "WebReader", "reader_for"]

_BY_EXTENSION = {
    ".csv": "read.csv",
    ".tsv": "read.csv",
    ".jsonl": "read.jsonl",
    ".ndjson": "read.jsonl",
    ".json": "read.jsonl",
    ".parquet": "read.parquet",
    ".pq": "read.parquet",
    ".txt": "read.text",
    ".md": "read.text",
    ".markdown": "read.text",
    ".rst": "read.text",
    ".html": "read.html",
    ".htm": "read.html",
    ".pdf": "read.pdf",
    ".docx": "read.docx",
}
_COMPRESSED = COMPRESSION_SUFFIXES


def reader_for(path: str) -> str:
    """The registry name of the step that reads ``path``, chosen by its extension.

    A compression suffix (``.gz``, ``.bz2``, ``.xz``, ``.zst``) is looked through, and a zip
    member URL (``zip://<member>::<archive>``) is judged by its member. A ``.zip`` archive
    itself has no one reader: each reader reads its members (`datamill ingest` looks inside).

    >>> reader_for("data/reviews.tsv"), reader_for("s3://b/x.jsonl.gz"), reader_for("a.PQ")
    ('read.csv', 'read.jsonl', 'read.parquet')
    >>> reader_for("zip://pages/a.html::/data/site.zip")
    'read.html'
    """
    member = split_member_url(path)
    name = (member[1] if member is not None else path).rstrip("/").rsplit("/", 1)[-1].lower()
    if name.endswith(".zip"):
        raise ConfigError(
            f"no reader for {path!r}: it is a zip archive, whose members each go to the reader "
            "of their type. Give the archive (or its folder) to those readers' `paths`; "
            "`datamill ingest` does that for you."
        )
    for suffix in _COMPRESSED:
        if name.endswith(suffix):
            name = name.removesuffix(suffix)
            break
    dot = name.rfind(".")
    extension = name[dot:] if dot > 0 else ""
    step = _BY_EXTENSION.get(extension)
    if step is None:
        known = ", ".join(sorted(_BY_EXTENSION))
        got = f"extension {extension!r}" if extension else "no extension"
        raise ConfigError(
            f"no reader for {path!r}: it has {got}; readers know {known}. Name the step "
            "yourself (`uses: read.csv`) or rename the file."
        )
    return step
