"""A byte stream of valid UTF-8 made from a text file in any encoding, with hostile parts noted.

pyarrow's CSV parser needs valid UTF-8 to report a bad row, and a row no longer than its
block. This stream guarantees both, and records what it changed by physical line number so the
reader can quarantine exactly those rows:

- bytes that are not valid in the file's encoding become U+FFFD; their lines go to ``bad_lines``;
- a physical line longer than ``max_line_bytes`` is replaced by a short stand-in with the same
  quotes and delimiters (and its terminator, so line numbers do not move); its number and
  first bytes go to ``long_lines``. The lines in ``cut_lines`` are emptied and noted the same
  way (the reader cuts the first line of a record too long to parse: that is how it gets past
  a quote that is never closed).

A physical line ends at ``\\n``, ``\\r\\n`` or a lone ``\\r``, as in pyarrow and the csv module.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from collections.abc import Callable, Set
from typing import IO

__all__ = ["HEAD_BYTES", "CleanStream", "count_lines"]

# What a quarantine record keeps of an over-long line (the quarantine truncates at 1 MiB too).
HEAD_BYTES = 1 << 16
_CHUNK = 1 << 20
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_TERMINATOR = re.compile(rb"\r\n|\r|\n")


def count_lines(data: bytes | str, after_cr: bool = False) -> int:
    """How many line terminators ``data`` holds (``\\r\\n`` counts once).

    ``after_cr`` says the text before ``data`` ended with ``\\r``, so a leading ``\\n`` is the
    second half of that terminator.

    >>> count_lines(b"a\\r\\nb\\rc\\nd"), count_lines(b"\\nx", after_cr=True)
    (3, 0)
    """
    if isinstance(data, str):
        cr = data.count("\r")
        n = data.count("\n") + cr - (data.count("\r\n") if cr else 0)
        lead = data.startswith("\n")
    else:
        cr = data.count(b"\r") if b"\r" in data else 0  # ``in`` is much faster than count
        n = data.count(b"\n") + cr - (data.count(b"\r\n") if cr else 0)
        lead = data.startswith(b"\n")
    return n - 1 if after_cr and lead else n


def _lines_of(data: bytes, after_cr: bool) -> tuple[bytes, list[bytes]]:
    """Split into lines with their terminators; a leading ``\\n`` that ends a ``\\r`` is kept
    apart (it belongs to the line before)."""
    lead = b""
    if after_cr and data.startswith(b"\n"):
        lead, data = b"\n", data[1:]
    return lead, data.splitlines(keepends=True)


class ReadOnlyStream:
    """The file interface pyarrow asks of a Python stream: read-only, not seekable."""

    closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class CleanStream(ReadOnlyStream):
    """Read-only file object over ``raw``, giving valid UTF-8 bytes from line ``start_line`` on.

    pyarrow reads it through ``read(n)``; a short read would cut pyarrow's blocks, so ``read``
    returns ``n`` bytes unless the file ends.
    """

    def __init__(
        self,
        raw: IO[bytes],
        *,
        encoding: str,
        max_line_bytes: int,
        start_line: int = 1,
        on_line: Callable[[int, bytes], None] | None = None,
        cut_lines: Set[int] = frozenset(),
        keep: bytes = b'"',
    ) -> None:
        self._raw = raw
        self._cut = cut_lines
        # An over-long line is replaced by a stand-in that keeps its ``keep`` bytes (quotes,
        # the delimiter) in place, so a parser is in the same state after it: dropping a
        # closing quote would change how every following line parses.
        self._filler = re.compile(b"[^" + re.escape(keep) + rb"\r\n]+")
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="surrogateescape")
        # UTF-8 input is checked, not decoded and encoded again; a character cut by the
        # chunk boundary waits in ``_pending`` for the rest of its bytes.
        self._utf8 = codecs.lookup(encoding).name == "utf-8"
        self._pending = b""
        self._max = max_line_bytes
        self._start = start_line
        self._on_line = on_line
        self.bad_lines: set[int] = set()
        self.long_lines: dict[int, str] = {}
        self.longest_line = 0
        self._out: deque[bytes | memoryview] = deque()
        # The last pieces given out: the end of the file, for a look at its last record.
        self._recent: deque[bytes | memoryview] = deque(maxlen=4)
        self._given = 0
        self._out_size = 0
        self._eof = False
        self._hold: list[bytes] = []  # the unfinished last line, kept until its length is known
        self._hold_len = 0
        self._gline = 1  # line number where ``_hold`` starts
        self._gcr = False  # the last byte emitted was a \r
        self._skipping = False  # inside an over-long line: drop bytes until its terminator

    def read(self, size: int = -1) -> bytes:
        while not self._eof and (size < 0 or self._out_size < size):
            self._pump()
        if size < 0 or size >= self._out_size:
            data = b"".join(self._out)
            self._out.clear()
            self._out_size = 0
            return data
        parts = []
        need = size
        while need:
            piece = self._out.popleft()
            if len(piece) > need:
                self._out.appendleft(piece[need:])
                piece = piece[:need]
            parts.append(piece)
            need -= len(piece)
        self._out_size -= size
        return b"".join(parts)

    def tail(self, lines: int) -> bytes | None:
        """The last ``lines`` physical lines given out, or None if they are no longer kept."""
        recent = b"".join(self._recent)
        pieces = recent.splitlines(keepends=True)
        whole = len(recent) == self._given
        if len(pieces) < lines or (len(pieces) == lines and not whole):
            return None
        return b"".join(pieces[-lines:])

    # -- decoding -------------------------------------------------------------------------------
    def _pump(self) -> None:
        chunk = self._raw.read(_CHUNK)
        final = not chunk
        if self._utf8:
            data = self._pending + chunk if self._pending else chunk
            cut = len(data) if final or data.isascii() else _utf8_tail(data)
            data, self._pending = (data, b"") if cut == len(data) else (data[:cut], data[cut:])
            if not data.isascii():
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    text = self._replace_undecodable(data.decode("utf-8", "surrogateescape"))
                    data = text.encode("utf-8")
            self._guard(data, final)
        else:
            text = self._decoder.decode(chunk, final)
            if not text.isascii() and _SURROGATE.search(text):
                text = self._replace_undecodable(text)
            self._guard(text.encode("utf-8"), final)
        if final:
            self._eof = True

    def _replace_undecodable(self, text: str) -> str:
        # surrogateescape turned each bad byte into a lone surrogate; find their lines. The
        # text goes on from the unfinished line the guard holds, which starts on ``_gline``.
        line = self._gline
        start = 0
        if self._gcr and not self._hold_len and not self._skipping and text.startswith("\n"):
            start = 1
        for match in _TEXT_LINE.finditer(text, start):
            if _SURROGATE.search(match.group()):
                self.bad_lines.add(line)
            line += 1
        return _SURROGATE.sub("\ufffd", text)

    # -- line-length guard ------------------------------------------------------------------------
    def _guard(self, data: bytes, final: bool) -> None:
        if self._skipping:
            cut = _first_terminator(data)
            self._emit(self._stand_in(data if cut < 0 else data[:cut]))
            if cut < 0:
                return
            self._skipping = False
            data = data[cut:]
        last = len(data) - 1 if final else max(data.rfind(b"\n"), data.rfind(b"\r"))
        held = self._hold_len
        if self._gline >= self._start and last >= 0 and held + last < self._max:
            # The held part has no terminator, so the chunk's terminators are all there is.
            lines = count_lines(data, self._gcr and not held)
            if not self._cut_between(self._gline, self._gline + lines):
                # The usual case, without copying: whole lines, none too long, none to skip.
                if held:
                    self.longest_line = max(self.longest_line, held + _first_terminator(data))
                self._gline += lines
                self._gcr = data[last : last + 1] == b"\r"
                self._out.extend(self._hold)
                self._out.append(memoryview(data)[: last + 1])
                self._out_size += held + last + 1
                self._recent.extend(self._hold)
                self._recent.append(memoryview(data)[: last + 1])
                self._given += held + last + 1
                self._set_hold(data[last + 1 :])
                return
        if self._gline >= self._start and last < 0 and not final:
            # A line longer than a chunk: keep the pieces; join them only if needed.
            self._hold.append(data)
            self._hold_len += len(data)
            self.longest_line = max(self.longest_line, self._hold_len)
            if self._hold_len > self._max:
                content = b"".join(self._hold)
                self._note_long(self._gline, content, self._hold_len)
                self._emit(self._stand_in(content))
                self._skipping = True
                self._set_hold(b"")
            return
        buf = b"".join([*self._hold, data])
        if final:
            complete, rest = buf, b""
        else:
            last = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
            complete, rest = buf[: last + 1], buf[last + 1 :]
        if len(complete) > self._max or self._cut:
            complete = self._drop_long_lines(complete)
        self._emit(complete)
        if len(rest) > self._max:
            self._note_long(self._gline, rest, len(rest))
            self._emit(self._stand_in(rest))
            self._skipping = True
            rest = b""
        self._set_hold(rest)

    def _cut_between(self, first: int, last: int) -> bool:
        return any(first <= n <= last for n in self._cut)

    def _set_hold(self, rest: bytes) -> None:
        self._hold = [rest] if rest else []
        self._hold_len = len(rest)

    def _drop_long_lines(self, data: bytes) -> bytes:
        lead, lines = _lines_of(data, self._gcr)
        line = self._gline
        kept = [lead]
        for piece in lines:
            content = piece.rstrip(b"\r\n")
            if line in self._cut:  # blanked, so the quote it opened is gone
                self._note_long(line, content, len(content))
                piece = piece[len(content) :]
            elif len(content) > self._max:
                self._note_long(line, content, len(content))
                piece = self._stand_in(content) + piece[len(content) :]
            kept.append(piece)
            line += 1
        return b"".join(kept)

    def _stand_in(self, content: bytes) -> bytes:
        return self._filler.sub(b"x", content)

    def _note_long(self, line: int, content: bytes, size: int) -> None:
        if line >= self._start:
            self.long_lines[line] = content[:HEAD_BYTES].decode("utf-8", "ignore")
        self.longest_line = max(self.longest_line, size)

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if self._gline < self._start:
            data = self._skip_lines(data)
        else:
            self._gline += count_lines(data, self._gcr)
        self._gcr = data.endswith(b"\r") if data else self._gcr
        if data:
            self._out.append(data)
            self._out_size += len(data)
            self._recent.append(data)
            self._given += len(data)

    def _skip_lines(self, data: bytes) -> bytes:
        """Drop the lines before ``start_line`` from ``data``; return what is left."""
        pos = 0
        if self._gcr and data.startswith(b"\n"):
            pos = 1
        for match in _TERMINATOR.finditer(data, pos):
            if self._on_line is not None and self._gline == self._start - 1:
                self._on_line(self._gline, data[pos : match.start()])
            self._gline += 1
            pos = match.end()
            if self._gline >= self._start:
                self._gcr = data[pos - 1 : pos] == b"\r"
                rest = data[pos:]
                self._gline += count_lines(rest, self._gcr)
                return rest
        self._gcr = data.endswith(b"\r")
        return b""


def _utf8_tail(data: bytes) -> int:
    """Where an incomplete UTF-8 character at the end of ``data`` starts (else its length)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: how long its character is
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if need > back else len(data)
    return len(data)


def _first_terminator(data: bytes) -> int:
    found = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    return min(found) if found else -1
