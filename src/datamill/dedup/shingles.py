"""Words and word n-gram shingles: the one tokenisation every dedup step and its ground truth use.

A *word* is a maximal run of characters that are ASCII letters or digits, or non-ASCII
characters outside two punctuation blocks: Latin-1's U+0080–U+00BF (no-break space, «»,
¡¿, ...) and General Punctuation U+2000–U+206F (dashes, curly quotes, ellipsis, ...).
Text is lower-cased first (Unicode ``str.lower``). So ``“Don’t—stop,” she said.`` has the
words ``don t stop she said``: curly and straight apostrophes, dashes and quotes all
separate words, so a copy whose quotes were "smartened" is still a copy.

A document's *shingles* are its word n-grams (``shingles``), or the character n-grams of its
words joined by single spaces (``char_shingles``). A document with fewer than ``n`` words has
one shingle, all its words; one with no word has none and is never anyone's duplicate.

The fast kernels in ``datamill.dedup.minhash`` follow these rules on UTF-8 bytes; the
functions here are the readable reference they are tested against.

>>> words("“Don’t—stop,” she said.")
['don', 't', 'stop', 'she', 'said']
>>> sorted(shingles("a b c d", 3))
['a b c', 'b c d']
>>> shingles("one two", 5)
{'one two'}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa

__all__ = ["WORD_PATTERN", "char_shingles", "hashed_shingles", "jaccard", "shingles", "words"]

WORD_PATTERN = re.compile("[a-z0-9\u00c0-\u1fff\u2070-\U0010ffff]+")


def words(text: str) -> list[str]:
    """The words of ``text``, lower-cased (see the module's rules)."""
    return WORD_PATTERN.findall(text.lower())


def shingles(text: str, n: int = 5) -> set[str]:
    """The set of word ``n``-grams of ``text``, each as its words joined by one space."""
    found = words(text)
    if not found:
        return set()
    if len(found) < n:
        return {" ".join(found)}
    return {" ".join(found[i : i + n]) for i in range(len(found) - n + 1)}


def char_shingles(text: str, n: int = 5) -> set[str]:
    """The set of character ``n``-grams of ``text``'s words joined by single spaces.

    Case, punctuation and spacing are gone first, as for word shingles; a text shorter than
    ``n`` characters has one shingle, all of it.

    >>> sorted(char_shingles("The  cat!", 5))
    ['e cat', 'he ca', 'the c']
    """
    joined = " ".join(words(text))
    if not joined:
        return set()
    if len(joined) < n:
        return {joined}
    return {joined[i : i + n] for i in range(len(joined) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two shingle sets (0.0 when both are empty).

    >>> jaccard({"a", "b"}, {"b", "c"})
    0.3333333333333333
    """
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def hashed_shingles(texts: Sequence[str | None] | pa.Array, n: int = 5,
                    unit: Literal["word", "char"] = "word") -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every text's word (or ``char``) ``n``-grams, fast: ``(hashes, offsets)``.

    Text ``i``'s hashes are ``hashes[offsets[i]:offsets[i + 1]]``, in order, repeats kept (a null
    or wordless text has none). Equal n-grams have equal hashes, in any process or run; a text
    of fewer than ``n`` words has one hash, of all its words, that no ``n``-gram shares.

    >>> hashes, offsets = hashed_shingles(["a b c d", "B C D!", None], 3)
    >>> offsets.tolist(), bool(hashes[1] == hashes[2])
    ([0, 2, 3, 3], True)
    """
    from datamill.dedup import _kernels
    from datamill.dedup.minhash import _as_text_array, _buffers

    data, offsets, valid = _buffers(_as_text_array(texts))
    hashes, starts = _kernels.shingle_hashes(data, offsets, valid, n, unit == "char")
    return hashes, starts
