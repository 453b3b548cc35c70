"""Drift of free-text columns: the length distribution (every row) and the vocabulary (a sample).

A text column is streamed once per side: the length in characters of every row is kept (4 bytes
a row) together with a seeded sample of ``sample`` documents, whose lowercased word frequencies
are compared with the size-corrected Jensen–Shannon distance `datamill.validate.divergence`
uses for categories (words seen fewer than ``min_count`` times in both samples pooled).

>>> import pyarrow as pa
>>> batches = [pa.record_batch({"t": ["the cat sat", "a dog ran off", "the end"]})]
>>> lengths, sampled = text_sample(batches, "t", None, 3, 2, seed=0)
>>> lengths["length"].to_pylist(), sampled.num_rows
([11, 13, 7], 2)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill.validate.divergence import categorical_measures, numeric_measures

__all__ = ["is_text", "language_counts", "text_measures", "text_sample", "words"]

# A string column is free text when, in its first batch, values average 3 or more words and
# more than half are distinct (Evidently's rule for text is the distinct share alone, which a
# 100k-category column also meets on a small sample).
MIN_WORDS, MIN_DISTINCT_SHARE = 3.0, 0.5
_PROBE_ROWS = 10_000


def is_text(batches: Iterable[pa.RecordBatch], name: str) -> bool:
    """Whether the string column ``name`` holds free text, judged on its first 10,000 values.

    >>> is_text([pa.record_batch({"s": ["red", "blue", "red"]})], "s")
    False
    >>> is_text([pa.record_batch({"s": ["a long free text", "another one here", "and a third row"]})], "s")
    True
    """
    for batch in batches:
        values = batch.column(name).slice(0, _PROBE_ROWS)
        if pa.types.is_dictionary(values.type):
            return False
        values = values.drop_null()
        if len(values) == 0:
            continue
        count = pc.list_value_length(pc.utf8_split_whitespace(values))
        mean_words = pc.mean(count).as_py() or 0.0
        distinct = len(pc.unique(values)) / len(values)
        return bool(mean_words >= MIN_WORDS and distinct > MIN_DISTINCT_SHARE)
    return False


def text_sample(batches: Iterable[pa.RecordBatch], name: str, slice_by: str | None, num_rows: int, sample: int,
                seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Stream a text column: every row's length in characters, and ``sample`` documents drawn
    uniformly (seeded) from the ``num_rows`` rows; each with the ``slice_by`` column beside it.
    Only the lengths and the sample stay in memory."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(num_rows, size=min(sample, num_rows), replace=False)) if num_rows else np.empty(0, int)
    lengths: list[pa.RecordBatch] = []
    sampled: list[pa.RecordBatch] = []
    offset = 0
    for batch in batches:
        column = batch.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        extra = {} if slice_by is None or slice_by == name else {slice_by: batch.column(slice_by)}
        lengths.append(pa.record_batch({"length": pc.utf8_length(column), **extra}))
        lo, hi = np.searchsorted(picks, [offset, offset + batch.num_rows])
        if hi > lo:
            take = pa.array(picks[lo:hi] - offset)
            sampled.append(pa.record_batch({"text": column.take(take),
                                             **{k: v.take(take) for k, v in extra.items()}}))
        offset += batch.num_rows
    return _table(lengths, "length"), _table(sampled, "text")


def _table(batches: list[pa.RecordBatch], first: str) -> pa.Table:
    if batches:
        return pa.Table.from_batches(batches)
    return pa.table({first: pa.array([], pa.int32() if first == "length" else pa.string())})


def words(texts: pa.Array) -> pa.Array:
    """Lowercased words (runs of letters, digits and ``_``) of every text, flattened.

    >>> words(pa.array(["The cat, the HAT!", None])).to_pylist()
    ['the', 'cat', 'the', 'hat']
    """
    pieces = pc.list_flatten(pc.split_pattern_regex(pc.utf8_lower(texts.drop_null()), r"[^\w]+"))
    return pieces.filter(pc.not_equal(pieces, ""))


def language_counts(texts: pa.Array, limit: int = 2000) -> dict[str, int]:
    """Documents per language (ISO 639-1; ``unknown`` where lingua cannot tell) among the first
    ``limit`` of ``texts``, with datamill.clean's low-accuracy lingua detector (~170 MB loaded).

    >>> language_counts(pa.array(["The weather is lovely today and we walk.", "Das Wetter ist heute schön."]))
    {'en': 1, 'de': 1}
    """
    from datamill.clean.language import detector, sample_text

    head = sample_text(texts.drop_null().slice(0, limit), 600).to_pylist()
    found = detector(None, True).detect_languages_in_parallel_of(head)
    counts: dict[str, int] = {}
    for language in found:
        code = "unknown" if language is None else language.iso_code_639_1.name.lower()
        counts[code] = counts.get(code, 0) + 1
    return counts


def _language_measures(ref_texts: pa.Array, cur_texts: pa.Array, min_count: int) -> dict[str, float]:
    a, b = language_counts(ref_texts), language_counts(cur_texts)
    codes = sorted(set(a) | set(b))
    measures = categorical_measures(np.array([a.get(c, 0) for c in codes]), np.array([b.get(c, 0) for c in codes]),
                                    min_count=min_count)
    return {"language_jensen_shannon": measures["jensen_shannon"], "language_linf": measures["linf"],
            "languages": float(len(codes))}


def text_measures(ref: tuple[np.ndarray, pa.Array], cur: tuple[np.ndarray, pa.Array], *,
                  min_count: int = 10, languages: bool = False) -> dict[str, Any]:
    """Length and vocabulary measures of two text samples (lengths, sampled texts).

    Keys: ``length_ks``, ``length_ks_p``, ``length_wasserstein``, ``length_psi``,
    ``length_jensen_shannon`` (numeric measures of the lengths), ``jensen_shannon`` (the
    size-corrected vocabulary distance), ``vocabulary_jensen_shannon_raw``, ``vocabulary_linf``,
    ``reference_sampled``, ``current_sampled`` and the length ``chart``; with ``languages``,
    ``language_jensen_shannon`` and ``language_linf`` over the languages of up to 2,000 sampled
    documents a side (`language_counts`).
    """
    ref_len, ref_texts = ref
    cur_len, cur_texts = cur
    measures = numeric_measures(np.sort(ref_len), np.sort(cur_len))
    result: dict[str, Any] = {f"length_{k}": measures[k] for k in ("ks", "ks_p", "wasserstein", "psi",
                                                                    "jensen_shannon")}
    result.update(reference_mean_length=measures["reference_mean"], current_mean_length=measures["current_mean"],
                  chart=measures["chart"], reference_sampled=len(ref_texts), current_sampled=len(cur_texts))
    a = pc.value_counts(words(ref_texts))
    b = pc.value_counts(words(cur_texts))
    vocab_ref = pa.table({"w": a.field("values"), "n": a.field("counts")})
    vocab_cur = pa.table({"w": b.field("values"), "n": b.field("counts")})
    joined = vocab_ref.join(vocab_cur, "w", join_type="full outer", left_suffix="_ref", right_suffix="_cur",
                            use_threads=False)
    ref_n = pc.fill_null(joined["n_ref"], 0).to_numpy().astype(np.int64)
    cur_n = pc.fill_null(joined["n_cur"], 0).to_numpy().astype(np.int64)
    if ref_n.sum() and cur_n.sum():
        vocab = categorical_measures(ref_n, cur_n, min_count=min_count)
        result.update(jensen_shannon=vocab["jensen_shannon"], vocabulary_jensen_shannon_raw=vocab["jensen_shannon_raw"],
                      vocabulary_linf=vocab["linf"], vocabulary_words=vocab["categories"])
    else:
        result.update(jensen_shannon=0.0, vocabulary_jensen_shannon_raw=0.0, vocabulary_linf=0.0, vocabulary_words=0)
    if languages and len(ref_texts) and len(cur_texts):
        result.update(_language_measures(ref_texts, cur_texts, min_count))
    return result
