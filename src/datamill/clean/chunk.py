"""``chunk.text``: cut documents into overlapping chunks for retrieval, with exact offsets.

The splitting is recursive, like LangChain's ``RecursiveCharacterTextSplitter``: cut the text at
the first separator that occurs in it (``"\\n\\n"``, then ``"\\n"``, ``". "``, ``" "``), pack
consecutive pieces into chunks of at most ``size``, carrying up to ``overlap`` of the end of one
chunk into the next, and split a piece that is still too big with the next separator. A piece
that no separator splits is cut hard, at any character (or token boundary), so a chunk exceeds
``size`` only when one character does (a character can be several byte-level tokens).

Unlike LangChain, a chunk is a span of its parent, never a re-joined string: separators stay in
the text (at the end of the piece before them, or at the start of the next with
``keep_separator: start``), whitespace at the ends of a chunk is trimmed by moving its offsets,
and ``parent_text[start:end] == chunk_text`` always holds (offsets count Unicode code points,
as Python's ``str`` does).

Sizes are in characters, or in tokens of a ``tokenizers`` tokenizer (``tokenizer.json``). For
tokens, each document is encoded once and a piece weighs the tokens that start in it; each
finished chunk is then encoded alone (special tokens excluded) and re-cut if it is over ``size``,
since a tokenizer can merge differently at a chunk's edges than inside the document.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from datamill.core.columns import ID, TEXT
from datamill.core.errors import ConfigError, SchemaError
from datamill.llm.tokenizers import load_tokenizer
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["DEFAULT_SEPARATORS", "ChunkText", "ChunkTextConfig", "chunk_spans"]

DEFAULT_SEPARATORS = ("\n\n", "\n", ". ", " ", "")

Span = tuple[int, int]
# Characters per piece a long document is encoded in (see _TokenCounter.starts).
_SEGMENT = 16_384
# A piece of text to pack: start, end, weight (characters or tokens).
Piece = tuple[int, int, int]


class _Splitter:
    """The recursive splitter over one text; ``weight`` measures a span in the chosen unit."""

    def __init__(self, size: int, overlap: int, separators: Sequence[str], keep_separator: str,
                 strip_whitespace: bool) -> None:
        self.size = size
        self.overlap = overlap
        # "" means "anywhere": it is the hard cut, which happens last in any case.
        self.patterns = [re.compile(re.escape(s)) for s in separators if s]
        self.cut_after = keep_separator == "end"
        self.strip = strip_whitespace

    def spans(self, text: str, weight: Callable[[int, int], int] | None = None,
              hard: Callable[[int, int, list[Span]], None] | None = None) -> list[Span]:
        """Chunk spans of ``text`` in order, trimmed, none inside the one before it."""
        raw: list[Span] = []
        measure = weight or _chars
        cut = hard or self._hard_chars
        if measure(0, len(text)) <= self.size:
            raw.append((0, len(text)))
        else:
            self._split(text, 0, len(text), 0, measure, cut, raw)
        return self._finish(text, raw)

    def _finish(self, text: str, raw: list[Span]) -> list[Span]:
        out: list[Span] = []
        for s, e in raw:
            if self.strip:
                piece = text[s:e]
                left = piece.lstrip()
                s += len(piece) - len(left)
                e = s + len(left.rstrip())
            if s >= e:
                continue
            # Trimmed, a window can end up inside the chunk before it (it would only repeat text),
            # or start where that one does and contain it (it replaces it).
            if out and out[-1][0] <= s and e <= out[-1][1]:
                continue
            if out and out[-1][0] == s:
                out[-1] = (s, e)
                continue
            out.append((s, e))
        return out

    def _split(self, text: str, s: int, e: int, level: int, measure: Callable[[int, int], int],
               hard: Callable[[int, int, list[Span]], None], out: list[Span]) -> None:
        for index in range(level, len(self.patterns)):
            cuts = [m.end() if self.cut_after else m.start()
                    for m in self.patterns[index].finditer(text, s, e)]
            if cuts:
                break
        else:
            hard(s, e, out)
            return
        good: list[Piece] = []
        start = s
        chars = measure is _chars
        for cut in [*cuts, e]:
            if cut <= start:
                continue
            w = cut - start if chars else measure(start, cut)
            if w <= self.size:
                good.append((start, cut, w))
            else:
                if good:
                    self.merge(good, out)
                    good = []
                self._split(text, start, cut, index + 1, measure, hard, out)
            start = cut
        if good:
            self.merge(good, out)

    def merge(self, pieces: list[Piece], out: list[Span]) -> None:
        """Pack consecutive pieces into windows of at most ``size``, overlapping by whole pieces."""
        size, overlap = self.size, self.overlap
        window: deque[Piece] = deque()
        total = 0
        for piece in pieces:
            w = piece[2]
            if window and total + w > size:
                out.append((window[0][0], window[-1][1]))
                while window and (total > overlap or total + w > size):
                    total -= window.popleft()[2]
            window.append(piece)
            total += w
        if window:
            out.append((window[0][0], window[-1][1]))

    def _hard_chars(self, s: int, e: int, out: list[Span]) -> None:
        step = self.size - self.overlap
        pos = s
        while True:
            end = min(pos + self.size, e)
            out.append((pos, end))
            if end >= e:
                return
            pos += step


def _chars(start: int, end: int) -> int:
    return end - start


def chunk_spans(
    text: str,
    *,
    size: int = 1000,
    overlap: int = 200,
    separators: Sequence[str] = DEFAULT_SEPARATORS,
    keep_separator: Literal["end", "start"] = "end",
    strip_whitespace: bool = True,
) -> list[tuple[int, int]]:
    """The ``(start, end)`` character spans of the chunks of ``text`` (see the module docs).

    >>> text = "One fish. Two fish. Red fish. Blue fish."
    >>> spans = chunk_spans(text, size=20, overlap=10)
    >>> [text[s:e] for s, e in spans]
    ['One fish. Two fish.', 'Two fish. Red fish.', 'Red fish. Blue fish.']
    """
    if not 0 <= overlap < size:
        raise ConfigError(f"chunk_spans: `overlap` must be at least 0 and below `size` ({size}), got {overlap}.")
    return _Splitter(size, overlap, separators, keep_separator, strip_whitespace).spans(text)


class _TokenCounter:
    """Token weights for one tokenizer: a document's tokens, counted by where they start."""

    def __init__(self, tokenizer: Tokenizer, splitter: _Splitter) -> None:
        self.tokenizer = tokenizer
        self.splitter = splitter

    def starts(self, texts: list[str]) -> list[list[int]]:
        """Where each token of each text starts (character offsets), in order.

        Long texts are encoded in segments cut after line breaks, all in one parallel batch:
        a whole book in one call would use one core. A token that a cut changes only moves a
        weight by a token; the per-chunk check corrects for it.
        """
        segments: list[str] = []
        owners: list[tuple[int, int]] = []
        for index, text in enumerate(texts):
            pos = 0
            while pos < len(text):
                end = min(pos + _SEGMENT, len(text))
                if end < len(text):
                    cut = text.rfind("\n", pos + _SEGMENT // 2, end)
                    end = cut + 1 if cut >= 0 else end
                segments.append(text[pos:end])
                owners.append((index, pos))
                pos = end
        starts: list[list[int]] = [[] for _ in texts]
        for (index, base), enc in zip(owners, self.tokenizer.encode_batch(segments, add_special_tokens=False),
                                      strict=True):
            starts[index].extend([base + o[0] for o in enc.offsets])
        return starts

    def count(self, texts: list[str]) -> list[int]:
        return [len(enc.ids) for enc in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def spans(self, text: str, starts: list[int]) -> list[Span]:
        def weight(s: int, e: int) -> int:
            return bisect_left(starts, e) - bisect_left(starts, s)

        def hard(s: int, e: int, out: list[Span]) -> None:
            self.splitter.merge(_token_atoms(starts, s, e), out)

        return self.splitter.spans(text, weight, hard)

    def fit(self, text: str, s: int, e: int, oversize: list[Span]) -> list[Span]:
        """Re-cut the span ``[s, e)``, which encodes to more than ``size`` tokens on its own.

        Spans that stay over ``size`` (one character of several tokens) are added to ``oversize``.
        """
        size = self.splitter.size
        enc = self.tokenizer.encode(text[s:e], add_special_tokens=False)
        atoms = _token_atoms([s + o[0] for o in enc.offsets], s, e)
        if len(atoms) <= 1:
            oversize.append((s, e))
            return [(s, e)]
        windows: list[Span] = []
        self.splitter.merge(atoms, windows)
        windows = self.splitter._finish(text, windows)
        counts = self.count([text[a:b] for a, b in windows])
        out: list[Span] = []
        for (a, b), n in zip(windows, counts, strict=True):
            if n <= size:
                out.append((a, b))
            elif (a, b) == (s, e):
                oversize.append((a, b))
                out.append((a, b))
            else:
                out.extend(self.fit(text, a, b, oversize))
        return out


def _outermost(spans: list[Span]) -> list[Span]:
    """The spans not inside another one, by start: re-cut chunks can fall inside their neighbours.

    >>> _outermost([(1, 5), (4, 6), (4, 7), (6, 7)])
    [(1, 5), (4, 7)]
    """
    out: list[Span] = []
    for s, e in sorted(spans, key=lambda span: (span[0], -span[1])):
        if not out or e > out[-1][1]:
            out.append((s, e))
    return out


def _token_atoms(starts: list[int], s: int, e: int) -> list[Piece]:
    """``[s, e)`` cut where tokens start, each part weighing the tokens that start in it."""
    atoms: list[Piece] = []
    lo, hi = bisect_left(starts, s), bisect_left(starts, e)
    left, weight = s, 0
    for i in range(lo, hi):
        at = starts[i]
        if at > left:
            atoms.append((left, at, weight))
            left, weight = at, 0
        weight += 1
    if left < e:
        atoms.append((left, e, weight))
    return atoms


class ChunkTextConfig(StepConfig):
    """Options of ``chunk.text``."""

    size: int = Field(1000, ge=1, description="Most characters (or tokens, with `unit: tokens`) in a chunk.")
    overlap: int = Field(
        200, ge=0, description="Most characters (or tokens) of a chunk's end repeated at the next one's start."
    )
    unit: Literal["chars", "tokens"] = Field("chars", description="What `size` and `overlap` count.")
    tokenizer: str | None = Field(
        None,
        description="Path to a `tokenizer.json` (Hugging Face tokenizers) for `unit: tokens`, relative to "
        "the pipeline file. Nothing is downloaded.",
    )
    separators: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SEPARATORS), min_length=1,
        description="Separators tried in order; \"\" (split anywhere) is the last resort in any case.",
    )
    keep_separator: Literal["end", "start"] = Field(
        "end", description="A separator ends the piece before it (`end`) or starts the next (`start`, LangChain's)."
    )
    strip_whitespace: bool = Field(True, description="Trim whitespace at both ends of each chunk (moves the offsets).")
    text_column: str = Field(TEXT, min_length=1, description="The column to chunk; chunks replace it.")

    @field_validator("separators")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each separator should appear once")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ChunkTextConfig:
        if self.overlap >= self.size:
            raise ValueError(f"`overlap` ({self.overlap}) must be smaller than `size` ({self.size})")
        if self.unit == "tokens" and not self.tokenizer:
            raise ValueError("`unit: tokens` needs `tokenizer: path/to/tokenizer.json`")
        if self.unit == "chars" and self.tokenizer:
            raise ValueError("`tokenizer` is only used with `unit: tokens`; add it or remove `tokenizer`")
        return self


