"""``read.text``: plain-text and Markdown files, one document record per file.

Each file (``.txt``, ``.md``, ``.markdown``, ``.rst``, and the same with ``.gz``) becomes one
record in the document schema (see ``datamill.ingest._documents``): ``id`` is
``document_id(name)``, ``page`` is null, ``mime`` is ``text/plain`` or ``text/markdown``,
``sha256`` hashes the raw bytes and ``meta`` holds the encoding, the byte count and, for
Markdown, the first ``# `` heading as ``title``.

Decoding (`decode_bytes`, shared with ``read.html``): a configured encoding, else strict UTF-8
(a UTF-8 BOM is stripped), else UTF-16/32 announced by a BOM, else charset-normalizer's best
guess. Bytes that look binary (NUL bytes outside UTF-16/32, control characters, or no
plausible encoding) are quarantined as ``binary_file`` rather than emitted as garbage text;
a file bigger than ``max_bytes`` is quarantined as ``too_large``; an empty file is dropped as
``empty_file``.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import charset_normalizer
import pyarrow as pa
from pydantic import Field, field_validator

from datamill.core.columns import ID, SOURCE
from datamill.ingest._documents import document_batch, document_id
from datamill.ingest._files import FileSource, FileSourceConfig, open_binary, read_at_most
from datamill.pipeline.registry import register
from datamill.pipeline.step import StepContext

__all__ = [
    "TextReader",
    "TextReaderConfig",
    "decode_bytes",
    "load_file",
    "plain_name",
]

MiB = 1024 * 1024

# BOMs longest first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 control characters other than tab, newline, vertical tab, form feed, carriage return and
# escape: text files have (almost) none, binary data has about one byte in eight.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
# More than this share of control characters in decoded text means the bytes were not text.
_CONTROL_SHARE = 0.01
# The binary check looks at a prefix: a whole 64 MiB file would cost a full scan for nothing.
_SNIFF = 1 * MiB
# Legacy encodings preferred when charset-normalizer finds them about as plausible as its best.
_WESTERN = ("cp1252", "latin_1", "iso8859_15")
_NEAR_TIE = 0.05
_MARKDOWN = (".md", ".markdown")
_HEADING = re.compile(r"^#[ \t]+(.+?)[ \t]*#*[ \t]*$")


def _looks_binary(text: str) -> bool:
    sample = text[:_SNIFF]
    if not sample:
        return False
    return len(_CONTROL.findall(sample)) > _CONTROL_SHARE * len(sample)


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(
    data: bytes, encoding: str | None = None, *, declared: str | None = None
) -> tuple[str, str] | None:
    """Decode a text file's bytes: ``(text, encoding used)``, or None when they are not text.

    ``encoding`` forces a codec (strict: a byte it cannot decode returns None). Otherwise, in
    order: a BOM (UTF-8, UTF-16, UTF-32; the BOM is removed), strict UTF-8, the ``declared``
    encoding (an HTML page's ``<meta charset>``), then charset-normalizer's best guess.
    NUL bytes outside UTF-16/32, many control characters, or no plausible encoding mean the
    bytes are binary: None.

    >>> decode_bytes("café".encode("latin-1"), "latin-1")
    ('café', 'latin-1')
    >>> decode_bytes(codecs.BOM_UTF16_LE + "hé".encode("utf-16-le"))
    ('hé', 'utf-16')
    >>> decode_bytes(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR") is None
    True
    """
    if encoding is not None:
        text = _strict(data, encoding)
        if text is None or _looks_binary(text):
            return None
        return text, encoding
    for bom, codec in _BOMS:
        if data.startswith(bom):
            # The codecs named here strip their own BOM.
            text = _strict(data, codec)
            if text is not None and not _looks_binary(text):
                return text, codec
            return None
    # UTF-8 and legacy single/double-byte text never holds NUL bytes; binary data usually does.
    if b"\x00" in data[:_SNIFF]:
        return None
    text = _strict(data, "utf-8")
    if text is not None:
        return (None if _looks_binary(text) else (text, "utf-8"))
    if declared is not None:
        text = _strict(data, declared)
        if text is not None and not _looks_binary(text):
            return text, codecs.lookup(declared).name
    guessed = _guess(data)
    if guessed is None or _looks_binary(guessed[0]):
        return None
    return guessed


def _guess(data: bytes) -> tuple[str, str] | None:
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return None
    # charset-normalizer ranks by "chaos" (mess) first; on short Western European text the
    # Baltic/Central European code pages often win by a hair (French "î" read as cp1257 "ī").
    # Windows-1252 is by far the most common legacy encoding, so it wins a near-tie.
    lowest = min(m.chaos for m in matches)
    for preferred in _WESTERN:
        for match in matches:
            if match.encoding == preferred and match.chaos <= lowest + _NEAR_TIE:
                return str(match), match.encoding
    best = matches[0]
    return str(best), best.encoding


def plain_name(name: str) -> str:
    """The lower-cased file name without a compression suffix (``A.MD.gz`` → ``a.md``)."""
    lowered = name.lower()
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        lowered = lowered.removesuffix(suffix)
    return lowered


def load_file(
    partition: dict[str, Any], ctx: StepContext, max_bytes: int
) -> tuple[str, str, bytes] | None:
    """Read a partition's file: ``(name, path, bytes)``, or None after accounting for it.

    An empty file is dropped (``empty_file``); one over ``max_bytes`` bytes (inflated, for a
    ``.gz``) is quarantined as ``too_large`` without reading more than ``max_bytes + 1``.
    """
    path = str(partition["path"])
    name = str(partition.get("name") or path.rsplit("/", 1)[-1])
    with open_binary(path) as handle:
        data = read_at_most(handle, max_bytes + 1)
    if not data:
        ctx.drop(1, reason="empty_file")
        return None
    if len(data) > max_bytes:
        ctx.quarantine(
            [{ID: document_id(name), SOURCE: path, "name": name}],
            reason="too_large",
            error=f"{path!r} is bigger than max_bytes={max_bytes:,} bytes; raise `max_bytes` "
            "to read it",
        )
        return None
    return name, path, data


def quarantine_binary(ctx: StepContext, name: str, path: str, data: bytes,
                      encoding: str | None) -> None:
    """Quarantine a file whose bytes are not text (reason ``binary_file``)."""
    how = f"as {encoding}" if encoding else "as text in any plausible encoding"
    ctx.quarantine(
        [{ID: document_id(name), SOURCE: path, "name": name, "bytes": len(data),
          "head": data[:32].hex()}],
        reason="binary_file",
        error=f"{path!r} cannot be decoded {how}: it looks like binary data",
    )


def markdown_title(text: str) -> str | None:
    """The first ``# `` heading of Markdown text, outside fenced code blocks."""
    fenced = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            match = _HEADING.match(line)
            if match:
                return match.group(1)
    return None


class TextReaderConfig(FileSourceConfig):
    """Options of ``read.text``."""

    encoding: str | None = Field(
        None, description="Codec of every file (e.g. `latin-1`); default: detected per file."
    )
    max_bytes: int = Field(
        64 * MiB, ge=1, description="Files bigger than this are quarantined as too_large."
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError as err:
                raise ValueError(f"unknown encoding {value!r}") from err
        return value


@register("read.text")
class TextReader(FileSource[TextReaderConfig]):
    """Read text and Markdown files, one document record per file.

    >>> TextReader(paths="notes.md").config.encoding is None
    True
    """

    extensions = (".txt", ".md", ".markdown", ".rst")
    version = 1

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the file's one record; drop, or quarantine, a file that is not text."""
        loaded = load_file(partition, ctx, self.config.max_bytes)
        if loaded is None:
            return
        name, path, data = loaded
        decoded = decode_bytes(data, self.config.encoding)
        if decoded is None:
            quarantine_binary(ctx, name, path, data, self.config.encoding)
            return
        text, encoding = decoded
        markdown = plain_name(name).endswith(_MARKDOWN)
        meta: dict[str, Any] = {"encoding": encoding, "bytes": len(data)}
        if markdown:
            meta["title"] = markdown_title(text)
        yield document_batch([{
            "id": document_id(name),
            "text": text,
            "source": path if self.config.source_column else None,
            "page": None,
            "mime": "text/markdown" if markdown else "text/plain",
            "sha256": hashlib.sha256(data).hexdigest(),
            "meta": meta,
        }])
