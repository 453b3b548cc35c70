"""Gopher's quality and repetition rules: ``filter.gopher_quality`` and ``filter.gopher_repetition``.

Source: Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training
Gopher", Appendix A (MassiveWeb quality filters, and Table A1 for repetition). Every threshold
is a config field whose default is the paper's value; ``null`` turns a rule off.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from operator import itemgetter

from pydantic import Field, field_validator

from datamill.clean.quality._filter import Check, QualityFilter, QualityFilterConfig, ratio
from datamill.clean.quality._words import chunk_words, split_words
from datamill.pipeline import register

__all__ = ["GopherQuality", "GopherQualityConfig", "GopherRepetition", "GopherRepetitionConfig"]

_GOPHER = "Rae et al. 2021 (Gopher), Appendix A"
_TABLE_A1 = "Rae et al. 2021 (Gopher), Appendix A, Table A1"


# ---------------------------------------------------------------------------- quality
def _is_symbol(word: str) -> bool:
    """Whether a word is only punctuation, symbols or control characters (it is not counted as a word)."""
    return all(unicodedata.category(c)[0] in "PSC" for c in word)


def _stats_of(chunk: str) -> tuple[int, int, int, int, tuple[str, ...]]:
    """For one chunk: tokens, tokens with a letter, words (not only symbols), their total length, the tokens."""
    words = chunk_words(chunk)
    real = [w for w in words if not _is_symbol(w)]
    alpha = sum(1 for w in words if any(c.isalpha() for c in w))
    return len(words), alpha, len(real), sum(map(len, real)), words


_cached_stats_of = lru_cache(maxsize=1 << 17)(_stats_of)
_MAX_CACHED = 64  # longer chunks are rare and seldom repeat: not worth the memory


def _chunk_stats(chunk: str) -> tuple[int, int, int, int, tuple[str, ...]]:
    return _cached_stats_of(chunk) if len(chunk) <= _MAX_CACHED else _stats_of(chunk)


class GopherQualityConfig(QualityFilterConfig):
    """Thresholds of Gopher's quality filter; defaults from Rae et al. 2021, Appendix A."""

    min_words: int | None = Field(50, ge=0, description="Drop documents with fewer words (tokens that are not "
                                                        "only punctuation). Gopher: 50.")
    max_words: int | None = Field(100_000, ge=1, description="Drop documents with more words. Gopher: 100,000.")
    min_mean_word_length: float | None = Field(3, ge=0, description="Drop documents whose mean word length (in "
                                                                    "characters) is below this. Gopher: 3.")
    max_mean_word_length: float | None = Field(10, ge=0, description="Drop documents whose mean word length is "
                                                                     "above this. Gopher: 10.")
    max_symbol_word_ratio: float | None = Field(0.1, ge=0, description="Drop documents where `#` or an ellipsis "
                                                                       "(`...`, `…`) occurs more often than this "
                                                                       "per token. Gopher: 0.1.")
    max_bullet_lines_ratio: float | None = Field(0.9, ge=0, le=1, description="Drop documents where more than "
                                                                              "this share of lines start with a "
                                                                              "bullet. Gopher: 0.9.")
    max_ellipsis_lines_ratio: float | None = Field(0.3, ge=0, le=1, description="Drop documents where more than "
                                                                                "this share of lines end with an "
                                                                                "ellipsis. Gopher: 0.3.")
    min_alpha_words_ratio: float | None = Field(0.8, ge=0, le=1, description="Drop documents where fewer than "
                                                                             "this share of tokens hold a letter. "
                                                                             "Gopher: 0.8.")
    min_stop_words: int | None = Field(2, ge=0, description="Drop documents with fewer of the distinct "
                                                            "`stop_words`. Gopher: 2.")
    stop_words: tuple[str, ...] = Field(("the", "be", "to", "of", "and", "that", "have", "with"),
                                        description="Words of which a document needs `min_stop_words` (matched "
                                                    "as written). Gopher's English list.")
    bullets: tuple[str, ...] = Field(("•", "-"), min_length=1,
                                     description="What a bulleted line starts with (after its indentation).")


