"""Compiled kernels for near-duplicate detection (numba): shingle hashing, MinHash, LSH, clusters.

Why compiled: the peers spend most of their time building n-gram strings in Python (about
9 MB/s); here one pass over the UTF-8 bytes of an Arrow string array splits words, hashes
them, rolls the n-gram hash and folds it into every permutation's minimum, with no Python
object per word. The word rule is the one of ``datamill.dedup.shingles`` (tested against it).

Private to ``datamill.dedup``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "band_keys",
    "bucket_pairs",
    "components",
    "doc_shingles",
    "pair_jaccard",
    "shingle_hashes",
    "signature_similarity",
    "signatures",
]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
# Odd multiplier of the rolling n-gram hash (a 64-bit prime).
_ROLL = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint32(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _mix(x: np.uint64) -> np.uint64:
    """splitmix64's finaliser: spreads every input bit over the output."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, inline="always")
def _char_at(data: np.ndarray, i: int, end: int) -> tuple[int, int]:
    """(is a word character, bytes taken) for the UTF-8 sequence starting at ``i``."""
    c = data[i]
    if c < 0x80:
        return (1 if (0x61 <= c <= 0x7A) or (0x30 <= c <= 0x39) or (0x41 <= c <= 0x5A) else 0), 1
    if 0xC2 <= c <= 0xDF and i + 1 < end:
        cp = ((c & 0x1F) << 6) | (data[i + 1] & 0x3F)
        return (1 if cp >= 0xC0 else 0), 2
    if 0xE0 <= c <= 0xEF and i + 2 < end:
        cp = ((c & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F)
        return (1 if cp <= 0x1FFF or cp >= 0x2070 else 0), 3
    if 0xF0 <= c <= 0xF4 and i + 3 < end:
        return 1, 4
    return 0, 1  # a stray continuation byte or a cut sequence: a separator


@njit(cache=True, inline="always")
def _bound(length: int, chars: bool) -> int:
    """Most shingles a text of ``length`` bytes can have: a word takes 2 bytes with its separator."""
    return length + 2 if chars else length // 2 + 2


_SPACE = np.uint64(0x20)  # the unit between words in character shingles


@njit(cache=True, inline="always")
def _push(x: np.uint64, ring: np.ndarray, out: np.ndarray, power: np.uint64, state: np.ndarray) -> None:
    """Add unit hash ``x`` to the rolling n-gram; emit the n-gram's hash once ``n`` units are in.

    ``state`` holds (rolled hash, units seen, hashes written); ``ring`` the last ``n`` units.
    """
    n = ring.shape[0]
    units = state[1]
    slot = units % n
    rolled = state[0]
    if units >= n:
        rolled -= ring[slot] * power
    rolled = rolled * _ROLL + x
    ring[slot] = x
    state[0] = rolled
    state[1] = units + 1
    if units + 1 >= n:
        out[state[2]] = _mix(rolled ^ np.uint64(n))
        state[2] += 1


@njit(cache=True)
def _shingle_hashes(data: np.ndarray, start: int, end: int, ngram: int, out: np.ndarray,
                    chars: bool = False) -> int:
    """Write the 64-bit hashes of one document's n-grams into ``out``; return how many.

    Units are words, or with ``chars`` the characters of the words joined by single spaces. A
    document with fewer than ``ngram`` units yields one hash, of all of them. Hashes are not
    de-duplicated (MinHash does not need it).
    """
    ring = np.zeros(ngram, np.uint64)
    power = np.uint64(1)  # _ROLL ** (ngram - 1), to take the oldest unit out
    for _ in range(ngram - 1):
        power *= _ROLL
    state = np.zeros(3, np.uint64)  # rolled, units, count
    words = 0
    i = start
    while i < end:
        is_word, width = _char_at(data, i, end)
        if not is_word:
            i += width
            continue
        if chars and words:
            _push(_mix(_SPACE), ring, out, power, state)
        h = _FNV_OFFSET
        while i < end:
            is_word, width = _char_at(data, i, end)
            if not is_word:
                break
            if chars:
                h = _FNV_OFFSET
            for k in range(width):
                c = data[i + k]
                if 0x41 <= c <= 0x5A:  # ASCII upper case (the caller lower-cases Unicode text)
                    c += 0x20
                h = (h ^ np.uint64(c)) * _FNV_PRIME
            if chars:
                _push(_mix(h), ring, out, power, state)
            i += width
        if not chars:
            _push(h, ring, out, power, state)
        words += 1
    units = int(state[1])
    count = int(state[2])
    if 0 < units < ngram:
        out[count] = _mix(state[0] ^ np.uint64(units))
        count += 1
    return count


@njit(cache=True, nogil=True)
def signatures(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, ngram: int, a: np.ndarray,
               b: np.ndarray, want_sets: bool,
               chars: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MinHash signatures of documents held as UTF-8 bytes and Arrow-style offsets.

    Permutation ``p`` maps a shingle's hash ``x`` (its top 32 bits) to
    ``(a[p] * x + b[p]) >> 32`` in 64-bit arithmetic (multiply-add-shift, a strongly
    universal family). Returns ``(signatures uint32 (n, P), shingle counts int64 (n,), flat,
    starts)``; a document with no word (or null: ``valid`` false) has count 0 and
    all-``0xFFFFFFFF``. With ``want_sets``, ``flat[starts[d]:starts[d + 1]]`` is document
    ``d``'s shingle set, made in the same pass: the sorted, distinct top 32 bits of its shingle
    hashes (two different shingles of a pair of 1,000-shingle documents share them with
    probability ~2e-4).
    """
    n = offsets.shape[0] - 1
    perms = a.shape[0]
    sig = np.full((n, perms), _EMPTY, np.uint32)
    counts = np.zeros(n, np.int64)
    longest = 1
    bound = 0
    for d in range(n):
        longest = max(longest, offsets[d + 1] - offsets[d])
        bound += _bound(offsets[d + 1] - offsets[d], chars)
    buf = np.empty(_bound(longest, chars), np.uint64)
    xs = np.empty(_bound(longest, chars), np.uint64)
    flat = np.empty(bound if want_sets else 0, np.uint32)
    starts = np.zeros(n + 1, np.int64)
    w = 0
    for d in range(n):
        k = _shingle_hashes(data, offsets[d], offsets[d + 1], ngram, buf, chars) if valid[d] else 0
        counts[d] = k
        for s in range(k):
            xs[s] = buf[s] >> np.uint64(32)
        if k:
            # Permutations outside, shingles inside: the inner loop is a min-reduction over
            # a contiguous array, which the compiler vectorises (about 1.7x the other order).
            for p in range(perms):
                ap = a[p]
                bp = b[p]
                m = np.uint64(0xFFFFFFFFFFFFFFFF)
                for s in range(k):
                    m = min(m, (ap * xs[s] + bp) >> np.uint64(32))
                sig[d, p] = np.uint32(m)
            if want_sets:
                top = np.unique(xs[:k]).astype(np.uint32)
                flat[w : w + top.shape[0]] = top
                w += top.shape[0]
        starts[d + 1] = w
    return sig, counts, flat[:w].copy(), starts


@njit(cache=True, nogil=True)
def doc_shingles(data: np.ndarray, start: int, end: int, ngram: int, chars: bool = False) -> np.ndarray:
    """The sorted, distinct 64-bit shingle hashes of one document (for exact Jaccard)."""
    buf = np.empty(_bound(end - start, chars), np.uint64)
    k = _shingle_hashes(data, start, end, ngram, buf, chars)
    return np.unique(buf[:k])


@njit(cache=True, nogil=True)
def pair_jaccard(flat: np.ndarray, starts: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Jaccard of set ``left[e]`` and set ``right[e]`` (sorted, distinct; see ``signatures``)."""
    out = np.empty(left.shape[0], np.float64)
    for e in range(left.shape[0]):
        i, i_end = starts[left[e]], starts[left[e] + 1]
        j, j_end = starts[right[e]], starts[right[e] + 1]
        size = (i_end - i) + (j_end - j)
        both = 0
        while i < i_end and j < j_end:
            if flat[i] == flat[j]:
                both += 1
                i += 1
                j += 1
            elif flat[i] < flat[j]:
                i += 1
            else:
                j += 1
        union = size - both
        out[e] = both / union if union else 0.0
    return out


@njit(cache=True, nogil=True)
def shingle_hashes(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray, ngram: int,
                   chars: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every document's n-gram hashes, flat, with ``(n + 1,)`` offsets into them (repeats kept)."""
    n = offsets.shape[0] - 1
    total = 0
    for d in range(n):
        if valid[d]:
            total += _bound(offsets[d + 1] - offsets[d], chars)
    out = np.empty(total, np.uint64)
    starts = np.zeros(n + 1, np.int64)
    w = 0
    for d in range(n):
        if valid[d]:
            w += _shingle_hashes(data, offsets[d], offsets[d + 1], ngram, out[w:], chars)
        starts[d + 1] = w
    return out[:w].copy(), starts


@njit(cache=True, nogil=True)
def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per document and band: a hash of the band's ``rows`` signature values."""
    n = sig.shape[0]
    keys = np.empty((n, bands), np.uint64)
    for d in range(n):
        for j in range(bands):
            h = np.uint64(j + 1) * _ROLL
            for r in range(rows):
                h = _mix(h ^ np.uint64(sig[d, j * rows + r]))
            keys[d, j] = h
    return keys


@njit(cache=True, nogil=True)
def bucket_pairs(keys: np.ndarray, order: np.ndarray, empty: np.ndarray, max_bucket: int) -> np.ndarray:
    """Candidate pairs from one band: documents whose keys are equal.

    ``order`` sorts ``keys`` (ties in rank order), so each bucket is a run. A bucket of up to
    ``max_bucket`` documents gives all its pairs; a bigger one links every member to its
    first (lowest-ranked) member only, which keeps a cluster of 10,000 copies to 9,999 edges
    instead of 50 million. Documents marked ``empty`` are skipped. Returns ``(k, 2)`` int64
    pairs of indices into ``keys``, smaller rank first as ordered.
    """
    n = order.shape[0]
    # One scan: each bucket's members (non-empty, in rank order) packed into `members`, with
    # where each bucket starts; then the pairs.
    members = np.empty(n, np.int64)
    bounds = np.empty(n + 1, np.int64)
    buckets = 0
    m = 0
    start = 0
    while start < n:
        bounds[buckets] = m
        stop = start
        while stop < n and keys[order[stop]] == keys[order[start]]:
            if not empty[order[stop]]:
                members[m] = order[stop]
                m += 1
            stop += 1
        buckets += 1
        start = stop
    bounds[buckets] = m
    total = 0
    for b in range(buckets):
        size = bounds[b + 1] - bounds[b]
        total += size * (size - 1) // 2 if size <= max_bucket else size - 1
    out = np.empty((total, 2), np.int64)
    w = 0
    for b in range(buckets):
        first, size = bounds[b], bounds[b + 1] - bounds[b]
        if size <= max_bucket:
            for x in range(first, first + size):
                for y in range(x + 1, first + size):
                    out[w, 0] = members[x]
                    out[w, 1] = members[y]
                    w += 1
        else:
            for y in range(first + 1, first + size):
                out[w, 0] = members[first]
                out[w, 1] = members[y]
                w += 1
    return out


@njit(cache=True, nogil=True)
def signature_similarity(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of row ``i`` of ``sig_a`` and of ``sig_b``: the share of equal values."""
    n, perms = sig_a.shape
    out = np.empty(n, np.float64)
    for i in range(n):
        same = 0
        for p in range(perms):
            if sig_a[i, p] == sig_b[i, p]:
                same += 1
        out[i] = same / perms
    return out


@njit(cache=True)
def _find(parent: np.ndarray, x: int) -> int:
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:  # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@njit(cache=True)
def components(n: int, pairs: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph: for each node, its component's lowest-``rank`` node.

    Union by rank order (the lower-ranked root wins), so the representative is the same
    whatever order the pairs come in: that makes survivors deterministic.
    """
    parent = np.arange(n)
    for e in range(pairs.shape[0]):
        x = _find(parent, pairs[e, 0])
        y = _find(parent, pairs[e, 1])
        if x == y:
            continue
        if rank[x] < rank[y]:
            parent[y] = x
        else:
            parent[x] = y
    root = np.empty(n, np.int64)
    for i in range(n):
        root[i] = _find(parent, i)
    return root
