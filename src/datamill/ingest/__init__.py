"""Readers: Source steps that turn files into Arrow batches, quarantining what they cannot read.

``read.csv`` (`CsvReader`), ``read.jsonl`` (`JsonlReader`) and ``read.parquet``
(`ParquetReader`) take the same file options (``paths``, ``include``, ``exclude``,
``batch_rows``, ``id_column``, ``source_column``); `reader_for` picks one by file extension.
"""

from __future__ import annotations

from datamill.core.errors import ConfigError
from datamill.ingest.csv import CsvReader
from datamill.ingest.jsonl import JsonlReader
from datamill.ingest.parquet import ParquetReader

__all__ = ["CsvReader", "JsonlReader", "ParquetReader", "reader_for"]

_BY_EXTENSION = {
    ".csv": "read.csv",
    ".tsv": "read.csv",
    ".jsonl": "read.jsonl",
    ".ndjson": "read.jsonl",
    ".json": "read.jsonl",
    ".parquet": "read.parquet",
    ".pq": "read.parquet",
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
