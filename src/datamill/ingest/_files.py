"""What the file readers share: the common config, listing files, opening them, ids.

Private to ``datamill.ingest``: other packages use the reader steps, not these helpers.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, ClassVar, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.utils import infer_compression
from pydantic import Field, field_validator

from datamill.core.columns import ID, SOURCE
from datamill.core.errors import NotFoundError
from datamill.pipeline import base_dir
from datamill.pipeline.step import Source, StepConfig, StepContext

__all__ = [
    "QUARANTINE_CHUNK",
    "FileEntry",
    "FileSource",
    "FileSourceConfig",
    "int_range",
    "is_local",
    "list_files",
    "open_binary",
    "provenance_ids",
    "slices",
    "unique_name",
]

_GLOB_CHARS = frozenset("*?[")
# Rows of one quarantine call: bounds the memory a file full of bad rows can hold at once.
QUARANTINE_CHUNK = 4096


class FileSourceConfig(StepConfig):
    """Options every file reader takes."""

    paths: list[str] = Field(
        min_length=1,
        description="Files, directories (read recursively) or glob patterns; local paths or "
        "fsspec URLs. Relative paths are made absolute when the step is built.",
    )
    include: list[str] | None = Field(
        None,
        description="Glob patterns a file found in a directory must match (default: the "
        "reader's usual extensions). A pattern with '/' matches the path relative to the "
        "directory, one without matches the file name.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Glob patterns of files in directories to skip."
    )
    batch_rows: int = Field(65_536, ge=1, description="Most rows in one output batch.")
    id_column: str | None = Field(
        None,
        description="Input column to use as `id` (cast to string; a row where it is null or "
        "empty is quarantined as missing_id). Default: a column named `id` when the input has "
        "one, else `<file>:<line>` (`<file>:<row>` for Parquet), the file named relative to "
        "the folder holding all the files read.",
    )
    source_column: bool = Field(
        True,
        description="Add a `source` column with the file's path or URL (unless the input "
        "has its own `source` column, which is kept).",
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("paths")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        # Resolved once, here: workers in other processes (or other directories) then agree.
        resolved = []
        for path in value:
            if not path:
                raise ValueError("a path is empty")
            if "://" in path:
                resolved.append(path)
            else:
                expanded = os.path.expanduser(path)
                resolved.append(os.path.normpath(os.path.join(base_dir(), expanded)))
        return resolved


@dataclass(frozen=True)
class FileEntry:
    """A listed file: its URL (or absolute local path) and its name relative to the root."""

    path: str
    name: str


def is_local(fs: Any) -> bool:
    """Whether an fsspec file system is the local disk."""
    return isinstance(fs, LocalFileSystem)


def _matches(rel: str, patterns: Sequence[str], *, fold_case: bool = False) -> bool:
    if fold_case:
        rel = rel.lower()
    base = posixpath.basename(rel)
    return any(fnmatch.fnmatchcase(rel if "/" in p else base, p) for p in patterns)


def _walk(fs: Any, root: str, include: Sequence[str], exclude: Sequence[str],
          fold_case: bool) -> list[str]:
    found = []
    for path in sorted(fs.find(root)):
        rel = posixpath.relpath(path, root)
        # Hidden files and folders (.git, .DS_Store, editor backups) are never data.
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        if _matches(rel, include, fold_case=fold_case) and not _matches(rel, exclude):
            found.append(path)
    return found


def list_files(
    step: str,
    paths: Sequence[str],
    *,
    include: Sequence[str] | None,
    exclude: Sequence[str],
    default_include: Sequence[str],
) -> list[FileEntry]:
    """Expand files, directories and globs into a stable, de-duplicated list of files.

    Each file's ``name`` is its path relative to the deepest folder holding all of them,
    so ids built from it stay the same when the whole folder moves.
    """
    patterns = list(default_include if include is None else include)
    listed: list[tuple[Any, str]] = []
    for given in paths:
        fs, path = url_to_fs(given)
        if _GLOB_CHARS & set(path):
            matched = [p for p in sorted(fs.glob(path)) if fs.isfile(p)]
            if not matched:
                raise NotFoundError(
                    f"step {step!r}: the pattern {given!r} matches no file. Check the pattern; "
                    "relative paths are resolved against the pipeline's folder."
                )
            listed.extend((fs, p) for p in matched)
        elif fs.isdir(path):
            # The default extensions match any case (DATA.CSV); the user's patterns are exact.
            walked = _walk(fs, path, patterns, exclude, fold_case=include is None)
            if not walked:
                raise NotFoundError(
                    f"step {step!r}: the folder {given!r} has no file matching "
                    f"include={patterns} and exclude={list(exclude)}. Set `include` to the "
                    "file names to read."
                )
            listed.extend((fs, p) for p in walked)
        elif fs.isfile(path):
            listed.append((fs, path))
        else:
            raise NotFoundError(
                f"step {step!r}: {given!r} does not exist. Check the path; relative paths are "
                "resolved against the pipeline's folder (or the current directory)."
            )
    seen: set[str] = set()
    urls: list[tuple[str, str]] = []
    for fs, path in listed:
        url = path if is_local(fs) else fs.unstrip_protocol(path)
        if url not in seen:
            seen.add(url)
            urls.append((url, path))
    folders = [posixpath.dirname(path) for _, path in urls]
    try:
        root = posixpath.commonpath(folders)
    except ValueError:  # nothing in common (say, two buckets)
        root = ""
    return [
        FileEntry(url, posixpath.relpath(path, root) if root else path.lstrip("/"))
        for url, path in urls
    ]


@contextmanager
def open_binary(path: str) -> Iterator[IO[bytes]]:
    """Open a local path or fsspec URL for reading bytes; ``.gz`` (and co.) are inflated."""
    fs, stripped = url_to_fs(path)
    compression = infer_compression(stripped)
    if compression is None and is_local(fs):
        # Plain local files skip fsspec's wrapper: it is the hot path.
        with open(stripped, "rb") as handle:
            yield handle
        return
    with fs.open(stripped, "rb", compression=compression) as handle:
        yield handle


def provenance_ids(name: str, numbers: pa.Array) -> pa.Array:
    """``<name>:<n>`` for each number, built without a Python loop.

    >>> provenance_ids("a.csv", pa.array([2, 3])).to_pylist()
    ['a.csv:2', 'a.csv:3']
    """
    if len(numbers) == 0:
        return pa.array([], pa.string())
    digits = pc.cast(numbers, pa.string())
    return pc.binary_join_element_wise(pa.scalar(f"{name}:"), digits, pa.scalar(""))


def int_range(start: int, count: int) -> pa.Array:
    """The int64 array ``start, start + 1, ...`` of length ``count`` (vectorised).

    >>> int_range(5, 3).to_pylist()
    [5, 6, 7]
    """
    if count <= 0:
        return pa.array([], pa.int64())
    ones = pa.repeat(pa.scalar(1, pa.int64()), count)
    return pc.cumulative_sum(ones, start=start - 1)


C = TypeVar("C", bound=FileSourceConfig)


class FileSource(Source[C]):
    """A Source with one partition per file, and the id / source columns added the same way."""

    # What a folder listing picks up when `include` is not set (plus the same with .gz).
    extensions: ClassVar[tuple[str, ...]] = ()

    def files(self) -> list[FileEntry]:
        """The files this step reads, in a stable order."""
        patterns = [f"*{ext}" for ext in self.extensions]
        patterns += [f"*{ext}.gz" for ext in self.extensions]
        return list_files(
            self.label,
            self.config.paths,
            include=self.config.include,
            exclude=self.config.exclude,
            default_include=patterns,
        )

    def partitions(self) -> list[dict[str, Any]]:
        """One partition per file: ``{"path": url, "name": name relative to the root}``."""
        return [{"path": f.path, "name": f.name} for f in self.files()]

    def id_source(self, names: Sequence[str]) -> str | None:
        """The input column that supplies ``id``, if any (``id_column`` or a column ``id``)."""
        if self.config.id_column is not None:
            return self.config.id_column
        return ID if ID in names else None

    def finish(
        self,
        columns: Mapping[str, pa.Array],
        *,
        partition: Mapping[str, Any],
        ids: pa.Array,
        ctx: StepContext,
        id_from: str | None,
        provenance: pa.Array | None = None,
        what: str = "line",
    ) -> pa.RecordBatch | None:
        """Assemble ``id`` + columns + ``source``; quarantine rows whose id is null or empty.

        ``ids`` holds the ids as strings; ``id_from`` names the input column they came from
        (None when they were made from provenance); that column becomes ``id``. A column named
        ``id`` that is not the id source is kept under a new name. ``provenance`` holds the
        rows' line (or row) numbers, recorded in quarantine rows as ``what``.
        """
        data: dict[str, pa.Array] = {ID: ids}
        for key, value in columns.items():
            if key == id_from:
                continue
            if key == ID:
                key = unique_name(ID, [*columns, *data])
            data[key] = value
        path = str(partition["path"])
        if self.config.source_column and SOURCE not in data:
            data[SOURCE] = pa.repeat(pa.scalar(path, pa.string()), len(ids))
        batch = pa.RecordBatch.from_pydict(data)
        if id_from is not None and len(ids):
            missing = pc.fill_null(pc.equal(ids, ""), True)
            if bool(pc.any(missing).as_py()):
                where = provenance.filter(missing).to_pylist() if provenance is not None else None
                rows: list[Mapping[str, Any]] = []
                for i, row in enumerate(batch.filter(missing).to_pylist()):
                    record = {**row, ID: None, SOURCE: path}
                    if where is not None:
                        record[what] = where[i]
                    rows.append(record)
                for start in range(0, len(rows), QUARANTINE_CHUNK):
                    ctx.quarantine(rows[start : start + QUARANTINE_CHUNK], reason="missing_id",
                                   error=f"the id column `{id_from}` is null or empty")
                batch = batch.filter(pc.invert(missing))
        return batch if batch.num_rows or not len(ids) else None


def unique_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... whichever is not taken.

    >>> unique_name("a", ["a", "a_2"])
    'a_3'
    """
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    """Cut ``batch`` into zero-copy slices of at most ``rows`` rows."""
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)