@register("filter.gopher_quality")
class GopherQuality(QualityFilter[GopherQualityConfig]):
    """Gopher's quality filter (Rae et al. 2021, Appendix A): drop documents that do not look like prose.

    Rules, in order, each a drop reason: ``gopher_word_count``, ``gopher_mean_word_length``,
    ``gopher_symbol_ratio``, ``gopher_bullet_lines``, ``gopher_ellipsis_lines``,
    ``gopher_alpha_words``, ``gopher_stop_words``. Words are English tokens split with spaCy's
    rules (see `datamill.clean.quality._words`): punctuation marks are tokens; the word count and
    mean length skip tokens that are only punctuation or symbols; the symbol and letter ratios
    are per token, as in datatrove's implementation used for FineWeb.

    >>> from datamill.testing import make_batch, run_step
    >>> prose = "The cat sat on the mat and looked at the dog with great interest. " * 5
    >>> result = run_step(GopherQuality(), [make_batch(text=[prose, "# # # buy now"])])
    >>> result.output["id"].to_pylist(), result.ledger.dropped
    (['0'], {'gopher_word_count': 1})
    """

    version = 1
    drop_reasons = {
        "gopher_word_count": f"word count outside [min_words, max_words]; 50 to 100,000 ({_GOPHER})",
        "gopher_mean_word_length": f"mean word length outside [min_mean_word_length, max_mean_word_length]; "
                                   f"3 to 10 characters ({_GOPHER})",
        "gopher_symbol_ratio": f"'#' or ellipses per token above max_symbol_word_ratio; 0.1 ({_GOPHER})",
        "gopher_bullet_lines": f"share of lines starting with a bullet above max_bullet_lines_ratio; 0.9 ({_GOPHER})",
        "gopher_ellipsis_lines": f"share of lines ending with an ellipsis above max_ellipsis_lines_ratio; 0.3 "
                                 f"({_GOPHER})",
        "gopher_alpha_words": f"share of tokens with a letter below min_alpha_words_ratio; 0.8 ({_GOPHER})",
        "gopher_stop_words": f"fewer than min_stop_words of the, be, to, of, and, that, have, with; 2 ({_GOPHER})",
    }
    stats_column = "gopher_quality_stats"
    stat_names = ("words", "tokens", "mean_word_length", "hash_ratio", "ellipsis_ratio", "bullet_lines_ratio",
                  "ellipsis_lines_ratio", "alpha_words_ratio", "stop_words")

    def check(self, text: str) -> Check:
        cfg = self.config
        stop = frozenset(cfg.stop_words)
        tokens = alpha = words = letters = 0
        found: set[str] = set()
        for chunk in text.split():
            n, a, w, length, toks = _chunk_stats(chunk)
            tokens += n
            alpha += a
            words += w
            letters += length
            found.update(t for t in toks if t in stop)
        lines = text.splitlines()
        bullets = sum(1 for line in lines if line.lstrip().startswith(cfg.bullets))
        ellipsis_lines = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
        stats = {
            "words": float(words), "tokens": float(tokens), "mean_word_length": ratio(letters, words),
            "hash_ratio": ratio(text.count("#"), tokens),
            "ellipsis_ratio": ratio(text.count("...") + text.count("…"), tokens),
            "bullet_lines_ratio": ratio(bullets, len(lines)), "ellipsis_lines_ratio": ratio(ellipsis_lines, len(lines)),
            "alpha_words_ratio": ratio(alpha, tokens), "stop_words": float(len(found)),
        }
        return self._first_failure(stats), stats, None

    def _first_failure(self, s: dict[str, float]) -> str | None:
        cfg = self.config
        if (cfg.min_words is not None and s["words"] < cfg.min_words) or (
                cfg.max_words is not None and s["words"] > cfg.max_words):
            return "gopher_word_count"
        if (cfg.min_mean_word_length is not None and s["mean_word_length"] < cfg.min_mean_word_length) or (
                cfg.max_mean_word_length is not None and s["mean_word_length"] > cfg.max_mean_word_length):
            return "gopher_mean_word_length"
        if cfg.max_symbol_word_ratio is not None and max(s["hash_ratio"], s["ellipsis_ratio"]) > \
                cfg.max_symbol_word_ratio:
            return "gopher_symbol_ratio"
        if cfg.max_bullet_lines_ratio is not None and s["bullet_lines_ratio"] > cfg.max_bullet_lines_ratio:
            return "gopher_bullet_lines"
        if cfg.max_ellipsis_lines_ratio is not None and s["ellipsis_lines_ratio"] > cfg.max_ellipsis_lines_ratio:
            return "gopher_ellipsis_lines"
        if cfg.min_alpha_words_ratio is not None and s["alpha_words_ratio"] < cfg.min_alpha_words_ratio:
            return "gopher_alpha_words"
        if cfg.min_stop_words is not None and s["stop_words"] < cfg.min_stop_words:
            return "gopher_stop_words"
        return None