@register("chunk.text")
class ChunkText(Transform[ChunkTextConfig]):
    """Cut each document into chunks for retrieval: one output row per chunk.

    A chunk keeps every column of its document, with ``id`` = ``<document id>#<n>``, its text
    in ``text_column``, and ``parent_id``, ``chunk_index``, ``start``, ``end`` (character offsets
    into the document's text) added or replaced. Null, empty or blank text is dropped
    (``empty_text``); a row without an id is quarantined (``missing_id``). The metric
    ``oversize_chunks`` counts chunks over ``size`` (single characters of several tokens).

    >>> from datamill.testing import make_batch, run_step
    >>> result = run_step(ChunkText(size=16, overlap=0), [make_batch(text=["Hello there. General Kenobi."])])
    >>> result.output.select(["id", "text", "parent_id", "start", "end"]).to_pylist()[1]
    {'id': '0#1', 'text': 'General Kenobi.', 'parent_id': '0', 'start': 13, 'end': 28}
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        cfg = self.config
        self._splitter = _Splitter(cfg.size, cfg.overlap, cfg.separators, cfg.keep_separator,
                                   cfg.strip_whitespace)
        self._tokens: _TokenCounter | None = None
        self._tokenizer_hash: str | None = None
        if cfg.unit == "tokens" and cfg.tokenizer:
            tokenizer, self._tokenizer_hash = load_tokenizer(cfg.tokenizer, "chunk.text")
            self._tokens = _TokenCounter(tokenizer, self._splitter)

    def code_hashes(self) -> list[str]:
        # The tokenizer file's content decides the chunks as much as the config does.
        return [self._tokenizer_hash] if self._tokenizer_hash else []

    def required_columns(self) -> dict[str, str]:
        return {ID: "id", self.config.text_column: "text_column"}

    def _chunk(self, texts: list[str | None], usable: list[bool]) -> tuple[list[list[Span]], int]:
        """The chunk spans of each text, and how many chunks are over ``size`` (unsplittable)."""
        if self._tokens is None:
            # Cut at characters, a chunk is never over size.
            return [self._splitter.spans(t) if ok and t else [] for t, ok in zip(texts, usable, strict=True)], 0
        todo = [i for i, (t, ok) in enumerate(zip(texts, usable, strict=True)) if ok and t]
        spans: list[list[Span]] = [[] for _ in texts]
        docs = [texts[i] or "" for i in todo]
        for i, text, starts in zip(todo, docs, self._tokens.starts(docs), strict=True):
            spans[i] = self._tokens.spans(text, starts)
        flat = [(i, s, e) for i in todo for s, e in spans[i]]
        counts = self._tokens.count([(texts[i] or "")[s:e] for i, s, e in flat])
        over = {(i, s, e) for (i, s, e), n in zip(flat, counts, strict=True) if n > self.config.size}
        oversize: list[Span] = []
        for i in {i for i, _, _ in over}:
            text = texts[i] or ""
            fixed: list[Span] = []
            for s, e in spans[i]:
                fixed.extend(self._tokens.fit(text, s, e, oversize) if (i, s, e) in over else [(s, e)])
            spans[i] = _outermost(fixed)
        return spans, len(oversize)

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        column = self.config.text_column
        for name, field in ((ID, "id"), (column, "text_column")):
            if name not in batch.schema.names:
                raise SchemaError(
                    f"step {ctx.step_id!r} (chunk.text) needs a column {name!r}; the input has "
                    f"{', '.join(batch.schema.names)}." + (f" Name yours with `with: {{{field}: ...}}`."
                                                           if field == "text_column" else "")
                )
        text_type = batch.schema.field(column).type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
            raise SchemaError(f"step {ctx.step_id!r} (chunk.text): column {column!r} holds {text_type}, not "
                              "text; cast it to string first or point `text_column` at a text column.")
        ids = batch.column(ID).to_pylist()
        texts = batch.column(column).to_pylist()
        has_id = [i is not None for i in ids]
        spans, oversize = self._chunk(texts, has_id)

        parents: list[int] = []
        chunk_ids: list[str] = []
        chunk_texts: list[str] = []
        indexes: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        for row, (rid, text, found) in enumerate(zip(ids, texts, spans, strict=True)):
            if rid is None:
                # A child keeps the row alive past Outcome.split's empty-row drop, so the
                # quarantine below (which removes it again) counts the row under missing_id.
                found = [(0, 0)]
            count = len(found)
            parents.extend([row] * count)
            chunk_ids.extend([f"{rid}#{n}" for n in range(count)])
            chunk_texts.extend([(text or "")[s:e] for s, e in found])
            indexes.extend(range(count))
            starts.extend([s for s, _ in found])
            ends.extend([e for _, e in found])
        taken = pa.array(parents, pa.int64())
        # Take the other columns only: taking the text would copy each document once per chunk.
        position = batch.schema.get_field_index(column)
        children = batch.remove_column(position).take(taken)
        children = children.add_column(position, batch.schema.field(column), pa.array(chunk_texts, text_type))
        id_type = pa.large_string() if pa.types.is_large_string(batch.schema.field(ID).type) else pa.string()
        children = _put(children, ID, pa.array(chunk_ids, id_type))
        children = _put(children, "parent_id", batch.column(ID).take(taken))
        children = _put(children, "chunk_index", pa.array(indexes, pa.int32()))
        children = _put(children, "start", pa.array(starts, pa.int64()))
        children = _put(children, "end", pa.array(ends, pa.int64()))
        ctx.metric("oversize_chunks", oversize)
        outcome = Outcome.split(batch, children, parents, empty_reason="empty_text")
        missing = pa.array([not ok for ok in has_id], pa.bool_())
        return outcome.quarantine(missing, reason="missing_id",
                                  error="the row has no id, so its chunks could not be named; give every row an id")


def _put(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """Replace the column ``name`` in place, or add it at the end."""
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.set_column(index, name, values)
    return batch.append_column(name, values)
