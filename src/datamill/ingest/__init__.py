"""Readers: Source steps that turn files into Arrow batches, quarantining what they cannot read.

Tables: ``read.csv`` (`CsvReader`), ``read.jsonl`` (`JsonlReader`), ``read.parquet``
(`ParquetReader`). Documents, one record per file or page in one schema (id, text, source,
page, mime, sha256, meta): ``read.text``, ``read.html``, ``read.pdf``, ``read.docx``. All take
the same file options (``paths``, ``include``, ``exclude``, ``source_column``, ...);
`reader_for` picks one by file extension.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from datamill.core.errors import ConfigError

if TYPE_CHECKING:
    from datamill.ingest.csv import CsvReader
    from datamill.ingest.docx import DocxReader
    from datamill.ingest.html import HtmlReader
    from datamill.ingest.jsonl import JsonlReader
    from datamill.ingest.parquet import ParquetReader
    from datamill.ingest.pdf import PdfReader
    from datamill.ingest.text import TextReader

# Readers load on first use: a worker reading Parquet should not carry trafilatura or PDFium.
_MODULES = {"CsvReader": "csv", "DocxReader": "docx", "HtmlReader": "html", "JsonlReader": "jsonl",
            "ParquetReader": "parquet", "PdfReader": "pdf", "TextReader": "text"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"datamill.ingest.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'datamill.ingest' has no attribute {name!r}")


__all__ = ["CsvReader", "DocxReader", "HtmlReader", "JsonlReader", "ParquetReader", "PdfReader",
           "TextReader", "reader_for"]

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
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst")


def reader_for(path: str) -> str:
    """The registry name of the step that reads ``path``, chosen by its extension.

    A compression suffix (``.gz``, ``.bz2``, ``.xz``, ``.zst``) is looked through.

    >>> reader_for("data/reviews.tsv"), reader_for("s3://b/x.jsonl.gz"), reader_for("a.PQ")
    ('read.csv', 'read.jsonl', 'read.parquet')
    """
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
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