# ---------------------------------------------------------------------------- repetition
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")
_LINE_BREAKS = re.compile(r"\n+")


def _duplicates(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and their characters."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


def _top_ngram_chars(ids: list[int], lengths: list[int], n: int) -> int:
    """Characters in all occurrences of the most frequent n-gram (the first seen, on a tie).

    An n-gram's characters are its words' plus the n - 1 spaces between them.
    """
    if len(ids) < n:
        return 0
    counts = Counter(zip(*(ids[i:] for i in range(n)), strict=False))
    gram, count = max(counts.items(), key=itemgetter(1))
    first = _first_position(ids, gram)
    return (sum(lengths[first:first + n]) + n - 1) * count


def _first_position(ids: list[int], gram: tuple[int, ...]) -> int:
    start = 0
    while True:
        start = ids.index(gram[0], start)
        if tuple(ids[start:start + len(gram)]) == gram:
            return start
        start += 1


def _dup_ngram_chars(ids: list[int], lengths: list[int], n: int) -> int:
    """Characters of the words inside any repeat (not first occurrence) of an n-gram, each counted once."""
    grams = list(zip(*(ids[i:] for i in range(n)), strict=False))
    # Built from the end, each n-gram keeps the position of its first occurrence.
    first = dict(zip(reversed(grams), range(len(grams) - 1, -1, -1), strict=True))
    if len(first) == len(grams):
        return 0
    covered = bytearray(len(ids))
    ones = b"\x01" * n
    for i in [i for i, gram in enumerate(grams) if first[gram] != i]:
        covered[i:i + n] = ones
    return sum(length for length, hit in zip(lengths, covered, strict=True) if hit)


def _ngram_sizes(value: dict[int, float]) -> dict[int, float]:
    bad = [n for n in value if not 1 <= n <= 50]
    if bad:
        raise ValueError(f"n-gram sizes must be between 1 and 50, got {sorted(bad)}")
    wrong = {n: v for n, v in value.items() if not 0 <= v <= 1}
    if wrong:
        raise ValueError(f"fractions must be between 0 and 1, got {wrong}")
    return dict(sorted(value.items()))


class GopherRepetitionConfig(QualityFilterConfig):
    """Thresholds of Gopher's repetition filter; defaults from Rae et al. 2021, Table A1."""

    max_dup_line_frac: float | None = Field(0.30, ge=0, le=1, description="Drop documents where more than this "
                                                                          "share of lines repeat an earlier line.")
    max_dup_para_frac: float | None = Field(0.30, ge=0, le=1, description="Drop documents where more than this "
                                                                          "share of paragraphs (split at blank "
                                                                          "lines) repeat an earlier one.")
    max_dup_line_char_frac: float | None = Field(0.20, ge=0, le=1, description="Drop documents where repeated "
                                                                               "lines hold more than this share "
                                                                               "of the characters.")
    max_dup_para_char_frac: float | None = Field(0.20, ge=0, le=1, description="Drop documents where repeated "
                                                                               "paragraphs hold more than this "
                                                                               "share of the characters.")
    top_ngram_char_frac: dict[int, float] = Field(
        {2: 0.20, 3: 0.18, 4: 0.16},
        description="n → the largest share of characters the most frequent word n-gram may cover.")
    dup_ngram_char_frac: dict[int, float] = Field(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="n → the largest share of characters that repeated word n-grams may cover.")

    _sizes = field_validator("top_ngram_char_frac", "dup_ngram_char_frac")(_ngram_sizes)


@register("filter.gopher_repetition")
class GopherRepetition(QualityFilter[GopherRepetitionConfig]):
    """Gopher's repetition filter (Rae et al. 2021, Table A1): drop documents that repeat themselves.

    Rules, in order: ``gopher_dup_line_frac``, ``gopher_dup_para_frac``,
    ``gopher_dup_line_char_frac``, ``gopher_dup_para_char_frac``, ``gopher_top_<n>gram`` (n = 2,
    3, 4) and ``gopher_dup_<n>gram`` (n = 5 … 10). Character shares are of the whole text. A
    blank document is dropped as ``empty_text``.

    >>> from datamill.testing import make_batch, run_step
    >>> spam = "Buy cheap watches now.\\n" * 10
    >>> prose = ("It was a bright cold day in April, and the clocks were striking thirteen. Winston "
    ...          "Smith, his chin nuzzled into his breast, slipped quickly through the glass doors.")
    >>> result = run_step(GopherRepetition(), [make_batch(text=[spam, prose])])
    >>> result.output["id"].to_pylist(), result.ledger.dropped
    (['1'], {'gopher_dup_line_frac': 1})
    """

    version = 1
    drop_reasons = {
        "empty_text": "the text is blank",
        "gopher_dup_line_frac": f"share of lines that repeat an earlier line above max_dup_line_frac; 0.30 "
                                f"({_TABLE_A1})",
        "gopher_dup_para_frac": f"share of paragraphs that repeat an earlier one above max_dup_para_frac; 0.30 "
                                f"({_TABLE_A1})",
        "gopher_dup_line_char_frac": f"share of characters in repeated lines above max_dup_line_char_frac; 0.20 "
                                     f"({_TABLE_A1})",
        "gopher_dup_para_char_frac": f"share of characters in repeated paragraphs above max_dup_para_char_frac; "
                                     f"0.20 ({_TABLE_A1})",
        **{f"gopher_top_{n}gram": f"share of characters in the most frequent {n}-gram above "
                                  f"top_ngram_char_frac[{n}]; {limit} ({_TABLE_A1})"
           for n, limit in ((1, "—"), (2, 0.20), (3, 0.18), (4, 0.16), *((k, "—") for k in range(5, 11)))},
        **{f"gopher_dup_{n}gram": f"share of characters in repeated {n}-grams above dup_ngram_char_frac[{n}]; "
                                  f"{limit} ({_TABLE_A1})"
           for n, limit in (*((k, "—") for k in range(1, 5)), (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12),
                            (9, 0.11), (10, 0.10))},
    }
    stats_column = "gopher_repetition_stats"

    @property
    def stat_names(self) -> tuple[str, ...]:  # type: ignore[override]
        cfg = self.config
        return ("dup_line_frac", "dup_para_frac", "dup_line_char_frac", "dup_para_char_frac",
                *(f"top_{n}gram_char_frac" for n in cfg.top_ngram_char_frac),
                *(f"dup_{n}gram_char_frac" for n in cfg.dup_ngram_char_frac))

    def check(self, text: str) -> Check:
        cfg = self.config
        everything = cfg.keep_stats
        stats: dict[str, float] = dict.fromkeys(self.stat_names, 0.0)
        if not text.strip():
            return "empty_text", stats, None
        size = len(text)
        paragraphs = _PARAGRAPH_BREAK.split(text.strip())
        para_dups, para_chars = _duplicates(paragraphs)
        lines = [line for line in _LINE_BREAKS.split(text) if line]
        line_dups, line_chars = _duplicates(lines)
        stats.update(dup_line_frac=ratio(line_dups, len(lines)), dup_para_frac=ratio(para_dups, len(paragraphs)),
                     dup_line_char_frac=line_chars / size, dup_para_char_frac=para_chars / size)
        reason: str | None = None
        for name, limit in (("dup_line_frac", cfg.max_dup_line_frac), ("dup_para_frac", cfg.max_dup_para_frac),
                            ("dup_line_char_frac", cfg.max_dup_line_char_frac),
                            ("dup_para_char_frac", cfg.max_dup_para_char_frac)):
            if limit is not None and stats[name] > limit:
                reason = f"gopher_{name}"
                break
        if reason is not None and not everything:
            return reason, stats, None
        words = split_words(text)
        vocabulary: dict[str, int] = {}
        ids = [vocabulary.setdefault(w, len(vocabulary)) for w in words]
        lengths = [len(w) for w in words]
        for n, limit in cfg.top_ngram_char_frac.items():
            share = _top_ngram_chars(ids, lengths, n) / size
            stats[f"top_{n}gram_char_frac"] = share
            if reason is None and share > limit:
                reason = f"gopher_top_{n}gram"
                if not everything:
                    return reason, stats, None
        repeats = True
        for n, limit in cfg.dup_ngram_char_frac.items():
            # An n-gram that repeats contains a shorter one that repeats: once none do, none will.
            share = _dup_ngram_chars(ids, lengths, n) / size if repeats else 0.0
            repeats = share > 0
            stats[f"dup_{n}gram_char_frac"] = share
            if reason is None and share > limit:
                reason = f"gopher_dup_{n}gram"
                if not everything:
                    return reason, stats, None
        return reason, stats, None
