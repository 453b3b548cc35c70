"""``read.csv``: delimited text files, streamed by pyarrow, every row accounted for.

How a file is read, and why:

- The header (and the delimiter, when not given) come from the first 64 KiB, parsed with the
  ``csv`` module. Duplicate or empty column names are renamed (``a``, ``a_2``; ``column_3``)
  and counted in the metric ``renamed_columns``.
- The rest is parsed by ``pyarrow.csv.open_csv`` in one thread, all columns as strings, from a
  stream that is always valid UTF-8 (see ``_lines.CleanStream``). pyarrow reports a row with
  the wrong number of fields to a handler with its *record* number and text; the reader turns
  record numbers into physical line numbers by counting the line breaks inside quoted values,
  so ``id`` = ``<file>:<line>`` is right after multi-line values too.
- Quarantine reasons: ``malformed_row`` (wrong number of fields), ``undecodable`` (bytes not
  valid in ``encoding``; the row's text keeps U+FFFD in their place), ``line_too_long`` (a
  physical line over ``max_line_bytes``, or a record whose values add up to more),
  ``bad_value`` (a value that does not convert to its column type), ``missing_id``.
- A quote that is never closed makes the rest of the file one record. When that record reaches
  the end of the file, its first line is quarantined (``malformed_row``) and reading goes on
  from the next line. When it is too long to parse at all (``max_line_bytes`` + 1 MiB), its
  first line is cut out (``line_too_long``) and reading goes on the same way.
- A row whose fields are all empty (a blank line reads the same way) is dropped, counted as
  ``empty_row``: pyarrow cannot tell ``,,`` from a blank line, and ``,,`` is a record.
- Types: all columns are strings unless ``column_types`` names them, or ``infer_types`` is set;
  then a first pass over the file picks, per column, the first of int64, float64, bool,
  timestamp[us] that every non-empty value converts to (else string). Empty values of typed
  columns are null.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Collection, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
from pydantic import Field, field_validator

from datamill.core.columns import ID, SOURCE
from datamill.core.errors import SchemaError
from datamill.ingest._files import (
    QUARANTINE_CHUNK,
    FileSource,
    FileSourceConfig,
    open_binary,
    provenance_ids,
    slices,
)
from datamill.ingest._lines import HEAD_BYTES, CleanStream, ReadOnlyStream, count_lines
from datamill.pipeline.registry import register
from datamill.pipeline.step import StepContext

__all__ = ["CsvReader", "CsvReaderConfig"]

_SAMPLE_BYTES = 64 << 10
_FIRST_BLOCK = 4 << 20
# Parser blocks grow up to max_line_bytes plus this; a record that still does not fit is cut.
_BLOCK_SLACK = 1 << 20
_SNIFF_DELIMITERS = ",;\t|"
_LINE_END = re.compile(r"\r\n|\r|\n")
# Types tried, in order, when ``infer_types`` is set.
_INFERRED = (pa.int64(), pa.float64(), pa.bool_(), pa.timestamp("us"))
# A file that needs this many restarts of the parser is read no further (see _Scan.run).
_MAX_RESTARTS = 1000


class CsvReaderConfig(FileSourceConfig):
    """Options of ``read.csv``."""

    delimiter: str | None = Field(
        None, description="Field delimiter; None sniffs it from the first 64 KiB (else ',')."
    )
    header: bool = Field(True, description="The first record holds the column names.")
    encoding: str = Field("utf-8", description="Text encoding of the files (a Python codec).")
    column_types: dict[str, str] = Field(
        default_factory=dict,
        description="Arrow type names by column, e.g. {'n': 'int64', 'at': 'timestamp[us]'}.",
    )
    infer_types: bool = Field(
        False,
        description="Infer the other columns' types from the whole file (one extra pass); "
        "otherwise they are strings.",
    )
    max_line_bytes: int = Field(
        64 << 20, ge=1, description="Longer lines (and records) are quarantined as line_too_long."
    )

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value.encode()) != 1 or value in "\r\n\""):
            raise ValueError(
                "the delimiter must be one ASCII character, not a quote or a line break"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as err:
            raise ValueError(f"unknown encoding {value!r}") from err
        return value

    @field_validator("column_types")
    @classmethod
    def _arrow_types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, name in value.items():
            try:
                pa.type_for_alias(name)
            except ValueError as err:
                raise ValueError(
                    f"column {column!r}: {name!r} is not an Arrow type name "
                    "(try string, int64, float64, bool, timestamp[us])"
                ) from err
        return value


def _unique_names(raw: list[str]) -> tuple[list[str], int]:
    """Give empty names a position name and make duplicates unique (``a``, ``a_2``)."""
    names: list[str] = []
    taken = set(raw)
    renamed = 0
    for i, name in enumerate(raw):
        new = name if name else f"column_{i + 1}"
        if new in names or (not name and new in taken):
            base, k = new, 2
            while f"{base}_{k}" in taken or f"{base}_{k}" in names:
                k += 1
            new = f"{base}_{k}"
        renamed += new != name
        names.append(new)
        taken.add(new)
    return names, renamed


@dataclass
class _Head:
    """What the first bytes of a file say: delimiter, column names, where the data starts."""

    delimiter: str
    names: list[str]
    data_line: int
    renamed: int = 0


@dataclass
class _Segment:
    """Parser position: the next record not yet accounted for, as pyarrow and as a line."""

    record: int = 1
    line: int = 1
    pending: deque[tuple[int, str, int]] = field(default_factory=deque)  # record, text, fields


Bad = tuple[str, int, str, str]  # reason, line, raw text, error
Item = tuple[Literal["rows"], pa.RecordBatch, pa.Array] | tuple[Literal["bad"], list[Bad]]


class _Scan:
    """Parse one file after its header into string batches with their lines, and bad rows."""

    def __init__(self, reader: CsvReader, path: str, head: _Head) -> None:
        self.config = reader.config
        self.path = path
        self.head = head
        self.ncols = len(head.names)
        self.restarts = 0
        # First lines of records too long to parse; the stream leaves them out.
        self.cut_lines: set[int] = set()

    def _open(self, raw: Any, start_line: int, on_line: Any = None) -> CleanStream:
        return CleanStream(raw, encoding=self.config.encoding,
                           max_line_bytes=self.config.max_line_bytes, start_line=start_line,
                           on_line=on_line, cut_lines=self.cut_lines,
                           keep=b'"' + self.head.delimiter.encode())

    def run(self) -> Iterator[Item]:
        """Yield ("rows", batch, line starts) and ("bad", [...]) items in file order.

        pyarrow needs a record to fit in one block. When one does not, parsing restarts after
        the rows accounted for, with a bigger block. A record that does not fit in
        ``max_line_bytes`` (plus 1 MiB) cannot be right: its first line is cut out of the
        stream (quarantined as ``line_too_long``) and parsing restarts. A quote that is never
        closed swallows the rest of the file into one record: that record's first line is
        quarantined (``malformed_row``) and parsing restarts on the next line.
        """
        line = self.head.data_line
        block = _FIRST_BLOCK
        cap = max(self.config.max_line_bytes + _BLOCK_SLACK, _FIRST_BLOCK)
        while True:
            seg = _Segment(line=line)
            longest = 0
            straddled = False
            with open_binary(self.path) as raw:
                stream = self._open(raw, line)
                try:
                    resume = yield from self._segment(stream, block, seg)
                except pa.ArrowInvalid as err:
                    if "straddl" not in str(err):
                        yield from self._give_up(seg.line, err)
                        return
                    # pyarrow may have reported bad rows of a block it never yielded; the
                    # restart reads them again.
                    seg.pending.clear()
                    straddled, resume, longest = True, None, stream.longest_line
            if not straddled and resume is None:
                return
            self.restarts += 1
            line = seg.line if resume is None else resume
            if self.restarts > _MAX_RESTARTS:
                yield from self._give_up(line, f"{_MAX_RESTARTS} restarts of the parser")
                return
            if straddled and block < cap:
                block = min(cap, max(block * 4, 1 << (2 * longest + 1).bit_length()))
            elif straddled:
                culprit = self._too_long_record(line)
                if culprit in self.cut_lines:
                    culprit = line
                self.cut_lines.add(culprit)

    def _give_up(self, line: int, why: object) -> Iterator[Item]:
        """Count the rest of the file, from ``line``, as one bad record (nothing is dropped)."""
        yield "bad", [("malformed_row", line, self._line_text(line),
                       f"reading stopped at line {line} ({why}); the rest of the file is "
                       "counted as this one record")]

    def _too_long_record(self, line: int) -> int:
        """The first line from ``line`` on that starts a record over ``max_line_bytes``.

        Judged by quote parity, line by line (pyarrow cannot say which record it choked on).
        Falls back to ``line`` itself.
        """
        limit = self.config.max_line_bytes
        in_quote = False
        start, size, number = line, 0, line
        partial = b""
        with open_binary(self.path) as raw:
            stream = self._open(raw, line)
            read = 0
            while read <= 4 * (limit + _BLOCK_SLACK):
                chunk = stream.read(_FIRST_BLOCK)
                read += len(chunk)
                data = partial + chunk
                pieces = data.splitlines(keepends=True)
                partial = b""
                if chunk and pieces and not pieces[-1].endswith(b"\n"):
                    partial = pieces.pop()  # unfinished, or a \r whose \n may follow
                for piece in pieces:
                    if not in_quote:
                        start, size = number, 0
                    size += len(piece)
                    if piece.count(b'"') % 2:
                        in_quote = not in_quote
                    if in_quote and size > limit:
                        return start
                    number += 1
                if not chunk:
                    break
        return line

    def _line_text(self, line: int) -> str:
        """The text of one physical line (its first HEAD_BYTES), read again from the file."""
        captured: list[bytes] = []
        with open_binary(self.path) as raw:
            stream = self._open(raw, line + 1, lambda _n, text: captured.append(text))
            while not captured and stream.read(_FIRST_BLOCK):
                pass
        return captured[0][:HEAD_BYTES].decode("utf-8", "replace") if captured else ""

    def _tail_text(self, stream: CleanStream, line: int, span: int) -> str:
        """The last record (lines ``line`` to the end), as the parser saw it."""
        kept = stream.tail(span)
        if kept is None:  # longer than what the stream keeps: read it again
            with open_binary(self.path) as raw:
                kept = self._open(raw, line).read()
        return kept.decode("utf-8", "replace")

    def _unclosed(self, text: str) -> bool:
        """Whether ``text`` (the last record of the file) ends inside a quoted value."""
        records = csv.reader(io.StringIO(text, newline=""), delimiter=self.head.delimiter,
                             strict=True)
        try:
            for _ in records:
                pass
        except csv.Error as err:
            return "end of data" in str(err)
        return False

    def _segment(
        self, stream: CleanStream, block: int, seg: _Segment
    ) -> Generator[Item, None, int | None]:
        """Parse from the stream's first line to the end; return a line to restart from."""

        def on_invalid(row: Any) -> str:
            seg.pending.append((int(row.number), str(row.text), int(row.actual_columns)))
            return "skip"

        names = [f"f{i}" for i in range(self.ncols)]
        first = stream.read(1)
        if not first:  # pyarrow refuses an empty stream
            yield from self._leftovers(stream)
            return None
        reader = pv.open_csv(
            _Prefixed(first, stream),
            read_options=pv.ReadOptions(use_threads=False, block_size=block, column_names=names),
            parse_options=pv.ParseOptions(
                delimiter=self.head.delimiter,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
        )
        # The last batch is held back: its last row may be a quote left open to the end.
        held: pa.RecordBatch | None = None
        for batch in reader:
            if batch.num_rows:
                if held is not None:
                    yield from self._place(stream, held, seg, last=False)
                held = batch
        resume = None
        if held is not None:
            resume = yield from self._place(stream, held, seg, last=True)
        if resume is None:
            resume = yield from self._flush_pending(stream, seg, at_end=True)
        if resume is None:
            yield from self._leftovers(stream)
        return resume

    def _place(
        self, stream: CleanStream, batch: pa.RecordBatch, seg: _Segment, *, last: bool
    ) -> Generator[Item, None, int | None]:
        """Give each row its line; quarantine the bad rows among them and around them."""
        m = batch.num_rows
        last_record = seg.record + m - 1
        invalid: list[tuple[int, str, int]] = []
        while seg.pending and seg.pending[0][0] <= last_record:
            invalid.append(seg.pending.popleft())
            last_record += 1
        spans = _spans(batch)
        starts = pc.subtract(pc.cumulative_sum(spans, start=seg.line), spans)
        bad: list[Bad] = []
        if invalid:
            extra = [0] * m
            inclusive = pc.cumulative_sum(spans).to_pylist()
            shift = 0
            for j, (record, text, fields) in enumerate(invalid):
                before = record - seg.record - j  # good rows of this batch that precede it
                line = seg.line + (inclusive[before - 1] if before else 0) + shift
                span = 1 + count_lines(text)
                shift += span
                extra[before] += span
                bad.append(self._invalid(stream, line, span, text, fields))
            starts = pc.add(starts, pc.cumulative_sum(pa.array(extra, pa.int64())))
        seg.record = last_record + 1
        seg.line = int(starts[m - 1].as_py()) + int(spans[m - 1].as_py())
        drop: dict[int, Bad] = {}
        self._mark_hostile(stream, batch, starts, spans, drop)
        self._mark_too_long(batch, starts, drop)
        resume = None
        if last and not seg.pending and int(spans[m - 1].as_py()) > 1:
            start = int(starts[m - 1].as_py())
            tail = self._tail_text(stream, start, int(spans[m - 1].as_py()))
            if self._unclosed(tail):
                drop[m - 1] = ("malformed_row", start, _first_line(tail), _unclosed_error(start))
                resume = start + 1
        bad.extend(drop.values())
        if bad:
            yield "bad", bad
        if drop:
            keep = [True] * m
            for i in drop:
                keep[i] = False
            mask = pa.array(keep, pa.bool_())
            batch, starts = batch.filter(mask), starts.filter(mask)
        if batch.num_rows:
            yield "rows", batch, starts
        return resume

    def _invalid(self, stream: CleanStream, line: int, span: int, text: str, fields: int) -> Bad:
        hostile = self._hostile(stream, line, span)
        if hostile is not None:
            return hostile[0], line, hostile[1] or text, hostile[2]
        return "malformed_row", line, text, f"expected {self.ncols} fields, found {fields}"

    def _hostile(self, stream: CleanStream, line: int, span: int) -> tuple[str, str, str] | None:
        """Whether lines ``line .. line+span-1`` hold an over-long line or undecodable bytes.

        The lines found are forgotten, so one record is quarantined once.
        """
        long = _within(stream.long_lines, line, span)
        bad = _within(stream.bad_lines, line, span)
        heads = [stream.long_lines.pop(n) for n in long]
        stream.bad_lines.difference_update(bad)
        if long:
            return "line_too_long", heads[0], self._too_long_error(long[0])
        if bad:
            return ("undecodable", "",
                    f"line {bad[0]} has bytes that are not valid {self.config.encoding}")
        return None

    def _mark_hostile(
        self, stream: CleanStream, batch: pa.RecordBatch, starts: pa.Array, spans: pa.Array,
        drop: dict[int, Bad],
    ) -> None:
        """Mark rows covering a line the stream noted (bad bytes, over-long)."""
        if not stream.bad_lines and not stream.long_lines:
            return
        first = int(starts[0].as_py())
        end = int(starts[len(starts) - 1].as_py()) + int(spans[len(spans) - 1].as_py())
        lines = [n for n in (*stream.bad_lines, *stream.long_lines) if first <= n < end]
        if not lines:
            return
        start_list = starts.to_pylist()
        span_list = spans.to_pylist()
        for i in sorted({bisect_right(start_list, n) - 1 for n in lines}):
            hostile = self._hostile(stream, start_list[i], span_list[i])
            if hostile is not None:
                raw = hostile[1] or _join(_row(batch, i), self.head.delimiter)
                drop[i] = (hostile[0], start_list[i], raw, hostile[2])

    def _mark_too_long(self, batch: pa.RecordBatch, starts: pa.Array,
                       drop: dict[int, Bad]) -> None:
        """Mark records whose values add up to more than ``max_line_bytes``."""
        limit = self.config.max_line_bytes
        if batch.nbytes <= limit:
            return
        total: Any = None
        for column in batch.columns:
            size = pc.cast(pc.binary_length(column), pa.int64())
            total = size if total is None else pc.add(total, size)
        over = pc.greater(total, limit)
        if not pc.any(over).as_py():
            return
        start_list = starts.to_pylist()
        for i in pc.indices_nonzero(over).to_pylist():
            raw = _join(_row(batch, i), self.head.delimiter)[:HEAD_BYTES]
            drop.setdefault(i, ("line_too_long", start_list[i], raw,
                                f"the record starting on line {start_list[i]} is longer than "
                                f"max_line_bytes={limit}"))

    def _flush_pending(
        self, stream: CleanStream, seg: _Segment, *, at_end: bool
    ) -> Generator[Item, None, int | None]:
        """Invalid rows after the last good one: their lines follow one another."""
        bad: list[Bad] = []
        resume = None
        while seg.pending:
            _, text, fields = seg.pending.popleft()
            span = 1 + count_lines(text)
            if at_end and not seg.pending and span > 1 and self._unclosed(text):
                bad.append(("malformed_row", seg.line, _first_line(text),
                            _unclosed_error(seg.line)))
                resume = seg.line + 1
            else:
                bad.append(self._invalid(stream, seg.line, span, text, fields))
            seg.line += span
            seg.record += 1
        if bad:
            yield "bad", bad
        return resume

    def _too_long_error(self, line: int) -> str:
        limit = self.config.max_line_bytes
        if line in self.cut_lines:
            return (f"the record starting on line {line} is longer than max_line_bytes={limit} "
                    "(a quote that is never closed?); this line is quarantined and reading "
                    "goes on from the next one")
        return f"line {line} is longer than max_line_bytes={limit}"

    def _leftovers(self, stream: CleanStream) -> Iterator[Item]:
        # An over-long last line with no terminator never reached pyarrow.
        bad: list[Bad] = [
            ("line_too_long", n, head, self._too_long_error(n))
            for n, head in sorted(stream.long_lines.items())
        ]
        stream.long_lines.clear()
        if bad:
            yield "bad", bad


def _within(noted: Collection[int], line: int, span: int) -> list[int]:
    """The noted line numbers in ``line .. line+span-1``, in order."""
    if span <= len(noted):
        return [n for n in range(line, line + span) if n in noted]
    return sorted(n for n in noted if line <= n < line + span)


def _first_line(text: str) -> str:
    match = _LINE_END.search(text)
    return text[: match.start()] if match else text


def _unclosed_error(line: int) -> str:
    return (f"a quoted value opened on line {line} is never closed; this line is quarantined "
            "and reading goes on from the next one")


def _row(batch: pa.RecordBatch, i: int) -> list[Any]:
    return [column[i].as_py() for column in batch.columns]


class _Prefixed(ReadOnlyStream):
    """A file object that gives ``first`` and then the rest of ``stream``."""

    def __init__(self, first: bytes, stream: CleanStream) -> None:
        self._first = first
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if not self._first:
            return self._stream.read(size)
        first, self._first = self._first, b""
        if size < 0:
            return first + self._stream.read()
        return first + self._stream.read(size - len(first)) if size > len(first) else first


def _spans(batch: pa.RecordBatch) -> pa.Array:
    """Physical lines each row covers: 1 plus the line breaks inside its values."""
    total: Any = None
    for column in batch.columns:
        # Most columns hold no line break at all; one look at the data buffer says so.
        data = column.buffers()[2]
        if data is None:
            continue
        raw = data.to_pybytes()
        if b"\n" not in raw and b"\r" not in raw:
            continue
        breaks = pc.subtract(
            pc.add(pc.count_substring(column, "\n"), pc.count_substring(column, "\r")),
            pc.count_substring(column, "\r\n"),
        )
        total = breaks if total is None else pc.add(total, breaks)
    if total is None:
        return pa.repeat(pa.scalar(1, pa.int64()), batch.num_rows)
    return pc.add(pc.cast(total, pa.int64()), 1)


def _join(values: list[Any], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(values)
    return out.getvalue()


def _sniff(sample: str, fallback: str) -> str:
    """Guess the delimiter: the only candidate in the first line, else csv.Sniffer's pick.

    The first line decides when it can: csv.Sniffer alone is easily fooled by a short sample
    with quoted commas or line breaks.
    """
    lines = sample.lstrip("\r\n")
    first = _first_line(lines)
    found = [d for d in _SNIFF_DELIMITERS if d in first]
    if len(found) <= 1:
        return found[0] if found else fallback
    cut = max(sample.rfind("\n"), sample.rfind("\r"))
    text = sample[:cut] if cut > 0 else sample
    try:
        return csv.Sniffer().sniff(text, delimiters="".join(found)).delimiter
    except csv.Error:
        return fallback if fallback in found else found[0]


def _cast(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, list[int]]:
    """Convert strings to ``target`` (empty → null); also return the rows that do not convert."""
    if pa.types.is_string(target) or pa.types.is_large_string(target):
        return pc.cast(values, target), []
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    try:
        return pc.cast(values, target), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = _unconvertible(values, target, 0)
        mask = [True] * len(values)
        for i in bad:
            mask[i] = False
        kept = pc.if_else(pa.array(mask), values, pa.scalar(None, pa.string()))
        return pc.cast(kept, target), bad


def _unconvertible(values: pa.Array, target: pa.DataType, offset: int) -> list[int]:
    # Halving finds k bad values in about k·log(n) casts, not n.
    try:
        pc.cast(values, target)
        return []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(values) == 1:
            return [offset]
        mid = len(values) // 2
        return _unconvertible(values.slice(0, mid), target, offset) + _unconvertible(
            values.slice(mid), target, offset + mid
        )


@register("read.csv")
class CsvReader(FileSource[CsvReaderConfig]):
    """Read CSV / TSV files; each malformed, undecodable or over-long row is quarantined.

    ``id`` is ``<file>:<line>`` (the line where the record starts; the header is line 1), or
    the ``id_column`` (or a column named ``id``) as a string. See the module docstring for
    how rows are checked and typed.

    >>> CsvReader(paths="data.csv", delimiter=";").config.delimiter
    ';'
    """

    extensions = (".csv", ".tsv")
    version = 1

    def _head(self, path: str, name: str, ctx: StepContext) -> _Head | None:
        """Read the header and delimiter from the first bytes; None for a file with no record."""
        limit = _SAMPLE_BYTES
        while True:
            with open_binary(path) as raw:
                sample = raw.read(limit)
                whole = len(sample) < limit or not raw.read(1)
            if not sample:
                return None
            text = codecs.getincrementaldecoder(self.config.encoding)(errors="replace").decode(
                sample, whole
            )
            text = text.removeprefix("\ufeff")
            fallback = "\t" if ".tsv" in path.lower() else ","
            delimiter = self.config.delimiter or _sniff(text, fallback)
            buffer = io.StringIO(text, newline="")
            records = csv.reader(buffer, delimiter=delimiter, strict=False)
            first: list[str] | None = None
            # The csv module refuses fields over 128 KiB by default; our own bound is
            # max_line_bytes, checked below. The limit is global, so it is put back after.
            previous = csv.field_size_limit(max(csv.field_size_limit(), limit + 1))
            try:
                for record in records:
                    if record:
                        first = record
                        break
            finally:
                csv.field_size_limit(previous)
            complete = whole or bool(buffer.read(1))
            if first is None and whole:
                return None
            if complete and first is not None:
                break
            if limit > self.config.max_line_bytes:
                ctx.quarantine(
                    [{ID: f"{name}:1", SOURCE: path, "line": 1,
                      "raw": text[:HEAD_BYTES]}],
                    reason="line_too_long",
                    error=f"the first record is longer than max_line_bytes="
                    f"{self.config.max_line_bytes}; the file cannot be read",
                )
                return None
            limit *= 4
        if self.config.header:
            names, renamed = _unique_names(first)
            return _Head(delimiter, names, records.line_num + 1, renamed)
        return _Head(delimiter, [f"column_{i + 1}" for i in range(len(first))], 1)

    def _types(self, head: _Head, path: str) -> dict[str, pa.DataType]:
        types = {c: pa.type_for_alias(t) for c, t in self.config.column_types.items()}
        if not self.config.infer_types:
            return types
        candidates = {
            name: list(_INFERRED) for name in head.names if name not in types
        }
        seen: set[str] = set()
        for item in _Scan(self, path, head).run():
            if item[0] != "rows":
                continue
            batch = item[1]
            for i, name in enumerate(head.names):
                if not candidates.get(name):
                    continue
                column = batch.column(i)
                present = column.filter(pc.not_equal(column, ""))
                if len(present):
                    seen.add(name)
                candidates[name] = [t for t in candidates[name] if _casts(present, t)]
        for name, left in candidates.items():
            types[name] = left[0] if left and name in seen else pa.string()
        return types

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the rows of one file; quarantine the rows that cannot be records."""
        path = str(partition["path"])
        name = str(partition.get("name") or path.rsplit("/", 1)[-1])
        head = self._head(path, name, ctx)
        if head is None:
            return
        if head.renamed:
            ctx.metric("renamed_columns", head.renamed)
        id_from = self.id_source(head.names)
        if id_from is not None and id_from not in head.names:
            raise SchemaError(
                f"step {self.label!r}: `id_column` is {id_from!r} but {path!r} has no such "
                f"column; it has {', '.join(head.names)}."
            )
        unknown = [c for c in self.config.column_types if c not in head.names]
        if unknown:
            raise SchemaError(
                f"step {self.label!r}: `column_types` names {', '.join(map(repr, unknown))}, "
                f"which {path!r} does not have; it has {', '.join(head.names)}."
            )
        types = self._types(head, path)
        scan = _Scan(self, path, head)
        yielded = False
        for item in scan.run():
            if item[0] == "bad":
                self._quarantine(item[1], path, name, ctx)
                continue
            batch, starts = item[1], item[2]
            for start in range(0, batch.num_rows, self.config.batch_rows):
                out = self._records(
                    batch.slice(start, self.config.batch_rows),
                    starts.slice(start, self.config.batch_rows),
                    head, types, id_from, partition, name, ctx,
                )
                if out is not None:
                    yielded = True
                    yield from slices(out, self.config.batch_rows)
        if not yielded:
            # No rows (a header-only file, or every row quarantined): an empty batch still
            # tells the next steps which columns the file has.
            columns = {c: pa.array([], types.get(c, pa.string())) for c in head.names}
            ids = (pa.array([], pa.string()) if id_from is None
                   else pa.array([], columns[id_from].type).cast(pa.string()))
            empty = self.finish(columns, partition=partition, ids=ids, ctx=ctx,
                                provenance=pa.array([], pa.int64()), id_from=id_from)
            if empty is not None:
                yield empty
        if scan.restarts:
            ctx.metric("parser_restarts", scan.restarts)

    def _records(
        self,
        batch: pa.RecordBatch,
        starts: pa.Array,
        head: _Head,
        types: dict[str, pa.DataType],
        id_from: str | None,
        partition: dict[str, Any],
        name: str,
        ctx: StepContext,
    ) -> pa.RecordBatch | None:
        path = str(partition["path"])
        columns = dict(zip(head.names, batch.columns, strict=True))
        # A row of empty fields carries nothing; drop it, counted (see the module docstring).
        empty: Any = None
        for column in batch.columns:
            is_empty = pc.equal(column, "")
            empty = is_empty if empty is None else pc.and_(empty, is_empty)
        n_empty = int(pc.sum(empty).as_py() or 0)
        if n_empty:
            ctx.drop(n_empty, reason="empty_row")
            keep = pc.invert(empty)
            columns = {k: v.filter(keep) for k, v in columns.items()}
            starts = starts.filter(keep)
            batch = batch.filter(keep)
        if not len(starts):
            return None
        failed: dict[int, str] = {}
        for column_name, target in types.items():
            converted, bad = _cast(columns[column_name], target)
            columns[column_name] = converted
            for i in bad:
                value = batch.column(head.names.index(column_name))[i].as_py()
                failed.setdefault(i, f"column `{column_name}`: {value!r} is not {target}")
        if failed:
            rows = sorted(failed)
            line_list = starts.to_pylist()
            bad_rows = [("bad_value", line_list[i], _join(_row(batch, i), head.delimiter),
                         failed[i]) for i in rows]
            self._quarantine(bad_rows, path, name, ctx)
            mask = [True] * len(line_list)
            for i in rows:
                mask[i] = False
            keep_arr = pa.array(mask, pa.bool_())
            columns = {k: v.filter(keep_arr) for k, v in columns.items()}
            starts = starts.filter(keep_arr)
            batch = batch.filter(keep_arr)
        ids = (provenance_ids(name, starts) if id_from is None
               else batch.column(head.names.index(id_from)))
        return self.finish(columns, partition=partition, ids=ids, ctx=ctx, provenance=starts,
                           id_from=id_from)

    def _quarantine(self, bad: list[Bad], path: str, name: str, ctx: StepContext) -> None:
        by_reason: dict[str, tuple[list[Mapping[str, Any]], list[str]]] = {}
        for reason, line, raw, error in bad:
            rows, errors = by_reason.setdefault(reason, ([], []))
            rows.append({ID: f"{name}:{line}", SOURCE: path, "line": line, "raw": raw})
            errors.append(error)
        for reason, (rows, errors) in by_reason.items():
            for start in range(0, len(rows), QUARANTINE_CHUNK):
                ctx.quarantine(rows[start : start + QUARANTINE_CHUNK], reason=reason,
                               error=errors[start : start + QUARANTINE_CHUNK])


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True
