"""``dedup.lines``: remove lines, paragraphs or three-sentence spans repeated across documents.

C4 (Raffel et al., 2020) "discarded all but one of any three-sentence span occurring more
than once in the data set". This step does that, and the same for lines and paragraphs:

* ``sentences3``: every span of three consecutive sentences of a document is a unit. When a
  span repeats, its three sentences are removed from every document but the keeper; a
  sentence goes when *any* span that holds it goes. A document of fewer than three sentences
  has no span, so it is never changed.
* ``line``: every line (split at ``\\n``) is a unit; removing one removes its line break too.
  (TFDS's C4 code dedups lines, not spans.)
* ``paragraph``: blocks separated by a blank line.

**Sentences** are cut by a plain rule, `split_units` with ``sentences3``: a sentence ends after a
run of ``.``, ``!`` or ``?`` (then any closing quotes or brackets) that is followed by white
space and then, after any opening quotes or brackets, an upper-case letter (A–Z or À–Þ); a blank
line also ends one. So "Mr. Smith" is cut after "Mr." and "e.g. the" is not cut: the rule is
cheap and the same everywhere, not a linguist. A compiled scan (numba) follows it on the UTF-8
bytes; the regular expressions here are the readable reference it is tested against.

**Comparing units.** A unit is its sequence of words by the rule of ``datamill.dedup.shingles``
(lower-cased; punctuation and white space only separate words), so case, spacing and quote
style do not make a copy new. Each unit is a 64-bit hash of its words: the word hashes of
`datamill.dedup.shingles.hashed_shingles` (``n = 1``) folded by a polynomial, then mixed; two
different units collide with probability about ``u² / 2⁶⁵`` for ``u`` distinct units. A unit of
fewer than ``min_words`` words (a span: its three sentences together) is never removed.

**Who keeps it.** Of the documents holding a repeated unit, the one with the smallest ``id``
(byte order) keeps it, as in ``dedup.exact``: the same documents change whatever the order or
the sharding of the input. A unit repeated only inside one document is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit
from pydantic import Field

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import TEXT
from datamill.dedup._ids import row_ids
from datamill.dedup.exact import normalize_text
from datamill.dedup.shingles import hashed_shingles
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

_ID_PURPOSE = "the document with the smallest id keeps each repeated unit"

__all__ = [
    "MODEL_SCHEMA",
    "PARAGRAPH_BREAK",
    "SENTENCE_BREAK",
    "LineDedup",
    "LineDedupConfig",
    "Unit",
    "split_units",
]

Unit = Literal["sentences3", "line", "paragraph"]

# The reference rules (`split_units`); ``_piece_starts`` follows them on UTF-8 bytes.
_BLANK_LINE = r"\n[ \t\r\f\v]*\n[ \t\n\r\f\v]*"
PARAGRAPH_BREAK = re.compile(_BLANK_LINE)
SENTENCE_BREAK = re.compile(
    r"[.!?]+[\"')\]\u2019\u201d]*[ \t\n\r\f\v]+(?=[\"'(\[\u2018\u201c]*[A-Z\u00c0-\u00d6\u00d8-\u00de])|" + _BLANK_LINE
)
_MODES = {"line": 0, "paragraph": 1, "sentences3": 2}
SPAN = 3  # sentences per span (C4)
TEXT_CHARS = 200  # of each repeated unit, kept for the side table
_RAW_CHARS = 256  # kept of each unit in the first pass (white space is collapsed for the side table)

# The model: one row per repeated unit, sorted by hash.
MODEL_SCHEMA = pa.schema(
    [
        pa.field("hash", pa.uint64(), nullable=False),
        pa.field("occurrences", pa.int64(), nullable=False),
        pa.field("kept_in", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)
_STATE_SCHEMA = {"hash": pl.UInt64, "occurrences": pl.Int64, "kept_in": pl.Utf8, "text": pl.Utf8}

_ROLL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def split_units(text: str, unit: Unit) -> list[str]:
    """Cut ``text`` into pieces, each a unit with the white space after it (``"".join`` gives ``text`` back).

    >>> split_units("Hi there. It rains! Does it? yes.\\n\\nNew part", "sentences3")
    ['Hi there. ', 'It rains! ', 'Does it? yes.\\n\\n', 'New part']
    >>> split_units("a\\nb\\n", "line"), split_units("a\\nb\\n \\nc", "paragraph")
    (['a\\n', 'b\\n'], ['a\\nb\\n \\n', 'c'])
    """
    if unit == "line":
        parts = text.split("\n")
        return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    pattern = SENTENCE_BREAK if unit == "sentences3" else PARAGRAPH_BREAK
    pieces, start = [], 0
    for found in pattern.finditer(text):
        if found.end() < len(text):
            pieces.append(text[start : found.end()])
            start = found.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


@njit(cache=True, inline="always")
def _space(c: int) -> bool:
    return c == 32 or 9 <= c <= 13


@njit(cache=True, inline="always")
def _closer(data: np.ndarray, j: int, end: int) -> int:
    """Bytes taken by the closing quote or bracket at ``j``: " ' ) ] ’ ” (0 when there is none)."""
    c = data[j]
    if c in (34, 39, 41, 93):
        return 1
    if c == 0xE2 and j + 2 < end and data[j + 1] == 0x80 and data[j + 2] in (0x99, 0x9D):
        return 3
    return 0


