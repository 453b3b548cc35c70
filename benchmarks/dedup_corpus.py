"""A seeded near-duplicate corpus with exact ground truth, for the MinHash-LSH benchmark (issue 6).

Source text: ``../shared/data/corpus/docs.jsonl``, 26 public-domain texts (Project Gutenberg books
via NLTK and GITenberg, US State of the Union and inaugural addresses via NLTK; public domain in
the USA, see ``../shared/data/corpus/README.md`` for every file's repository, commit and licence).
Nobody on this project wrote any of it.

What :func:`generate` builds (deterministic for ``(n_docs, seed)``: ``random.Random(seed)`` only):

* **Base passages** (~60% of documents): each source text is cut at sentence boundaries into
  non-overlapping passages of 50-800 words (log-normal, median ~260, most 150-400), so unrelated
  passages are genuinely different. The real texts give ~10,500 passages; when more are needed
  (``n_docs`` above ~17,000) the rest are *mosaics*: 3+ runs of sentences from random passages,
  no run longer than 40% of the mosaic, so two mosaics (or a mosaic and a passage) share little.
* **Derived copies** (the other ~40%), each a copy of an earlier member of its family (the base,
  or with probability 0.4 the newest copy: chains of copy-of-a-copy), made by one main edit:
  word edits (substitutions, typos, deletions, insertions at a rate drawn so the exact Jaccard to
  the parent is spread over ~0.45-1.0, around the 0.8 threshold on both sides), sentence edits
  (drop, duplicate, move), boilerplate headers/footers ("Posted by ... on ...", "Share this: ...",
  licence lines), truncation (first 60-95%), or format-only changes (whitespace, ASCII case,
  quotes, dashes, commas: the word shingles do not change); plus, often, a second light edit.
  Most families are small (1-3 copies); 3-5 are large clusters of 100-400 copies (scaled down
  for small corpora); 1% of documents are exact copies of a random document.
* Documents are shuffled; ``id`` is ``d0000001``... in the final order, ``family`` the index of the
  base passage for every member of a family with copies (-1 for a document nobody copied),
  ``parent`` the id a copy was made from (null for base passages) and ``edit`` what was done.

Ground truth: :func:`true_pairs` finds every pair with exact Jaccard >= t of the word 5-gram
sets of ``datamill.dedup.shingles`` (the tokenisation every dedup side is measured by), with an
exact all-pairs similarity join (AllPairs with prefix, size and overlap filters, in numba); the
``--check`` mode compares it with brute force. Corpora and pairs are cached under
``benchmarks/_data/dedup/`` as Parquet and ``.npy``.

    .venv/bin/python benchmarks/dedup_corpus.py --docs 100000 --seed 0            # build, cache, stats
    .venv/bin/python benchmarks/dedup_corpus.py --docs 100000 --out corpus.jsonl  # JSONL for `datamill run`
    .venv/bin/python benchmarks/dedup_corpus.py --check 2000                      # join == brute force
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import re
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numba
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datamill.dedup.shingles import WORD_PATTERN, jaccard, shingles

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent / "shared" / "data" / "corpus" / "docs.jsonl"
DATA_DIR = HERE / "_data" / "dedup"
# Bump when the same (n_docs, seed) would give different documents: it is part of the cache key.
VERSION = 1

BASE_FRACTION = 0.60
EXACT_FRACTION = 0.01
CHAIN_PROBABILITY = 0.4
MIN_WORDS, MAX_WORDS, MEDIAN_WORDS, SIGMA_WORDS = 50, 800, 260, 0.45
MAX_UNIT_WORDS = 120
MAX_PIECE_SHARE = 0.4

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("text", pa.string()),
        pa.field("family", pa.int64()),
        pa.field("parent", pa.string()),
        pa.field("edit", pa.string()),
    ]
)

# Sentence ends (".", "!" or "?", maybe a closing quote or bracket, then white space) and
# paragraph breaks; the capture keeps the separator so a passage keeps its layout.
_UNIT_SPLIT = re.compile(r"((?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+|\n[ \t]*\n\s*)")
_SENTENCE_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+")
_WORDLIKE = re.compile(r"^[A-Za-z]{3,}$")


# ---------------------------------------------------------------------------- passages
def _passage_length(rnd: random.Random) -> int:
    """A passage length in words: log-normal around the median, clipped to the allowed range."""
    return int(min(MAX_WORDS, max(MIN_WORDS, rnd.lognormvariate(math.log(MEDIAN_WORDS), SIGMA_WORDS))))


def _units(text: str) -> list[str]:
    """``text`` as sentence-or-paragraph units, each with the white space that follows it.

    Units over ``MAX_UNIT_WORDS`` words (verse, tables of contents) are cut at spaces, so that a
    passage or a mosaic piece can always stop near its target length.
    """
    parts = _UNIT_SPLIT.split(text)
    units: list[str] = []
    for k in range(0, len(parts), 2):
        unit = parts[k] + (parts[k + 1] if k + 1 < len(parts) else " ")
        tokens = unit.split(" ")
        if len(tokens) <= MAX_UNIT_WORDS:
            units.append(unit)
            continue
        for start in range(0, len(tokens), MAX_UNIT_WORDS):
            chunk = " ".join(tokens[start : start + MAX_UNIT_WORDS])
            units.append(chunk if chunk.endswith((" ", "\n")) else chunk + " ")
    return [u for u in units if u.strip()]


def source_texts(path: Path = CORPUS) -> dict[str, str]:
    """Each source file's text, its ``docs.jsonl`` parts joined back in order."""
    parts: dict[str, list[tuple[int, str]]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            stem, _, k = row["id"].rpartition(":")
            parts.setdefault(stem, []).append((int(k), row["text"]))
    return {stem: "\n\n".join(t for _, t in sorted(chunks)) for stem, chunks in sorted(parts.items())}


def real_passages(rnd: random.Random, path: Path = CORPUS) -> list[list[str]]:
    """The source texts cut into non-overlapping passages (lists of units), in shuffled order."""
    passages: list[list[str]] = []
    for text in source_texts(path).values():
        current: list[str] = []
        count, target = 0, _passage_length(rnd)
        for unit in _units(text):
            size = len(unit.split())
            # Close the passage before a unit that would overshoot the target by far.
            if current and count >= MIN_WORDS and count + size > 1.3 * target:
                passages.append(current)
                current, count, target = [], 0, _passage_length(rnd)
            current.append(unit)
            count += size
            if count >= target:
                passages.append(current)
                current, count, target = [], 0, _passage_length(rnd)
        if count >= MIN_WORDS:
            passages.append(current)
    rnd.shuffle(passages)
    return passages


def _mosaic(rnd: random.Random, passages: Sequence[list[str]], sizes: Sequence[list[int]]) -> str:
    """A new passage made of runs of sentences from random real passages (see the module doc)."""
    target = _passage_length(rnd)
    piece_max = max(15, int(MAX_PIECE_SHARE * target))
    pieces: list[str] = []
    count = 0
    while count < target:
        k = rnd.randrange(len(passages))
        units, unit_sizes = passages[k], sizes[k]
        start = rnd.randrange(len(units))
        want = min(piece_max, max(10, target - count), rnd.randint(piece_max // 2, piece_max))
        taken = 0
        stop = start
        while stop < len(units) and taken + unit_sizes[stop] <= want:
            taken += unit_sizes[stop]
            stop += 1
        if taken == 0:  # a first unit longer than the piece may be: take a slice of its words
            tokens = units[start].split(" ")[:want]
            pieces.append(" ".join(tokens).rstrip() + " ")
            taken = len(tokens)
        else:
            pieces.append("".join(units[start:stop]))
        count += taken
    return "\n\n".join(p.strip() for p in pieces)


# ---------------------------------------------------------------------------- edits
_FIRST = ["admin", "editor", "jsmith", "mary_k", "webmaster", "guest", "news desk", "staff writer"]
_SITES = ["The Daily Reader", "OpenBooks", "ClassicsHub", "Readers Digest Online", "LitArchive", "PageTurner"]
_SECTIONS = ["Books", "Literature", "History", "Politics", "Culture", "Archive", "Featured"]
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_HEADERS: list[Callable[[random.Random], str]] = [
    lambda r: f"Posted by {r.choice(_FIRST)} on {r.choice(_MONTHS)} {r.randint(1, 28)}, {r.randint(2005, 2024)}",
    lambda r: f"{r.choice(_SITES)} » {r.choice(_SECTIONS)} » {r.choice(_SECTIONS)}",
    lambda r: f"Home | News | {r.choice(_SECTIONS)} | About | Contact",
    lambda r: (
        f"Last updated: {r.randint(1, 28)} {r.choice(_MONTHS)} {r.randint(2005, 2024)}. "
        f"Reading time: {r.randint(2, 15)} min"
    ),
    lambda r: f"By {r.choice(_FIRST).title()} | {r.choice(_MONTHS)} {r.randint(1, 28)} | {r.randint(0, 90)} comments",
    lambda r: "Skip to content. Menu. Search for:",
]
_FOOTERS: list[Callable[[random.Random], str]] = [
    lambda r: "Share this: Twitter Facebook Email Print",
    lambda r: "Share this:\nTwitter\nFacebook\nLike this: Like Loading...",
    lambda r: "This work is licensed under a Creative Commons Attribution-ShareAlike 4.0 International License.",
    lambda r: f"Copyright © {r.randint(2005, 2024)} {r.choice(_SITES)}. All rights reserved.",
    lambda r: (
        f"Tags: {r.choice(_SECTIONS).lower()}, {r.choice(_SECTIONS).lower()}, classics, "
        f"{r.choice(_MONTHS).lower()} reading list"
    ),
    lambda r: (
        f"{r.randint(0, 40)} thoughts on this post. Leave a Reply. Your email address will not be "
        f"published. Required fields are marked *"
    ),
    lambda r: (
        "Related posts: You might also like these stories from our archive. Subscribe to our newsletter "
        "to get new posts by email."
    ),
    lambda r: (
        f"The text of this page is in the public domain. Transcribed by {r.choice(_FIRST)} for {r.choice(_SITES)}."
    ),
]


def _typo(word: str, rnd: random.Random) -> str:
    """``word`` with one adjacent swap, dropped or doubled letter (a word edit like any other)."""
    if len(word) < 4:
        return word + rnd.choice("aeiost")
    i = rnd.randrange(1, len(word) - 2)
    kind = rnd.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def word_edit_rate(target_jaccard: float) -> float:
    """The share of words to edit so that Jaccard to the parent is about ``target_jaccard``.

    An edited word changes the (up to) 5 shingles that cover it, so with edits at rate ``p`` a
    share ``s = (1 - p)^5`` of the shingles survive and Jaccard is ``s / (2 - s)``; solving for
    ``p`` gives this. Edits that fall close together spare shingles, so the result runs higher.
    """
    survive = 2 * target_jaccard / (1 + target_jaccard)
    return float(1.0 - survive ** (1 / 5))


def edit_words(text: str, rnd: random.Random, vocabulary: Sequence[str]) -> str:
    """Substitute, misspell, delete and insert words, at a rate drawn for Jaccard ~0.45-1.0."""
    tokens: list[str | None] = list(text.split(" "))
    rate = word_edit_rate(rnd.uniform(0.45, 1.0))
    count = min(len(tokens), int(rate * len(tokens) + rnd.random()))
    for i in rnd.sample(range(len(tokens)), count):
        token = tokens[i]
        if token is None:
            continue
        kind = rnd.random()
        if kind < 0.3:
            tokens[i] = rnd.choice(vocabulary)
        elif kind < 0.55:
            core = token.strip(".,;:!?\"'()")
            tokens[i] = token.replace(core, _typo(core, rnd), 1) if core else rnd.choice(vocabulary)
        elif kind < 0.8:
            tokens[i] = None
        else:
            tokens[i] = rnd.choice(vocabulary) + " " + token
    return " ".join(t for t in tokens if t is not None)


def edit_sentences(text: str, rnd: random.Random) -> str:
    """Drop, duplicate or move one to three sentences."""
    sentences = _SENTENCE_SPLIT.split(text)
    for _ in range(rnd.randint(1, 3)):
        if len(sentences) < 3:
            break
        i = rnd.randrange(len(sentences))
        kind = rnd.randrange(3)
        if kind == 0:
            del sentences[i]
        elif kind == 1:
            sentences.insert(rnd.randrange(len(sentences) + 1), sentences[i])
        else:
            sentences.insert(rnd.randrange(len(sentences)), sentences.pop(i))
    return " ".join(sentences)


def add_boilerplate(text: str, rnd: random.Random) -> str:
    """A header, a footer or both, as a blog or an aggregator would add."""
    kind = rnd.randrange(3)
    header = rnd.choice(_HEADERS)(rnd) + "\n\n" if kind != 1 else ""
    footer = "\n\n" + rnd.choice(_FOOTERS)(rnd) if kind != 0 else ""
    if kind == 2 and rnd.random() < 0.5:
        footer += "\n" + rnd.choice(_FOOTERS)(rnd)
    return header + text + footer


def truncate(text: str, rnd: random.Random) -> str:
    """The first 60-95% of the text's words (a teaser, a cut-off crawl)."""
    tokens = text.split(" ")
    return " ".join(tokens[: max(1, int(len(tokens) * rnd.uniform(0.6, 0.95)))])


def reformat(text: str, rnd: random.Random) -> str:
    """White space, ASCII case, quotes, dashes and commas changed: the same words, the same shingles.

    Case changes stay within ASCII text because ``str.upper`` can change non-ASCII words for good
    (``ß`` becomes ``SS``); every character swapped in is a separator of the shingle tokeniser.
    """
    for _ in range(rnd.randint(1, 3)):
        kind = rnd.randrange(6)
        if kind == 0:
            text = re.sub(r"\n[ \t]*\n", "\n", text) if rnd.random() < 0.5 else re.sub(r"[ \t\r\n]+", " ", text)
        elif kind == 1:
            text = text.replace(". ", ".  ").replace("\n", "\n\n") if rnd.random() < 0.5 else "  " + text + "\n"
        elif kind == 2:
            text = text.lower() if rnd.random() < 0.7 or not text.isascii() else text.upper()
        elif kind == 3:
            text = re.sub(r'"(\w)', "“\\1", text).replace('"', "”").replace("'", "’")
        elif kind == 4:
            text = text.replace("--", "—").replace(" - ", " – ")
        else:
            text = text.replace(", ", " ").replace("; ", ", ")
    return text


_EDITS = ("words", "sentences", "boilerplate", "truncate", "format")
_EDIT_WEIGHTS = (0.40, 0.13, 0.17, 0.13, 0.17)


def derive(text: str, rnd: random.Random, vocabulary: Sequence[str]) -> tuple[str, str]:
    """A copy of ``text`` with one main edit and maybe a light second one; returns (text, edit)."""
    main = rnd.choices(_EDITS, _EDIT_WEIGHTS)[0]
    edits = [main]
    if main != "format" and rnd.random() < 0.3:
        edits.append("format")
    if main != "boilerplate" and rnd.random() < 0.15:
        edits.append("boilerplate")
    for edit in edits:
        if edit == "words":
            text = edit_words(text, rnd, vocabulary)
        elif edit == "sentences":
            text = edit_sentences(text, rnd)
        elif edit == "boilerplate":
            text = add_boilerplate(text, rnd)
        elif edit == "truncate":
            text = truncate(text, rnd)
        else:
            text = reformat(text, rnd)
    return text, "+".join(edits)


# ---------------------------------------------------------------------------- the corpus
# Copies per ordinary family, as (fewest, most) ranges and their odds: mostly 1-3.
_FAMILY_SIZES = ((1, 1), (2, 2), (3, 3), (4, 6), (7, 20))
_FAMILY_WEIGHTS = (0.55, 0.20, 0.10, 0.10, 0.05)


def _family_sizes(rnd: random.Random, n_docs: int, copies: int) -> list[int]:
    """Copies per family: 3-5 large clusters first, then mostly 1-3 copies until ``copies``."""
    scale = min(1.0, n_docs / 100_000)
    sizes = [max(3, int(rnd.randint(100, 400) * scale)) for _ in range(rnd.randint(3, 5))]
    left = copies - sum(sizes)
    while left > 0:
        low, high = rnd.choices(_FAMILY_SIZES, _FAMILY_WEIGHTS)[0]
        size = rnd.randint(low, high)
        size = min(size, left)
        sizes.append(size)
        left -= size
    return sizes


def _documents(
    n_docs: int, seed: int, corpus: Path
) -> tuple[list[str], list[str], list[int], list[str | None], list[str]]:
    """The corpus as Python lists in final order: ids, texts, families, parents, edits."""
    rnd = random.Random(seed)
    passages = real_passages(rnd, corpus)
    sizes = [[len(u.split()) for u in p] for p in passages]
    vocabulary = [w for p in passages[:2000] for u in p for w in u.split() if _WORDLIKE.match(w)]

    n_exact = round(EXACT_FRACTION * n_docs)
    n_bases = max(1, round(BASE_FRACTION * n_docs))
    family_sizes = _family_sizes(rnd, n_docs, n_docs - n_bases - n_exact)
    n_bases = max(n_bases, len(family_sizes))
    family_sizes += [0] * (n_bases - len(family_sizes))
    rnd.shuffle(family_sizes)

    texts: list[str] = []
    roots: list[int] = []
    parents: list[int] = []
    edits: list[str] = []
    for base, n_copies in enumerate(family_sizes):
        text = "".join(passages[base]).strip() if base < len(passages) else _mosaic(rnd, passages, sizes)
        members = [len(texts)]
        texts.append(text)
        roots.append(base)
        parents.append(-1)
        edits.append("base")
        for _ in range(n_copies):
            parent = members[-1] if rnd.random() < CHAIN_PROBABILITY else rnd.choice(members)
            copy, edit = derive(texts[parent], rnd, vocabulary)
            members.append(len(texts))
            texts.append(copy)
            roots.append(base)
            parents.append(parent)
            edits.append(edit)
    for _ in range(n_docs - len(texts)):
        parent = rnd.randrange(len(texts))
        texts.append(texts[parent])
        roots.append(roots[parent])
        parents.append(parent)
        edits.append("exact")
    del texts[n_docs:], roots[n_docs:], parents[n_docs:], edits[n_docs:]

    order = list(range(len(texts)))
    rnd.shuffle(order)
    position = [0] * len(order)
    for new, old in enumerate(order):
        position[old] = new
    root_counts: dict[int, int] = {}
    for r in roots:
        root_counts[r] = root_counts.get(r, 0) + 1
    width = max(7, len(str(len(texts))))
    ids = [f"d{k + 1:0{width}d}" for k in range(len(texts))]
    return (
        ids,
        [texts[k] for k in order],
        [roots[k] if root_counts[roots[k]] > 1 else -1 for k in order],
        [ids[position[parents[k]]] if parents[k] >= 0 else None for k in order],
        [edits[k] for k in order],
    )


def generate(n_docs: int = 100_000, seed: int = 0, *, corpus: Path = CORPUS) -> pa.Table:
    """The near-duplicate corpus for ``(n_docs, seed)``: id, text, family, parent, edit (see the module doc)."""
    columns = _documents(n_docs, seed, corpus)
    return pa.table([pa.array(c, f.type) for c, f in zip(columns, SCHEMA, strict=True)], schema=SCHEMA)


def write_jsonl(table: pa.Table, path: str | Path) -> Path:
    """Write the ``id`` and ``text`` columns as JSON Lines (what ``read.jsonl`` reads); returns ``path``."""
    batches = table.select(["id", "text"]).to_batches(50_000)
    return _write_rows((row for b in batches for row in zip(*b.to_pydict().values(), strict=True)), path)


def write_corpus_jsonl(n_docs: int, seed: int, path: str | Path, *, corpus: Path = CORPUS) -> Path:
    """``write_jsonl(generate(n_docs, seed), path)`` without the Arrow copy (1M documents: ~2 GB less)."""
    ids, texts, *_ = _documents(n_docs, seed, corpus)
    return _write_rows(zip(ids, texts, strict=True), path)


def _write_rows(rows: Iterable[tuple[str, str]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        out.writelines(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in rows)
    partial.replace(path)  # an interrupted write never looks like a finished one
    return path


# ---------------------------------------------------------------------------- ground truth
class _Vocabulary(dict[str, int]):
    """Word -> id, a new id for each new word (``map(vocabulary.__getitem__, words)`` runs in C)."""

    def __missing__(self, word: str) -> int:
        self[word] = len(self)
        return self[word]


def shingle_ids(texts: Iterable[str], n: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each text's shingle set as ids ranked by document frequency, ascending within each set.

    The words are those of ``datamill.dedup.shingles.words`` (the same pattern), numbered; a
    shingle is identified by a 64-bit hash of its word ids (with ~10^7 distinct shingles a
    collision has odds of ~10^-6 and could only add a pair; ``--check`` compares with the
    string shingles). Returns ``(offsets, tokens, frequency)``: text ``i``'s ids are
    ``tokens[offsets[i]:offsets[i+1]]``; id 0 is the rarest shingle (ties broken by hash).
    """
    vocabulary = _Vocabulary()
    word_ids = array("q")
    lengths: list[int] = []
    for text in texts:
        found = WORD_PATTERN.findall(text.lower())
        word_ids.extend(map(vocabulary.__getitem__, found))
        lengths.append(len(found))
    word_offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=word_offsets[1:])
    offsets, hashes = _gram_hashes(np.frombuffer(word_ids, np.int64), word_offsets, n)
    del word_ids
    _, grams = np.unique(hashes, return_inverse=True)
    del hashes
    grams = grams.astype(np.int32)
    offsets, grams = _dedupe_segments(offsets, grams)  # a set, not a bag, per document
    counts = np.bincount(grams)
    rank = np.empty(len(counts), np.int32)
    rank[np.argsort(counts, kind="stable")] = np.arange(len(counts), dtype=np.int32)
    tokens = rank[grams]
    _sort_segments(offsets, tokens)
    return offsets, tokens, np.sort(counts)


@numba.njit(cache=True)
def _gram_hashes(words: np.ndarray, word_offsets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of each document's word ``n``-grams (one gram of all words when fewer)."""
    docs = len(word_offsets) - 1
    offsets = np.zeros(docs + 1, np.int64)
    for d in range(docs):
        length = word_offsets[d + 1] - word_offsets[d]
        offsets[d + 1] = offsets[d] + (0 if length == 0 else max(1, length - n + 1))
    out = np.empty(offsets[-1], np.uint64)
    mult = np.uint64(0xBF58476D1CE4E5B9)
    for d in range(docs):
        start = word_offsets[d]
        length = word_offsets[d + 1] - start
        width = min(n, length)
        for g in range(offsets[d + 1] - offsets[d]):
            h = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(width)
            for k in range(width):
                h = (h ^ np.uint64(words[start + g + k])) * mult
                h ^= h >> np.uint64(31)
            out[offsets[d] + g] = h
    return offsets, out


@numba.njit(cache=True)
def _sort_segments(offsets: np.ndarray, tokens: np.ndarray) -> None:
    for i in range(len(offsets) - 1):
        tokens[offsets[i] : offsets[i + 1]].sort()


@numba.njit(cache=True)
def _dedupe_segments(offsets: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each segment sorted with repeats dropped, compacted into new offsets and ids."""
    new_offsets = np.zeros_like(offsets)
    out = np.empty_like(ids)
    k = 0
    for d in range(len(offsets) - 1):
        segment = np.sort(ids[offsets[d] : offsets[d + 1]])
        for j in range(len(segment)):
            if j == 0 or segment[j] != segment[j - 1]:
                out[k] = segment[j]
                k += 1
        new_offsets[d + 1] = k
    return new_offsets, out[:k]


@numba.njit(cache=True)
def _all_pairs(offsets: np.ndarray, tokens: np.ndarray, n_tokens: int, t: float) -> np.ndarray:
    """AllPairs (Bayardo et al., 2007) with overlap-bound verification; see :func:`true_pairs`."""
    eps = 1e-9
    n = len(offsets) - 1
    size = offsets[1:] - offsets[:-1]
    order = np.argsort(size, kind="mergesort")
    # Index prefix: a later (not smaller) partner x needs overlap >= 2t/(1+t)|y|; probe prefix:
    # an earlier (not larger) partner needs overlap >= t|x|. A prefix of |s| - o + 1 tokens of each
    # set must then meet (both sets ordered the same way), so indexing and probing them loses nothing.
    index_len = np.zeros(n, np.int64)
    probe_len = np.zeros(n, np.int64)
    for d in range(n):
        s = size[d]
        if s > 0:
            index_len[d] = s - math.ceil(2 * t / (1 + t) * s - eps) + 1
            probe_len[d] = s - math.ceil(t * s - eps) + 1
    # Inverted lists of index prefixes, each in processing order (so sizes ascend along a list).
    list_len = np.zeros(n_tokens + 1, np.int64)
    for d in range(n):
        for k in range(offsets[d], offsets[d] + index_len[d]):
            list_len[tokens[k] + 1] += 1
    starts = np.cumsum(list_len)
    fill = starts[:-1].copy()
    entries = np.empty(starts[-1], np.int64)
    for i in range(n):
        d = order[i]
        for k in range(offsets[d], offsets[d] + index_len[d]):
            entries[fill[tokens[k]]] = i
            fill[tokens[k]] += 1
    head = starts[:-1].copy()  # per token: the first entry still large enough (size filter)
    seen = np.full(n, -1, np.int64)
    candidates = np.empty(n, np.int64)
    out = np.empty((1024, 2), np.int64)
    found = 0
    for i in range(n):
        x = order[i]
        sx = size[x]
        if sx == 0:
            continue
        min_size = math.ceil(t * sx - eps)
        n_cand = 0
        for k in range(offsets[x], offsets[x] + probe_len[x]):
            tok = tokens[k]
            h = head[tok]
            end = fill[tok]
            while h < end and size[order[entries[h]]] < min_size:
                h += 1
            head[tok] = h
            while h < end and entries[h] < i:
                y = order[entries[h]]
                if seen[y] != i:
                    seen[y] = i
                    candidates[n_cand] = y
                    n_cand += 1
                h += 1
        for c in range(n_cand):
            y = candidates[c]
            sy = size[y]
            need = math.ceil(t / (1 + t) * (sx + sy) - eps)
            a, b = offsets[x], offsets[y]
            a_end, b_end = a + sx, b + sy
            overlap = 0
            while a < a_end and b < b_end:
                if overlap + min(a_end - a, b_end - b) < need:
                    break
                ta, tb = tokens[a], tokens[b]
                if ta == tb:
                    overlap += 1
                    a += 1
                    b += 1
                elif ta < tb:
                    a += 1
                else:
                    b += 1
            # The same float comparison as ``jaccard(a, b) >= t``.
            if overlap >= need and overlap / (sx + sy - overlap) >= t:
                if found == len(out):
                    bigger = np.empty((2 * len(out), 2), np.int64)
                    bigger[:found] = out[:found]
                    out = bigger
                out[found, 0] = min(x, y)
                out[found, 1] = max(x, y)
                found += 1
    return out[:found]


def true_pairs(texts: Sequence[str], threshold: float = 0.8, n: int = 5) -> np.ndarray:
    """Every index pair ``(i, j)``, ``i < j``, whose exact shingle Jaccard is >= ``threshold``.

    An exact all-pairs similarity join: each set's shingle ids are ordered by global frequency,
    rarest first; a pair with Jaccard >= t must share a token of their prefixes (see
    ``_all_pairs``) and have sizes within a factor t; candidates are verified by merging the two
    sorted sets, stopping once the overlap needed can no longer be reached. Returns an int64
    ``(k, 2)`` array sorted by ``(i, j)``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    offsets, tokens, counts = shingle_ids(texts, n)
    pairs = _all_pairs(offsets, tokens, len(counts), float(threshold))
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]


def brute_force_pairs(texts: Sequence[str], threshold: float = 0.8, n: int = 5) -> np.ndarray:
    """The same pairs as :func:`true_pairs`, by ``jaccard`` over all pairs (for small samples)."""
    sets = [shingles(t, n) for t in texts]
    n_sets = len(sets)
    pairs = [(i, j) for i in range(n_sets) for j in range(i + 1, n_sets) if jaccard(sets[i], sets[j]) >= threshold]
    return np.array(pairs, np.int64).reshape(-1, 2)


# ---------------------------------------------------------------------------- cache
def _stem(n_docs: int, seed: int) -> str:
    return f"corpus_v{VERSION}_n{n_docs}_s{seed}"


def load_corpus(n_docs: int = 100_000, seed: int = 0, *, verbose: bool = True) -> pa.Table:
    """The corpus for ``(n_docs, seed)`` from the cache, generating it first if needed."""
    path = DATA_DIR / f"{_stem(n_docs, seed)}.parquet"
    if path.exists():
        return pq.read_table(path)
    start = time.perf_counter()
    table = generate(n_docs, seed)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    pq.write_table(table, partial, compression="zstd")
    partial.replace(path)
    if verbose:
        print(
            f"generated {n_docs:,} documents (seed {seed}) in {time.perf_counter() - start:.1f} s -> {path}",
            file=sys.stderr,
        )
    return table


def load_pairs(
    n_docs: int = 100_000, seed: int = 0, threshold: float = 0.8, *, verbose: bool = True, table: pa.Table | None = None
) -> np.ndarray:
    """The true pairs of the ``(n_docs, seed)`` corpus at ``threshold``, from the cache if there."""
    path = DATA_DIR / f"{_stem(n_docs, seed)}_pairs_t{threshold:g}.npy"
    if path.exists():
        cached: np.ndarray = np.load(path)
        return cached
    texts = (table if table is not None else load_corpus(n_docs, seed, verbose=verbose)).column("text").to_pylist()
    start = time.perf_counter()
    pairs = true_pairs(texts, threshold)
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, pairs)
    partial.replace(path)
    if verbose:
        print(
            f"ground truth: {len(pairs):,} pairs at J >= {threshold:g} in {time.perf_counter() - start:.1f} s -> "
            f"{path}",
            file=sys.stderr,
        )
    return pairs


def jsonl_path(n_docs: int, seed: int = 0) -> Path:
    """The JSONL corpus for ``(n_docs, seed)`` in the cache, written first if needed."""
    path = DATA_DIR / f"{_stem(n_docs, seed)}.jsonl"
    if not path.exists():
        start = time.perf_counter()
        write_corpus_jsonl(n_docs, seed, path)
        print(f"wrote {n_docs:,} documents in {time.perf_counter() - start:.1f} s -> {path}", file=sys.stderr)
    return path


# ---------------------------------------------------------------------------- statistics and check
def statistics(table: pa.Table, pairs: np.ndarray, threshold: float = 0.8) -> dict[str, object]:
    """What the corpus holds: documents per edit, true pairs, and Jaccard of copies to their parents."""
    texts = table.column("text").to_pylist()
    ids = table.column("id").to_pylist()
    index = {d: k for k, d in enumerate(ids)}
    parents = table.column("parent").to_pylist()
    edits = table.column("edit").to_pylist()
    families = np.asarray(table.column("family"))
    copy_j: dict[str, list[float]] = {}
    for k, parent in enumerate(parents):
        if parent is not None:
            main = edits[k].split("+")[0]
            copy_j.setdefault(main, []).append(jaccard(shingles(texts[k]), shingles(texts[index[parent]])))
    bins = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0, 1.0001]
    every = np.array([j for js in copy_j.values() for j in js])
    same_family = families[pairs[:, 0]] == families[pairs[:, 1]]
    same_family &= families[pairs[:, 0]] >= 0
    n_words = np.array([len(t.split()) for t in texts])
    # Every pair within a family, however far apart: what LSH must tell apart near the threshold.
    members: dict[int, list[int]] = {}
    for k, f in enumerate(families.tolist()):
        if f >= 0:
            members.setdefault(f, []).append(k)
    sets = {k: shingles(texts[k]) for ks in members.values() for k in ks}
    family_j = np.array(
        [jaccard(sets[a], sets[b]) for ks in members.values() for i, a in enumerate(ks) for b in ks[i + 1 :]]
    )
    return {
        "documents": len(texts),
        "words": {
            "median": int(np.median(n_words)),
            "p10": int(np.percentile(n_words, 10)),
            "p90": int(np.percentile(n_words, 90)),
            "max": int(n_words.max()),
        },
        "base_passages": sum(p is None for p in parents),
        "copies": {e: len(v) for e, v in sorted(copy_j.items())},
        "in_a_family": int((families >= 0).sum()),
        "true_pairs": len(pairs),
        "true_pairs_outside_families": int((~same_family).sum()),
        "docs_in_a_true_pair": len(np.unique(pairs)),
        "copy_to_parent_jaccard_histogram": {
            f"[{lo:g},{hi:g})" if hi <= 1 else "1": int(((every >= lo) & (every < hi)).sum())
            for lo, hi in itertools.pairwise(bins)
        },
        "family_pairs": len(family_j),
        "family_pairs_jaccard_histogram": {
            f"[{lo:g},{hi:g})" if hi <= 1 else "1": int(((family_j >= lo) & (family_j < hi)).sum())
            for lo, hi in itertools.pairwise(bins)
        },
        "copy_to_parent_below_threshold": {
            e: round(float(np.mean(np.array(v) < threshold)), 3) for e, v in sorted(copy_j.items())
        },
    }


def check(n_docs: int, seed: int = 0, threshold: float = 0.8, source_docs: int = 100_000) -> None:
    """Assert that :func:`true_pairs` equals brute force on two samples of ``n_docs`` documents.

    The samples: a corpus generated with ``n_docs`` documents (all its structure at a small
    scale), and documents of the ``source_docs`` corpus, half of them whole families (so there are
    pairs to find) and half at random.
    """
    big = load_corpus(source_docs, seed)
    families = np.asarray(big.column("family"))
    rnd = random.Random(seed)
    family_ids = sorted(set(families[families >= 0].tolist()))
    rnd.shuffle(family_ids)
    by_family: dict[int, list[int]] = {}
    for k, f in enumerate(families.tolist()):
        if f >= 0:
            by_family.setdefault(f, []).append(k)
    picked: set[int] = set()
    for f in family_ids:
        if len(picked) + len(by_family[f]) <= n_docs // 2:
            picked.update(by_family[f])
    while len(picked) < min(n_docs, big.num_rows):
        picked.add(rnd.randrange(big.num_rows))
    sample = big.take(sorted(picked)).column("text").to_pylist()
    for name, texts in (
        ("generated", generate(n_docs, seed).column("text").to_pylist()),
        (f"sample of the {source_docs:,}-doc corpus", sample),
    ):
        start = time.perf_counter()
        joined = true_pairs(texts, threshold)
        mid = time.perf_counter()
        brute = brute_force_pairs(texts, threshold)
        end = time.perf_counter()
        assert np.array_equal(joined, brute), f"{name}: join {len(joined)} pairs != brute force {len(brute)}"
        print(
            f"check ok ({name}, {len(texts):,} docs): {len(joined):,} pairs at J >= {threshold:g}, "
            f"join {mid - start:.2f} s, brute force {end - mid:.1f} s"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: build and cache a corpus and print its statistics, write JSONL, or check the join."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="documents in the corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--out", type=Path, help="write the corpus (id, text) as JSON Lines here and stop")
    parser.add_argument("--check", type=int, metavar="N", help="compare the join with brute force on N docs")
    args = parser.parse_args(argv)
    if args.check:
        check(args.check, args.seed, args.threshold, args.docs)
        return 0
    if args.out:
        start = time.perf_counter()
        write_corpus_jsonl(args.docs, args.seed, args.out)
        print(f"wrote {args.docs:,} documents in {time.perf_counter() - start:.1f} s -> {args.out}")
        return 0
    table = load_corpus(args.docs, args.seed)
    pairs = load_pairs(args.docs, args.seed, args.threshold, table=table)
    print(json.dumps(statistics(table, pairs, args.threshold), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
