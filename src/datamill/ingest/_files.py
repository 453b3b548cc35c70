"""What the file readers share: the common config, listing files, opening them, ids.

Compressed files (``.gz``, ``.bz2``, ``.xz``, ``.zst``) are inflated as they are read, and the
members of ``.zip`` archives are files of their own (``zip://<member>::<archive>``, named
``<archive>!<member>`` in ids), both within the decompression limits of `FileSourceConfig`
(see ``datamill.ingest.archives``). A file or member that trips a limit, or whose compressed
data is broken, is quarantined by every reader the same way: `FileSource` guards each
reader's ``read``.

Private to ``datamill.ingest``: other packages use the reader steps, not these helpers.
"""

from __future__ import annotations

import fnmatch
import functools
import io
import os
import posixpath
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, Any, ClassVar, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from pydantic import Field, field_validator

from datamill.core.columns import ID, SOURCE
from datamill.core.errors import NotFoundError
from datamill.ingest.archives import (
    COMPRESSION_SUFFIXES,
    ArchiveError,
    CorruptArchiveError,
    DecompressionLimits,
    compression_of,
    is_zip,
    member_name,
    member_url,
    open_bounded,
    split_member_url,
    zip_members,
)
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
    "read_at_most",
    "slices",
    "unique_name",
]