@njit(cache=True, inline="always")
def _opener(data: np.ndarray, j: int, end: int) -> int:
    """Bytes taken by the opening quote or bracket at ``j``: " ' ( [ ‘ “ (0 when there is none)."""
    c = data[j]
    if c in (34, 39, 40, 91):
        return 1
    if c == 0xE2 and j + 2 < end and data[j + 1] == 0x80 and data[j + 2] in (0x98, 0x9C):
        return 3
    return 0


@njit(cache=True, inline="always")
def _upper(data: np.ndarray, m: int, end: int) -> bool:
    """Whether an upper-case letter A–Z or À–Þ (not ×) starts at ``m``."""
    c = data[m]
    if 65 <= c <= 90:
        return True
    return c == 0xC3 and m + 1 < end and (0x80 <= data[m + 1] <= 0x96 or 0x98 <= data[m + 1] <= 0x9E)


@njit(cache=True)
def _scan(data: np.ndarray, start: int, end: int, mode: int, out: np.ndarray, w: int) -> int:
    """Write where each piece of one document starts (see `split_units`); return the new count."""
    out[w] = start
    w += 1
    i = start
    while i < end:
        c = data[i]
        if mode == 0:
            if c == 10 and i + 1 < end:
                out[w] = i + 1
                w += 1
            i += 1
        elif c == 10:  # a blank line?
            j = i + 1
            while j < end and data[j] != 10 and _space(data[j]):
                j += 1
            if j < end and data[j] == 10:
                j += 1
                while j < end and _space(data[j]):
                    j += 1
                if j < end:
                    out[w] = j
                    w += 1
                i = j
            else:
                i += 1
        elif mode == 2 and (c == 46 or c == 33 or c == 63):  # . ! ?
            j = i + 1
            while j < end and (data[j] == 46 or data[j] == 33 or data[j] == 63):
                j += 1
            taken = _closer(data, j, end) if j < end else 0
            while taken:
                j += taken
                taken = _closer(data, j, end) if j < end else 0
            k = j
            while k < end and _space(data[k]):
                k += 1
            if k > j:
                m = k
                taken = _opener(data, m, end) if m < end else 0
                while taken:
                    m += taken
                    taken = _opener(data, m, end) if m < end else 0
                if m < end and _upper(data, m, end):
                    out[w] = k
                    w += 1
                    i = k
                    continue
            i = j
        else:
            i += 1
    return w


