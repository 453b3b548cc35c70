"""Compressed files and zip archives, read as streams whose decompression is bounded.

A ``.gz``, ``.bz2``, ``.xz`` or ``.zst`` file is read through its codec; a member of a zip
archive is addressed by fsspec's chained URL ``zip://<member>::<archive URL>`` (so any fsspec
tool can open it too) and read through `zipfile`. Either way the bytes that come out are
counted as they stream, never trusting a size some header declares, and two limits apply:

- ``max_decompressed_bytes``: no file or member inflates past this many bytes;
- ``max_compression_ratio``: once `RATIO_CHECK_AFTER` bytes came out, no more than this many
  bytes out per byte of compressed input read so far (zeros deflate about 1000:1, real text
  3-10:1, so a zip bomb is stopped after a few MiB instead of filling the disk or memory).

A stream that trips a limit raises `DecompressionLimitError`; one whose compressed data is
broken (truncated, a bad CRC, not the format its name says) raises `CorruptArchiveError`.
They are not ``OSError``: the file readers turn them into a quarantined record with the
error's ``reason`` (see ``datamill.ingest._files.FileSource``).

Nested archives are not opened: a member that is itself compressed or an archive raises
`NestedArchiveError`.
"""

from __future__ import annotations

import io
import lzma
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from datamill.core.errors import DatamillError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "COMPRESSION_SUFFIXES",
    "RATIO_CHECK_AFTER",
    "ArchiveError",
    "CorruptArchiveError",
    "DecompressionLimitError",
    "DecompressionLimits",
    "NestedArchiveError",
    "UnsupportedArchiveError",
    "compression_of",
    "is_nested_archive",
    "is_zip",
    "member_name",
    "member_url",
    "open_bounded",
    "split_member_url",
    "zip_members",
]

MiB = 1 << 20
GiB = 1 << 30
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")
# Archives and compressed files that are not opened when found inside a zip.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tbz2", ".txz", ".7z", ".rar", ".jar", *COMPRESSION_SUFFIXES)
# The ratio is checked only past this many bytes: a small file that compresses very well
# (a CSV of one repeated line) is harmless, and early on the read-ahead skews the ratio.
RATIO_CHECK_AFTER = 8 * MiB
# Bytes asked of a decoder at a time: the most that can come out between two checks. For a
# zip member it is also about how many compressed bytes zipfile reads ahead, which the ratio
# counts, so it stays small there; pyarrow reads ahead 64 KiB whatever is asked of it.
_CHUNK = 256 * 1024
_ZIP_CHUNK = 64 * 1024
_ARROW_CODECS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd"}
_ZIP_PREFIX = "zip://"
# Open zip archives kept per process, so reading N members parses the directory once.
_OPEN_ZIPS = 8
# What the codecs raise for bad compressed data (zstd and gzip via pyarrow raise OSError).
_DECODE_ERRORS = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)


class ArchiveError(DatamillError):
    """A compressed file or archive member could not be read; ``reason`` is the quarantine code."""

    reason = "corrupt_archive"

    def __init__(self, message: str, *, bytes_out: int = 0) -> None:
        super().__init__(message)
        self.bytes_out = bytes_out


class CorruptArchiveError(ArchiveError):
    """The compressed data is broken: truncated, a bad checksum, or not its format."""

    reason = "corrupt_archive"


class DecompressionLimitError(ArchiveError):
    """Inflating went past ``max_decompressed_bytes`` or ``max_compression_ratio``."""

    reason = "decompression_limit"


class NestedArchiveError(ArchiveError):
    """A zip member that is itself an archive or compressed: it is not opened."""

    reason = "nested_archive"


class UnsupportedArchiveError(ArchiveError):
    """A zip member that is encrypted or uses a compression method other than store/deflate."""

    reason = "unsupported_archive"


@dataclass(frozen=True)
class DecompressionLimits:
    """The two bounds on inflating one file or member.

    >>> DecompressionLimits().max_compression_ratio
    200.0
    """

    max_decompressed_bytes: int = 8 * GiB
    max_compression_ratio: float = 200.0


def compression_of(name: str) -> str | None:
    """The compression suffix of a file name (``.gz``, ``.bz2``, ``.xz``, ``.zst``), if any.

    >>> compression_of("a/B.CSV.GZ"), compression_of("a.csv")
    ('.gz', None)
    """
    lowered = name.lower()
    return next((s for s in COMPRESSION_SUFFIXES if lowered.endswith(s)), None)


def is_zip(name: str) -> bool:
    """Whether a path or URL names a zip archive (by its extension).

    >>> is_zip("/data/Docs.ZIP"), is_zip("zip://a.zip::/data/docs.zip")
    (True, False)
    """
    return split_member_url(name) is None and name.lower().rstrip("/").endswith(".zip")


def is_nested_archive(member: str) -> bool:
    """Whether a zip member is an archive or compressed file (not opened: no recursion).

    >>> is_nested_archive("inner/b.csv.gz"), is_nested_archive("b.csv")
    (True, False)
    """
    return member.lower().endswith(ARCHIVE_SUFFIXES)