_GLOB_CHARS = frozenset("*?[")
# Rows of one quarantine call: bounds the memory a file full of bad rows can hold at once.
QUARANTINE_CHUNK = 4096
# The limits of the step whose ``read`` is running (set by `FileSource`); readers call
# `open_binary` with a path only, so the limits travel this way.
_LIMITS: ContextVar[DecompressionLimits | None] = ContextVar("datamill_decompression_limits",
                                                             default=None)


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
    max_decompressed_bytes: int = Field(
        DecompressionLimits.max_decompressed_bytes, ge=1,
        description="A compressed file or zip member that inflates past this many bytes is "
        "quarantined as decompression_limit (counted as it streams; header sizes are not trusted).",
    )
    max_compression_ratio: float = Field(
        DecompressionLimits.max_compression_ratio, gt=1,
        description="Once 8 MiB came out of a compressed file or zip member, more than this many "
        "bytes out per compressed byte read quarantines it as decompression_limit (zip bombs "
        "inflate about 1000:1, real text 3-10:1).",
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
        if _matches(rel, exclude):
            continue
        # A zip archive is always looked into; its members are matched against `include`.
        if is_zip(rel) or _matches(rel, include, fold_case=fold_case):
            found.append(path)
    return found


@dataclass(frozen=True)
class _Listed:
    """A file found for one given path, before naming: zips are not yet looked into."""

    fs: Any
    path: str
    given: str


def _expand_archive(
    url: str, patterns: Sequence[str], exclude: Sequence[str], fold_case: bool
) -> list[tuple[str, str | None]]:
    """``(url, member)`` for the members of a zip archive that the patterns pick.

    An archive whose directory cannot be read stays one entry (member None): reading it
    quarantines it as corrupt_archive.
    """
    try:
        members = zip_members(url)
    except CorruptArchiveError:
        return [(url, None)]
    return [
        (member_url(url, member), member)
        for member in members
        if _matches(member, patterns, fold_case=fold_case) and not _matches(member, exclude)
    ]


def list_files(
    step: str,
    paths: Sequence[str],
    *,
    include: Sequence[str] | None,
    exclude: Sequence[str],
    default_include: Sequence[str],
) -> list[FileEntry]:
    """Expand files, directories, globs and zip archives into a stable, de-duplicated list.

    Each file's ``name`` is its path relative to the deepest folder holding all of them,
    so ids built from it stay the same when the whole folder moves. A zip archive (given,
    globbed or found in a folder) stands for its members that ``include`` (or the default
    patterns) pick, matched against the member's path inside the archive; a member is
    named ``<archive name>!<member path>`` and its URL is ``zip://<member>::<archive>``.
    """
    patterns = list(default_include if include is None else include)
    fold_case = include is None
    listed: list[_Listed] = []
    for given in paths:
        fs, path = url_to_fs(given)
        if _GLOB_CHARS & set(path):
            matched = [p for p in sorted(fs.glob(path)) if fs.isfile(p)]
            if not matched:
                raise NotFoundError(
                    f"step {step!r}: the pattern {given!r} matches no file. Check the pattern; "
                    "relative paths are resolved against the pipeline's folder."
                )
            listed.extend(_Listed(fs, p, given) for p in matched)
        elif fs.isdir(path):
            # The default extensions match any case (DATA.CSV); the user's patterns are exact.
            walked = _walk(fs, path, patterns, exclude, fold_case=fold_case)
            if not walked:
                raise NotFoundError(
                    f"step {step!r}: the folder {given!r} has no file matching "
                    f"include={patterns} and exclude={list(exclude)}. Set `include` to the "
                    "file names to read."
                )
            listed.extend(_Listed(fs, p, given) for p in walked)
        elif fs.isfile(path):
            listed.append(_Listed(fs, path, given))
        else:
            raise NotFoundError(
                f"step {step!r}: {given!r} does not exist. Check the path; relative paths are "
                "resolved against the pipeline's folder (or the current directory)."
            )
    seen: set[str] = set()
    # (url, path of the file on its file system, member inside it or None)
    found: list[tuple[str, str, str | None]] = []
    archives: dict[str, list[str]] = {}
    for item in listed:
        url = item.path if is_local(item.fs) else item.fs.unstrip_protocol(item.path)
        pieces: list[tuple[str, str | None]] = [(url, None)]
        if is_zip(item.path):
            pieces = _expand_archive(url, patterns, exclude, fold_case)
            archives.setdefault(item.given, []).append(posixpath.basename(item.path))
        for piece_url, member in pieces:
            if piece_url not in seen:
                seen.add(piece_url)
                found.append((piece_url, item.path, member))
    if not found:
        looked = sorted({name for names in archives.values() for name in names})
        raise NotFoundError(
            f"step {step!r}: none of the zip archives {looked} in {list(paths)} has a member "
            f"matching include={patterns} and exclude={list(exclude)}. Set `include` to the "
            "member names to read, or leave this step out."
        )
    folders = [posixpath.dirname(path) for _, path, _ in found]
    try:
        root = posixpath.commonpath(folders)
    except ValueError:  # nothing in common (say, two buckets)
        root = ""
    entries = []
    for url, path, member in found:
        name = posixpath.relpath(path, root) if root else path.lstrip("/")
        entries.append(FileEntry(url, name if member is None else member_name(name, member)))
    return entries


@contextmanager
def open_binary(path: str) -> Iterator[IO[bytes]]:
    """Open a local path or fsspec URL for reading bytes.

    ``.gz``, ``.bz2``, ``.xz`` and ``.zst`` files are inflated, and zip members
    (``zip://<member>::<archive>``) read, within the decompression limits of the step whose
    ``read`` is running (defaults otherwise). Past a limit the stream raises
    ``DecompressionLimitError``; on broken compressed data ``CorruptArchiveError``.
    """
    stripped, local = path, "://" not in path  # a plain path needs no fsspec lookup
    if not local and "::" not in path:
        fs, stripped = url_to_fs(path)
        local = is_local(fs)
    if local and compression_of(stripped) is None and not is_zip(stripped):
        # Plain local files skip fsspec's wrapper: it is the hot path.
        with open(stripped, "rb") as handle:
            yield handle
        return
    with open_bounded(path, _LIMITS.get() or DecompressionLimits()) as handle:
        yield handle


def read_at_most(handle: IO[bytes], limit: int) -> bytes:
    """Up to ``limit`` bytes of ``handle``, without allocating ``limit`` bytes up front.

    ``read(limit)`` on a file allocates a buffer of ``limit`` bytes before reading; with a
    32 MiB cap that tripled the cost of reading a small page. A file whose size is known is
    read whole when it fits; any other stream in 1 MiB chunks.
    """
    try:
        size = os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        size = 0
    # One more byte than the size, so a file that grew since fstat goes on to the loop.
    first = handle.read(size + 1) if 0 < size < limit else b""
    if first and len(first) <= size:
        return first
    chunks = bytearray(first)
    while len(chunks) < limit:
        chunk = handle.read(min(1 << 20, limit - len(chunks)))
        if not chunk:
            break
        chunks += chunk
    return bytes(chunks)


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
    """A Source with one partition per file, and the id / source columns added the same way.

    Each subclass's ``read`` is guarded: while it runs, `open_binary` applies the step's
    decompression limits, and when a compressed file or zip member trips one (or turns out
    corrupt) the file is quarantined as one record with the error's reason
    (``decompression_limit``, ``corrupt_archive``, ``nested_archive``,
    ``unsupported_archive``); rows the reader gave out before that are kept, the step goes
    on with the next file, and the ledger balances.
    """

    # What a folder listing picks up when `include` is not set (plus the same compressed).
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        read = cls.__dict__.get("read")
        if read is not None and not getattr(read, "_guards_archives", False):
            cls.read = _guard_archives(read)  # type: ignore[method-assign, assignment]

    def files(self) -> list[FileEntry]:
        """The files this step reads, in a stable order (zip archives stand for their members)."""
        patterns = [f"*{ext}" for ext in self.extensions]
        patterns += [f"*{ext}{suffix}" for suffix in COMPRESSION_SUFFIXES for ext in self.extensions]
        return list_files(
            self.label,
            self.config.paths,
            include=self.config.include,
            exclude=self.config.exclude,
            default_include=patterns,
        )

    def partitions(self) -> list[dict[str, Any]]:
        """One partition per file: ``{"path": url, "name": name relative to the root}``.

        A zip member's partition is ``{"path": archive URL, "member": path inside, "name": ...}``:
        the archive is what the runner hashes for the cache key and lineage (once, whatever
        its members hold, bombs and broken ones included), and ``read`` gets the member's URL
        as ``path``.
        """
        pieces: list[dict[str, Any]] = []
        for entry in self.files():
            inside = split_member_url(entry.path)
            if inside is None:
                pieces.append({"path": entry.path, "name": entry.name})
            else:
                pieces.append({"path": inside[0], "member": inside[1], "name": entry.name})
        return pieces

    def decompression_limits(self) -> DecompressionLimits:
        """The limits on inflating one compressed file or zip member, from the config."""
        return DecompressionLimits(self.config.max_decompressed_bytes, self.config.max_compression_ratio)

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


ReadFn = Callable[[Any, dict[str, Any], StepContext], Iterator[pa.RecordBatch]]


def _guard_archives(read: ReadFn) -> ReadFn:
    """Wrap a reader's ``read``: set its limits for `open_binary`, quarantine archive errors.

    The limits are set around each resumption of the reader only, so two readers' batches
    can interleave without one seeing the other's limits.
    """

    @functools.wraps(read)
    def guarded(self: FileSource[Any], partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        if "member" in partition:  # the reader opens the member itself (see `FileSource.partitions`)
            partition = {**partition, "path": member_url(str(partition["path"]), str(partition["member"]))}
        limits = self.decompression_limits()
        rows = 0
        token = _LIMITS.set(limits)
        try:
            batches = iter(read(self, partition, ctx))
        except ArchiveError as err:
            _quarantine_archive(ctx, partition, err, rows)
            return
        finally:
            _LIMITS.reset(token)
        try:
            while True:
                token = _LIMITS.set(limits)
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                except ArchiveError as err:
                    _quarantine_archive(ctx, partition, err, rows)
                    return
                finally:
                    _LIMITS.reset(token)
                rows += batch.num_rows
                yield batch
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    guarded._guards_archives = True  # type: ignore[attr-defined]
    return guarded


def _quarantine_archive(ctx: StepContext, partition: Mapping[str, Any], err: ArchiveError, rows: int) -> None:
    path = str(partition["path"])
    name = str(partition.get("name") or path.rsplit("/", 1)[-1])
    kept = f" The {rows:,} rows read from it before that were kept." if rows else ""
    ctx.quarantine([{ID: name, SOURCE: path, "name": name, "bytes_read": err.bytes_out}],
                   reason=err.reason, error=f"{err}{kept}")


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