@njit(cache=True, nogil=True)
def _piece_starts(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray]:
    """Where every piece of every non-empty document starts (byte offsets) and its document."""
    n = offsets.shape[0] - 1
    bound = n  # a piece starts at each document, and after a "\n" or a "." "!" "?"
    for i in range(offsets[0], offsets[n]):
        c = data[i]
        if c == 10 or c == 46 or c == 33 or c == 63:
            bound += 1
    starts = np.empty(bound, np.int64)
    docs = np.empty(bound, np.int64)
    w = 0
    for d in range(n):
        if valid[d] and offsets[d + 1] > offsets[d]:
            first = w
            w = _scan(data, offsets[d], offsets[d + 1], mode, starts, w)
            docs[first:w] = d
    return starts[:w].copy(), docs[:w].copy()


@njit(cache=True, nogil=True)
def _copy_ranges(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The byte ranges ``data[start:start + length]``, end to end."""
    out = np.empty(lengths.sum(), np.uint8)
    w = 0
    for r in range(starts.shape[0]):
        out[w : w + lengths[r]] = data[starts[r] : starts[r] + lengths[r]]
        w += lengths[r]
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, on arrays (uint64 arithmetic wraps)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    result: np.ndarray = x ^ (x >> np.uint64(31))
    return result


@dataclass(frozen=True)
class _Units:
    """One batch cut into pieces and units.

    ``pieces`` is a string array of the pieces, zero-copy over ``texts``: piece ``i`` is the bytes
    ``starts[i]:ends[i]`` of document ``piece_doc[i]``. A unit is a piece (``line``,
    ``paragraph``) or three sentences, the pieces with words, of one document (``sentences3``);
    ``unit_members`` names its pieces, ``unit_hash`` and ``unit_doc`` its hash and document.
    """

    texts: pa.LargeStringArray
    pieces: pa.LargeStringArray
    starts: np.ndarray
    ends: np.ndarray
    piece_doc: np.ndarray
    unit_hash: np.ndarray
    unit_doc: np.ndarray
    unit_members: np.ndarray  # (units, k) piece indices: k = 1, or 3 for spans

    def display(self, which: np.ndarray) -> pa.Array:
        """The start of units ``which`` as written: up to `_RAW_CHARS` characters (see `_shown`)."""
        data = _data(self.texts)
        starts = self.starts[self.unit_members[which, 0]]
        full = self.ends[self.unit_members[which, -1]]
        ends = np.minimum(full, starts + 4 * _RAW_CHARS)
        for _ in range(3):  # back off to the start of a UTF-8 character
            ends = ends - ((ends < full) & ((data[np.minimum(ends, len(data) - 1)] & 0xC0) == 0x80))
        return pc.utf8_slice_codeunits(_gather(data, starts, ends - starts), 0, _RAW_CHARS)


def _shown(texts: pa.Array) -> pa.Array:
    """What the side table shows of a unit: white space collapsed, the first `TEXT_CHARS` characters."""
    return pc.utf8_slice_codeunits(normalize_text(texts, ["whitespace"]), 0, TEXT_CHARS).cast(pa.string())


def _data(texts: pa.LargeStringArray) -> np.ndarray:
    data_buf = texts.buffers()[2]
    return np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)


def _gather(
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    groups: np.ndarray | None = None,
    count: int | None = None,
) -> pa.LargeStringArray:
    """A string array of the byte ranges ``data[start:start + length]``, one item per range, or
    one per group when ``groups`` (sorted) says which of ``count`` items each range goes to."""
    gathered = _copy_ranges(data, starts, lengths)
    sizes = lengths if groups is None else np.bincount(groups, weights=lengths, minlength=count or 0).astype(np.int64)
    offsets = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(sizes), pa.py_buffer(offsets), pa.py_buffer(gathered))


def _units(texts: pa.Array, unit: Unit, min_words: int) -> _Units:
    texts = texts.cast(pa.large_string()) if not pa.types.is_large_string(texts.type) else texts
    if texts.null_count:  # null slots may cover bytes: rebuild so documents lie end to end
        texts = texts.take(pa.array(np.arange(len(texts))))
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, count=len(texts) + 1, offset=texts.offset * 8)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    valid = np.asarray(texts.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    starts, piece_doc = _piece_starts(data, offsets, valid, _MODES[unit])
    # Documents lie end to end (null and empty ones are empty), so a piece ends where the next starts.
    bounds = np.append(starts, offsets[-1]).astype(np.int64)
    ends = bounds[1:]
    buffer = data_buf if data_buf is not None else pa.py_buffer(b"")
    pieces = pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(bounds), buffer)
    word_hashes, word_offsets = hashed_shingles(pieces, 1)
    words = np.diff(word_offsets)
    # Each piece's words folded as h = h * ROLL + w, then mixed with the word count.
    position = np.arange(len(word_hashes), dtype=np.int64) - np.repeat(word_offsets[:-1], words)
    powers = np.cumprod(np.full(int(words.max(initial=0)) + 1, _ROLL, np.uint64))
    powers[1:] = powers[:-1].copy()
    powers[0] = np.uint64(1)
    has_words = np.flatnonzero(words > 0)
    weights = word_hashes * powers[np.repeat(words, words) - 1 - position]
    folded = np.add.reduceat(weights, word_offsets[has_words]) if len(has_words) else np.zeros(0, np.uint64)
    piece_hash = _mix(folded ^ words[has_words].astype(np.uint64))
    if unit != "sentences3":
        keep = words[has_words] >= min_words
        members = has_words[keep].reshape(-1, 1)
        return _Units(texts, pieces, starts, ends, piece_doc, piece_hash[keep], piece_doc[members[:, 0]], members)
    # Spans: three consecutive sentences (pieces with words) of one document.
    doc = piece_doc[has_words]
    count = max(len(has_words) - SPAN + 1, 0)
    first = np.flatnonzero(doc[:count] == doc[SPAN - 1 : SPAN - 1 + count])
    span_words = sum(words[has_words[first + j]] for j in range(SPAN))
    first = first[np.asarray(span_words) >= min_words] if len(first) else first
    span_hash = np.zeros(len(first), np.uint64)
    for j in range(SPAN):
        span_hash = _mix(span_hash * _ROLL + piece_hash[first + j])
    members = np.stack([has_words[first + j] for j in range(SPAN)], axis=1).reshape(-1, SPAN)
    return _Units(texts, pieces, starts, ends, piece_doc, span_hash, doc[first], members)


def _empty_state() -> pl.DataFrame:
    return pl.DataFrame(schema=_STATE_SCHEMA)


class LineDedupConfig(StepConfig):
    text_column: str = Field(TEXT, min_length=1, description="The string column to remove repeated units from.")
    unit: Unit = Field(
        "sentences3",
        description="What is compared: `sentences3` every span of three consecutive sentences (C4), "
        "`line` every line, `paragraph` every block between blank lines.",
    )
    min_words: int = Field(3, ge=1, description="Units with fewer words (a span: its sentences together) stay.")
    reason: str = Field(
        "duplicate_lines",
        min_length=1,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The ledger reason for rows left with no text once their repeated units are gone.",
    )


@register("dedup.lines")
class LineDedup(Aggregate[LineDedupConfig, pl.DataFrame, pa.Table]):
    """Remove units (three-sentence spans, lines or paragraphs) repeated across documents; one copy stays.

    The document with the smallest ``id`` keeps each repeated unit; the others lose it and keep
    their row (and id), with the rest of their text. A changed text loses its leading and
    trailing white space; a row left with no text is dropped under ``reason``
    (``duplicate_lines``). Null texts pass through. Metrics: ``units_removed`` (sentences for
    ``sentences3``), ``chars_removed``, ``docs_changed``. `side_table` lists each repeated unit.

    >>> from datamill.testing import make_batch, run_step
    >>> footer = "Subscribe to our newsletter today"
    >>> batch = make_batch(id=["a", "b"], text=[f"Cats purr.\\n{footer}", f"Dogs bark.\\n{footer}"])
    >>> result = run_step(LineDedup(unit="line"), [batch])
    >>> result.output["text"].to_pylist(), result.metrics["units_removed"]
    (['Cats purr.\\nSubscribe to our newsletter today', 'Dogs bark.'], 1.0)
    """

    version = 1
    _cached: tuple[pa.Table, np.ndarray, pa.Array] | None = None

    def required_columns(self) -> dict[str, str]:
        """The text column, named by ``text_column``."""
        return {self.config.text_column: "text_column"}

    def _texts(self, batch: pa.RecordBatch, step: str) -> tuple[pa.Array, int]:
        texts, repaired = repair_utf8(text_array(batch, self.config.text_column, step))
        return texts, repaired

    def partial(self, batches: Any, ctx: StepContext) -> pl.DataFrame:
        """Per distinct unit: how many documents hold it, the smallest id among them and its text."""
        frames = [_empty_state()]
        for batch in batches:
            if not batch.num_rows:
                continue
            ids = row_ids(batch, ctx.step_id, "dedup.lines", _ID_PURPOSE)
            units = _units(self._texts(batch, ctx.step_id)[0], self.config.unit, self.config.min_words)
            if not len(units.unit_hash):
                continue
            frame = pl.DataFrame(
                {"doc": units.unit_doc, "hash": units.unit_hash, "index": np.arange(len(units.unit_hash))},
                schema={"doc": pl.Int64, "hash": pl.UInt64, "index": pl.Int64},
            ).unique(["doc", "hash"], keep="first", maintain_order=True)
            index = frame["index"].to_numpy()
            frame = pl.DataFrame(
                {
                    "hash": frame["hash"],
                    "occurrences": pl.Series(np.ones(len(index), np.int64)),
                    "kept_in": pl.Series(ids.take(pa.array(frame["doc"].to_numpy()))),
                    "text": pl.Series(units.display(index)),
                },
                schema=_STATE_SCHEMA,
            )
            frames.append(frame)
        return self._combine(pl.concat(frames))

    def _combine(self, frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.sort("hash", "kept_in")
            .group_by("hash", maintain_order=True)
            .agg(pl.col("occurrences").sum(), pl.col("kept_in").first(), pl.col("text").first())
        )

    def merge(self, left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
        """Add the counts; keep the smallest id and its text."""
        return self._combine(pl.concat([left, right]))

    def finalize(self, state: pl.DataFrame) -> pa.Table:
        """The units held by more than one document, sorted by hash."""
        repeated = state.filter(pl.col("occurrences") > 1).sort("hash").to_arrow()
        shown = _shown(repeated.column("text").combine_chunks()) if repeated.num_rows else pa.array([], pa.string())
        return repeated.set_column(3, "text", shown).cast(MODEL_SCHEMA)

    def _lookup(self, model: pa.Table) -> tuple[np.ndarray, pa.Array]:
        """The model's hashes (sorted) and keepers, prepared once per model, not once per batch."""
        cached = self._cached
        if cached is None or cached[0] is not model:
            hashes = np.asarray(model.column("hash").to_numpy(), np.uint64)
            cached = self._cached = (model, hashes, model.column("kept_in").combine_chunks())
        return cached[1], cached[2]

    def apply(self, batch: pa.RecordBatch, model: pa.Table, ctx: StepContext) -> Outcome:
        """Remove the repeated units from every document but their keeper; drop rows left empty."""
        for name in ("units_removed", "chars_removed", "docs_changed"):
            ctx.metric(name, 0)
        if not model.num_rows or not batch.num_rows:
            return Outcome(batch)
        ids = row_ids(batch, ctx.step_id, "dedup.lines", _ID_PURPOSE)
        texts, repaired = self._texts(batch, ctx.step_id)
        units = _units(texts, self.config.unit, self.config.min_words)
        hashes, keepers = self._lookup(model)
        at = np.minimum(np.searchsorted(hashes, units.unit_hash), len(hashes) - 1)
        hit = np.flatnonzero(hashes[at] == units.unit_hash)
        if not len(hit):
            return Outcome(batch)
        keeper = keepers.take(pa.array(at[hit]))
        holder = ids.take(pa.array(units.unit_doc[hit]))
        removed_units = hit[np.asarray(pc.not_equal(keeper, holder).to_numpy(zero_copy_only=False), dtype=bool)]
        if not len(removed_units):
            return Outcome(batch)
        removed = np.zeros(len(units.starts), dtype=bool)
        removed[units.unit_members[removed_units].ravel()] = True
        changed = np.zeros(batch.num_rows, dtype=bool)
        changed[units.piece_doc[removed]] = True
        new_texts = self._rebuild(units, removed, changed)
        old_chars = pc.utf8_length(units.texts.filter(pa.array(changed)))
        new_chars = pc.utf8_length(new_texts)
        ctx.metric("units_removed", int(removed.sum()))
        ctx.metric("chars_removed", int(pc.sum(old_chars).as_py() or 0) - int(pc.sum(new_chars).as_py() or 0))
        ctx.metric("docs_changed", int(changed.sum()))
        column = pc.replace_with_mask(texts, pa.array(changed), new_texts.cast(texts.type))
        index = batch.schema.get_field_index(self.config.text_column)
        field = batch.schema.field(index).with_type(texts.type)
        emptied = np.zeros(batch.num_rows, dtype=bool)
        emptied[np.flatnonzero(changed)] = np.asarray(pc.equal(new_chars, 0).to_numpy(zero_copy_only=False), bool)
        # Dropped rows are reported as they came in, with valid UTF-8 so the report can read them.
        original = batch.set_column(index, field, texts) if repaired else batch
        return Outcome(batch.set_column(index, field, column), original=original).drop(
            pa.array(emptied), reason=self.config.reason
        )

    @staticmethod
    def _rebuild(units: _Units, removed: np.ndarray, changed: np.ndarray) -> pa.Array:
        """The changed documents' texts without their removed pieces, white space trimmed."""
        kept = np.flatnonzero(~removed & changed[units.piece_doc])
        # Number the changed documents 0, 1, ... so each kept piece goes to its document's item.
        rank = np.cumsum(changed) - 1
        rebuilt = _gather(
            _data(units.texts),
            units.starts[kept],
            units.ends[kept] - units.starts[kept],
            rank[units.piece_doc[kept]],
            int(changed.sum()),
        )
        return pc.utf8_trim_whitespace(rebuilt)

    def side_table(self, model: pa.Table) -> pa.Table:
        """Each repeated unit: its ``text`` (first 200 characters), ``occurrences`` (documents
        holding it), ``kept_in`` (the id that keeps it) and ``reason``; most repeated first.

        >>> step = LineDedup(unit="line")
        >>> texts = ["x\\nAll rights  reserved here", "all rights reserved here!"]
        >>> batch = pa.record_batch({"id": ["b", "a"], "text": texts})
        >>> step.side_table(step.finalize(step.partial(iter([batch]), StepContext("dedup")))).to_pylist()
        [{'text': 'all rights reserved here!', 'occurrences': 2, 'kept_in': 'a', 'reason': 'duplicate_lines'}]
        """
        order = pc.sort_indices(
            model,
            sort_keys=[
                ("occurrences", "descending"),
                ("kept_in", "ascending"),
                ("text", "ascending"),
                ("hash", "ascending"),
            ],
        )
        table = model.take(order).select(["text", "occurrences", "kept_in"])
        reason = pa.repeat(pa.scalar(self.config.reason, pa.string()), table.num_rows)
        return table.append_column(pa.field("reason", pa.string(), nullable=False), reason)
