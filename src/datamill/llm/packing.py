"""Packing token sequences into training blocks, and batching them with little padding.

Three strategies, each reporting its pad and truncation fractions:

- **chunk** (`ChunkPacker`): documents back to back (EOS between them, from ``llm.tokenize``)
  cut into fixed blocks: the ``group_texts`` semantics, streaming, with no token lost at batch
  edges: what does not fill a block waits for the next batch.
- **bfd** (`best_fit_decreasing`): documents shorter than the block are never split; each goes
  into the fullest block it still fits, longest first, within a window of documents. Documents
  longer than the block are cut into whole blocks plus a remainder that is packed.
- **bucket** (`bucket_batches`): unpacked sequences, batched with others of similar length and
  padded to the batch's longest (rounded up to a multiple), within a token budget.

>>> packer = ChunkPacker(4)
>>> out, lengths, starts = packer.feed(np.arange(6), np.array([2, 4]))
>>> out.tolist(), lengths.tolist(), starts.tolist(), packer.tail.tolist()
([0, 1, 2, 3], [4], [0, 2], [4, 5])
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["ChunkPacker", "best_fit_decreasing", "bucket_batches", "fill_rows", "gather", "one_shard_batch",
           "pad_fraction", "split_long"]


def _starts(lengths: np.ndarray) -> np.ndarray:
    starts = np.zeros(len(lengths), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    return starts


class ChunkPacker:
    """Concatenate documents and cut fixed blocks, carrying the remainder to the next call."""

    def __init__(self, block: int, dtype: Any = np.int64) -> None:
        self.block = block
        self.tail = np.zeros(0, dtype)
        self.tail_starts = np.zeros(0, np.int64)

    def feed(self, tokens: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add documents (``tokens`` back to back, each one's length); return the whole blocks
        now ready: ``(tokens, sequence lengths, document starts)``."""
        starts = _starts(lengths)[lengths > 0] + len(self.tail)
        buffer = np.concatenate([self.tail, tokens.astype(self.tail.dtype, copy=False)])
        all_starts = np.concatenate([self.tail_starts, starts])
        cut = len(buffer) // self.block * self.block
        ready = all_starts < cut
        self.tail = buffer[cut:]
        self.tail_starts = all_starts[~ready] - cut
        return buffer[:cut], np.full(cut // self.block, self.block, np.int64), all_starts[ready]

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The last, shorter block (if any tokens are left)."""
        tail, starts = self.tail, self.tail_starts
        self.tail, self.tail_starts = tail[:0], starts[:0]
        return tail, np.array([len(tail)] if len(tail) else [], np.int64), starts


def split_long(lengths: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents longer than ``block`` into whole blocks plus a remainder.

    Returns ``(piece_doc, piece_offset, piece_length)``: each piece's document, its offset in
    that document and its length. Documents that fit stay whole.

    >>> [a.tolist() for a in split_long(np.array([3, 9]), 4)]
    [[0, 1, 1, 1], [0, 0, 4, 8], [3, 4, 4, 1]]
    """
    lengths = np.asarray(lengths, np.int64)
    pieces = np.maximum(1, -(-lengths // block))
    doc = np.repeat(np.arange(len(lengths)), pieces)
    first = np.zeros(len(lengths), np.int64)
    np.cumsum(pieces[:-1], out=first[1:])
    index = np.arange(len(doc)) - first[doc]
    offset = index * block
    length = np.minimum(block, lengths[doc] - offset)
    return doc, offset, length


@numba.njit(cache=True, nogil=True)
def _tree_add(tree: np.ndarray, size: int, leaf: int, delta: int) -> None:  # pragma: no cover - numba
    node = leaf + size
    while node >= 1:
        tree[node] += delta
        node //= 2


@numba.njit(cache=True, nogil=True)
def _first_at_least(tree: np.ndarray, size: int, want: int) -> int:  # pragma: no cover - numba
    """The smallest leaf index >= want whose count is positive, or -1."""
    node = want + size
    if tree[node] > 0:
        return want
    while node > 1:
        if node % 2 == 0 and tree[node + 1] > 0:
            node += 1
            while node < size:
                node = 2 * node if tree[2 * node] > 0 else 2 * node + 1
            return node - size
        node //= 2
    return -1


@numba.njit(cache=True, nogil=True)
def _best_fit(lengths: np.ndarray, order: np.ndarray, block: int) -> np.ndarray:  # pragma: no cover - numba
    # Open bins are kept by their room: a stack of bins per room value, and a segment tree of
    # how many bins each room value has, so the tightest bin that fits is found in O(log block).
    size = 1
    while size < block + 1:
        size *= 2
    tree = np.zeros(2 * size, np.int64)
    head = np.full(block + 1, -1, np.int64)
    below = np.empty(len(lengths), np.int64)
    bins = np.empty(len(lengths), np.int64)
    used = 0
    for i in order:
        need = lengths[i]
        room = _first_at_least(tree, size, need)
        if room < 0:
            b = used
            used += 1
            room = block
        else:
            b = head[room]
            head[room] = below[b]
            _tree_add(tree, size, room, -1)
        bins[i] = b
        room -= need
        if room > 0:  # a full bin never takes anything again
            below[b] = head[room]
            head[room] = b
            _tree_add(tree, size, room, 1)
    return bins


def best_fit_decreasing(lengths: np.ndarray, block: int) -> np.ndarray:
    """Assign each piece (all ``<= block``) to a bin: longest first, into the bin with the least
    room that still fits it. Returns each piece's bin; bins are numbered in opening order.

    >>> best_fit_decreasing(np.array([3, 1, 2, 2]), 4).tolist()
    [0, 0, 1, 1]
    >>> best_fit_decreasing(np.array([5, 3, 4, 2, 1]), 8).tolist()  # 5+3, 4+2+1
    [0, 0, 1, 1, 1]
    """
    lengths = np.asarray(lengths, np.int64)
    if len(lengths) and int(lengths.max()) > block:
        raise ValueError("best_fit_decreasing: a piece is longer than the block; cut it with split_long first")
    order = np.argsort(-lengths, kind="stable")
    return _best_fit(lengths, order, block)


@numba.njit(cache=True, nogil=True)
def _gather(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
            order: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    pos = 0
    for i in order:
        n = lengths[i]
        out[pos:pos + n] = tokens[starts[i]:starts[i] + n]
        pos += n


def gather(tokens: np.ndarray, starts: np.ndarray, lengths: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``tokens[starts[i]:starts[i]+lengths[i]]`` for each ``i`` in ``order``, back to back.

    >>> gather(np.arange(10), np.array([0, 5]), np.array([2, 3]), np.array([1, 0])).tolist()
    [5, 6, 7, 0, 1]
    """
    out = np.empty(int(np.asarray(lengths)[order].sum()), tokens.dtype)
    _gather(tokens, np.asarray(starts, np.int64), np.asarray(lengths, np.int64), np.asarray(order, np.int64), out)
    return out


def pad_fraction(lengths: np.ndarray, padded: np.ndarray) -> float:
    """Pad tokens over all tokens in the batches: ``1 - sum(lengths) / sum(padded)``."""
    total = float(np.sum(padded))
    return 0.0 if total == 0 else 1.0 - float(np.sum(lengths)) / total


def bucket_batches(lengths: np.ndarray, *, batch_size: int, max_tokens: int | None = None,
                   pad_multiple: int = 1, window: int = 100, seed: int = 0) -> list[np.ndarray]:
    """Length bucketing: batches of sequences of similar length, in a seeded random order.

    Within each window of ``window × batch_size`` sequences (taken in the given order), the
    sequences are sorted by length and cut into batches of at most ``batch_size``, whose padded
    size (longest length rounded up to ``pad_multiple``, times the count) stays within
    ``max_tokens``; then the window's batches are shuffled. Returns each batch's indices.

    >>> sorted(b.tolist() for b in bucket_batches(np.array([5, 1, 4, 2]), batch_size=2, window=2))
    [[1, 3], [2, 0]]
    """
    lengths = np.asarray(lengths, np.int64)
    rng = np.random.default_rng(seed)
    span = max(1, window * batch_size)
    batches: list[np.ndarray] = []
    for lo in range(0, len(lengths), span):
        ids = np.arange(lo, min(lo + span, len(lengths)))
        ids = ids[np.argsort(lengths[ids], kind="stable")]
        found: list[np.ndarray] = []
        start = 0
        while start < len(ids):
            end = min(start + batch_size, len(ids))
            if max_tokens is not None:
                # Sorted ascending, so the last member is the longest: shrink until it fits.
                while end - start > 1 and (
                        _round_up(int(lengths[ids[end - 1]]), pad_multiple) * (end - start) > max_tokens):
                    end -= 1
            found.append(ids[start:end])
            start = end
        for i in rng.permutation(len(found)):
            batches.append(found[i])
    return batches


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


_NONE = np.zeros((0, 0), np.int64)


@numba.njit(cache=True, nogil=True)
def _fill_rows(tokens: np.ndarray, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, doc_starts: np.ndarray,
               pad_id: int, ignore: int, ids: np.ndarray, labels: np.ndarray, pos: np.ndarray, mask: np.ndarray,
               seg: np.ndarray) -> None:  # pragma: no cover - numba
    # Row by row, plane by plane, in tight loops the compiler can vectorise. ``mask`` and
    # ``seg`` may be empty (not wanted).
    want_mask = mask.shape[0] > 0
    want_seg = seg.shape[0] > 0
    first = np.searchsorted(doc_starts, lo)
    last = np.searchsorted(doc_starts, hi)
    for k in range(len(rows)):
        r = rows[k]
        start = lo[k]
        n = hi[k] - start
        row_ids, row_labels, row_pos = ids[r], labels[r], pos[r]
        for t in range(n):
            v = tokens[start + t]
            row_ids[t] = v
            row_labels[t] = v
        row_ids[n:] = pad_id
        row_labels[n:] = ignore
        row_pos[n:] = 0
        if want_mask:
            mask[r, :n] = 1
            mask[r, n:] = 0
        prev = 0
        number = 0
        for j in range(first[k], last[k] + 1):
            end = doc_starts[j] - start if j < last[k] else n
            for t in range(prev, end):
                row_pos[t] = t - prev
            if want_seg:
                seg[r, prev:end] = number
                if end > 0:
                    number += 1
            prev = end
        if want_seg:
            seg[r, n:] = max(0, number - 1)


def fill_rows(tokens: np.ndarray, lo: np.ndarray, hi: np.ndarray, rows: np.ndarray, doc_starts: np.ndarray,
              ids: np.ndarray, labels: np.ndarray, positions: np.ndarray, mask: np.ndarray | None = None,
              segments: np.ndarray | None = None, *, pad_id: int = 0, ignore: int = -100) -> None:
    """Write sequences ``tokens[lo:hi]`` of one shard into rows ``rows`` of a batch.

    Each of ``ids``, ``labels`` (``ignore`` at pad), ``positions`` (restarting at each of
    ``doc_starts``) and, when given, ``mask`` and ``segments`` is a ``(batch, width)`` int64
    array. One compiled pass, no per-token Python.

    >>> ids, labels, positions = np.zeros((3, 1, 5), np.int64)
    >>> fill_rows(np.arange(10, 20), np.array([2]), np.array([6]), np.array([0]), np.array([4]), ids, labels,
    ...           positions)
    >>> ids[0].tolist(), labels[0].tolist(), positions[0].tolist()
    ([12, 13, 14, 15, 0], [12, 13, 14, 15, -100], [0, 1, 0, 1, 0])
    """
    _fill_rows(tokens, lo, hi, rows, doc_starts, pad_id, ignore, ids, labels, positions,
               _NONE if mask is None else mask, _NONE if segments is None else segments)


@numba.njit(cache=True, nogil=True)
def _one_shard_batch(tokens: np.ndarray, offsets: np.ndarray, doc_starts: np.ndarray, seq: np.ndarray,
                     pad_multiple: int, pad_id: int, ignore: int, segments: bool,
                     extra: int) -> tuple[np.ndarray, int, bool]:  # pragma: no cover - numba
    rows = len(seq)
    lo = np.empty(rows, np.int64)
    hi = np.empty(rows, np.int64)
    longest = 0
    shortest = 1 << 62
    for k in range(rows):
        lo[k] = offsets[seq[k]]
        hi[k] = offsets[seq[k] + 1]
        n = hi[k] - lo[k]
        longest = max(longest, n)
        shortest = min(shortest, n)
    width = -(-longest // pad_multiple) * pad_multiple
    padded = width != longest or shortest != width
    planes = 3 + (1 if padded else 0) + (1 if segments else 0)
    area = rows * width
    flat = np.empty(planes * area + extra + 1, np.int64)
    buf = flat[:planes * area].reshape(planes, rows, width)
    none = np.zeros((0, 0), np.int64)
    _fill_rows(tokens, lo, hi, np.arange(rows), doc_starts, pad_id, ignore, buf[0], buf[1], buf[2],
               buf[3] if padded else none, buf[planes - 1] if segments else none)
    flat[-1] = 1
    return flat, width, padded


def one_shard_batch(tokens: np.ndarray, offsets: np.ndarray, doc_starts: np.ndarray, seq: np.ndarray, *,
                    pad_multiple: int = 1, pad_id: int = 0, ignore: int = -100, segments: bool = False,
                    extra: int = 0) -> tuple[np.ndarray, int, bool]:
    """A whole batch of sequences ``seq`` of one shard in one compiled call: ``(flat, width,
    padded)``, where ``flat`` holds the planes of `fill_rows` (ids, labels, positions, then the
    mask when ``padded``, then segments when asked), ``extra`` free slots and a final 1.

    >>> flat, width, padded = one_shard_batch(np.arange(10), np.array([0, 3, 5]), np.array([0, 3]), np.array([1, 0]))
    >>> width, padded, flat[:3 * 2 * width].reshape(3, 2, width)[0].tolist()
    (3, True, [[3, 4, 0], [0, 1, 2]])
    """
    return _one_shard_batch(tokens, offsets, doc_starts, seq, pad_multiple, pad_id, ignore, segments, extra)