def member_url(archive: str, member: str) -> str:
    """The fsspec URL of a member of a zip archive (a local path or any fsspec URL).

    >>> member_url("/data/docs.zip", "a/b.pdf")
    'zip://a/b.pdf::/data/docs.zip'
    """
    return f"{_ZIP_PREFIX}{member}::{archive}"


def split_member_url(url: str) -> tuple[str, str] | None:
    """``(archive, member)`` for a URL made by `member_url`, else None.

    >>> split_member_url("zip://a/b.pdf::/data/docs.zip")
    ('/data/docs.zip', 'a/b.pdf')
    >>> split_member_url("/data/docs.zip") is None
    True
    """
    if not url.startswith(_ZIP_PREFIX) or "::" not in url:
        return None
    member, archive = url[len(_ZIP_PREFIX) :].rsplit("::", 1)
    return archive, member


# ------------------------------------------------------------------------------ zip archives
class _Counted:
    """A file wrapper that counts the bytes read through it (the compressed side)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.count = 0
        self.failed = False  # the underlying file failed: an I/O error, not bad data

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._handle.read(size)
        except OSError:
            self.failed = True
            raise
        self.count += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._handle.seek(offset, whence))

    def tell(self) -> int:
        return int(self._handle.tell())

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return bool(getattr(self._handle, "closed", False))

    def close(self) -> None:
        self._handle.close()


@dataclass
class _OpenZip:
    archive: zipfile.ZipFile
    raw: _Counted
    members: dict[str, zipfile.ZipInfo]
    readers: int = 0  # members being read now: an archive leaving the cache waits for them
    evicted: bool = False

    def close(self) -> None:
        self.archive.close()
        self.raw.close()


_zips: OrderedDict[tuple[str, str], _OpenZip] = OrderedDict()
_zips_lock = threading.Lock()


def _stamp(fs: Any, path: str) -> str:
    info = fs.info(path)
    return f"{info.get('size')}:{info.get('mtime') or info.get('LastModified') or info.get('ETag') or ''}"


def _open_zip(archive: str, *, hold: bool = False) -> _OpenZip:
    """The archive opened (and its directory parsed) once per process while it is unchanged.

    ``hold`` counts the caller as a reader (`_release` when done), so it stays open.
    """
    fs, path = url_to_fs(archive)
    key = (archive, _stamp(fs, path))
    with _zips_lock:
        found = _zips.get(key)
        if found is not None:
            _zips.move_to_end(key)
            found.readers += hold
            return found
    handle = open(path, "rb") if isinstance(fs, LocalFileSystem) else fs.open(path, "rb")  # noqa: SIM115
    raw = _Counted(handle)
    try:
        opened = zipfile.ZipFile(raw)  # type: ignore[arg-type]
    except _DECODE_ERRORS as err:
        handle.close()
        if raw.failed:
            raise
        raise CorruptArchiveError(f"{archive!r} is not a readable zip archive: {_why(err)}") from err
    members: dict[str, zipfile.ZipInfo] = {}
    for info in opened.infolist():
        members[info.filename] = info  # a name given twice: the last wins, as in zipfile
    entry = _OpenZip(opened, raw, members, readers=int(hold))
    with _zips_lock:
        _zips[key] = entry
        while len(_zips) > _OPEN_ZIPS:
            _, old = _zips.popitem(last=False)
            old.evicted = True
            if not old.readers:
                old.close()
    return entry


def _release(entry: _OpenZip) -> None:
    with _zips_lock:
        entry.readers -= 1
        if entry.evicted and not entry.readers:
            entry.close()


def zip_members(archive: str) -> list[str]:
    """The file members of a zip archive, in archive order (folders and hidden files left out).

    Raises `CorruptArchiveError` when the archive's directory cannot be read.
    """
    names = []
    for name, info in _open_zip(archive).members.items():
        if info.is_dir() or any(part.startswith(".") and part != "." for part in name.split("/")):
            continue
        names.append(name)
    return names


def _why(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


# ------------------------------------------------------------------------------ the bounded stream
class _Bounded(io.RawIOBase):
    """Raw stream over a decoder that counts what comes out and enforces the limits."""

    def __init__(self, decoder: Any, compressed: Callable[[], int], failed: Callable[[], bool], *,
                 label: str, limits: DecompressionLimits, chunk: int = _CHUNK) -> None:
        super().__init__()
        self._chunk = chunk
        self._decoder = decoder
        self._compressed = compressed
        self._failed = failed
        self._label = label
        self._limits = limits
        self.bytes_out = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        room = self._limits.max_decompressed_bytes - self.bytes_out + 1
        want = min(len(buffer), self._chunk, room)
        try:
            data = self._decoder.read(want)
        except ArchiveError:
            raise
        except _DECODE_ERRORS as err:
            if self._failed():
                raise  # the file itself failed (a network error...): not bad data
            raise CorruptArchiveError(
                f"{self._label!r} is corrupt or truncated after {self.bytes_out:,} bytes: {_why(err)}",
                bytes_out=self.bytes_out,
            ) from err
        size = len(data)
        buffer[:size] = data
        self.bytes_out += size
        self._check()
        return size

    def _check(self) -> None:
        limits = self._limits
        out = self.bytes_out
        if out > limits.max_decompressed_bytes:
            raise DecompressionLimitError(
                f"{self._label!r} inflates past max_decompressed_bytes={limits.max_decompressed_bytes:,}; "
                "reading stopped there. If the file is genuine, raise `max_decompressed_bytes` in the "
                "step's `with:`.",
                bytes_out=out,
            )
        if out >= RATIO_CHECK_AFTER:
            compressed = max(self._compressed(), 1)
            if out > limits.max_compression_ratio * compressed:
                raise DecompressionLimitError(
                    f"{self._label!r} inflates more than max_compression_ratio="
                    f"{limits.max_compression_ratio:g} ({out:,} bytes out of {compressed:,} compressed, "
                    f"{out / compressed:,.0f}:1): a decompression bomb, or very repetitive data; reading "
                    "stopped there. If the file is genuine, raise `max_compression_ratio` in the step's "
                    "`with:`.",
                    bytes_out=out,
                )


@contextmanager
def open_bounded(url: str, limits: DecompressionLimits | None = None) -> Iterator[IO[bytes]]:
    """Open a compressed file or zip member for reading its inflated bytes, within ``limits``.

    ``url`` is a local path or fsspec URL ending in ``.gz``, ``.bz2``, ``.xz`` or ``.zst``, a
    zip member URL (`member_url`), or a ``.zip`` (which raises `CorruptArchiveError`: only
    members are read, so an archive reaches here only when its directory was unreadable).
    Any other file is opened as it is.

    >>> import gzip, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt.gz")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(gzip.compress(b"hello"))
    >>> with open_bounded(path) as f:
    ...     f.read()
    b'hello'
    """
    limits = limits or DecompressionLimits()
    parts = split_member_url(url)
    with ExitStack() as stack:
        if parts is not None:
            yield stack.enter_context(_open_member(*parts, url, limits))
            return
        if is_zip(url):
            _open_zip(url)  # raises CorruptArchiveError for a broken archive
            raise CorruptArchiveError(f"{url!r} changed while being read: it is now a readable zip "
                                      "archive; run the step again to read its members")
        fs, path = url_to_fs(url)
        local = isinstance(fs, LocalFileSystem)
        handle = stack.enter_context(open(path, "rb") if local else fs.open(path, "rb"))  # noqa: SIM115
        suffix = compression_of(path)
        if suffix is None:
            yield handle
            return
        raw = _Counted(handle)
        decoder: Any
        if suffix == ".xz":
            decoder = stack.enter_context(lzma.LZMAFile(raw))  # type: ignore[arg-type]
        else:
            decoder = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), _ARROW_CODECS[suffix])
            stack.callback(decoder.close)
        bounded = _Bounded(decoder, lambda: raw.count, lambda: raw.failed, label=url, limits=limits)
        yield stack.enter_context(io.BufferedReader(bounded, buffer_size=_CHUNK))


@contextmanager
def _open_member(archive: str, member: str, url: str, limits: DecompressionLimits) -> Iterator[IO[bytes]]:
    if is_nested_archive(member):
        raise NestedArchiveError(
            f"{url!r} is an archive or compressed file inside the zip archive {archive!r}; nested "
            "archives are not opened. Extract it and read it on its own."
        )
    opened = _open_zip(archive, hold=True)
    try:
        info = opened.members.get(member)
        if info is None:
            raise CorruptArchiveError(f"{archive!r} has no member {member!r} (the archive changed?)")
        if info.flag_bits & 0x1:
            raise UnsupportedArchiveError(f"{url!r} is encrypted; encrypted zip members are not read. "
                                          "Extract it with its password first.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # zipfile inflates bzip2 and LZMA members without an output bound: not safe to stream.
            raise UnsupportedArchiveError(
                f"{url!r} is compressed with zip method {info.compress_type}; only stored and "
                "deflated members are read. Re-pack the archive with deflate (the usual zip setting)."
            )
        start = opened.raw.count
        try:
            handle = opened.archive.open(info)
        except _DECODE_ERRORS as err:
            if opened.raw.failed:
                raise
            raise CorruptArchiveError(f"{url!r} cannot be opened: {_why(err)}") from err
        bounded = _Bounded(handle, lambda: opened.raw.count - start, lambda: opened.raw.failed,
                           label=url, limits=limits, chunk=_ZIP_CHUNK)
        with handle, io.BufferedReader(bounded, buffer_size=_ZIP_CHUNK) as stream:
            yield stream
    finally:
        _release(opened)


def member_name(archive_name: str, member: str) -> str:
    """How a member is named in ids: ``<archive name>!<member path>``.

    >>> member_name("docs.zip", "a/b.pdf")
    'docs.zip!a/b.pdf'
    """
    return f"{archive_name}!{member.lstrip('/')}"
