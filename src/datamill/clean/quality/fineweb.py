"""FineWeb's extra rules: ``filter.fineweb``.

Source: Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the Finest Text Data at
Scale", Section 3.5 (custom filters), and datatrove's ``FineWebQualityFilter`` (the code that
built FineWeb), which adds the list-ratio rule.
"""

from __future__ import annotations

from pydantic import Field

from datamill.clean.quality._filter import Check, QualityFilter, QualityFilterConfig, ratio
from datamill.clean.quality._words import SENTENCE_TERMINALS, split_words
from datamill.pipeline import register

__all__ = ["FineWebQuality", "FineWebQualityConfig"]

_FINEWEB = "Penedo et al. 2024 (FineWeb), Section 3.5"


class FineWebQualityConfig(QualityFilterConfig):
    """FineWeb's thresholds; defaults from Penedo et al. 2024, Section 3.5."""

    min_line_punct_ratio: float | None = Field(0.12, ge=0, le=1, description="Drop documents where fewer than "
                                                                             "this share of lines end with "
                                                                             "terminal punctuation. FineWeb: 0.12.")
    terminal_punctuation: tuple[str, ...] | None = Field(None, description="What ends a punctuated line; null "
                                                                           "means the sentence-final marks of "
                                                                           "Unicode (. ! ? 。 …).")
    max_short_line_ratio: float | None = Field(0.67, ge=0, le=1, description="Drop documents where more than this "
                                                                             "share of lines are short. FineWeb: "
                                                                             "0.67.")
    short_line_length: int = Field(30, ge=0, description="A line of at most this many characters is short. "
                                                         "FineWeb: 30.")
    max_dup_line_char_ratio: float | None = Field(0.1, ge=0, le=1, description="Drop documents where lines that "
                                                                               "repeat an earlier line hold more "
                                                                               "than this share of the characters "
                                                                               "(newlines not counted). FineWeb: "
                                                                               "0.1.")
    max_newline_word_ratio: float | None = Field(0.3, ge=0, description="Drop documents with more newlines per "
                                                                        "word than this: lists (datatrove's "
                                                                        "FineWeb filter). 0.3.")


@register("filter.fineweb")
class FineWebQuality(QualityFilter[FineWebQualityConfig]):
    """FineWeb's quality filter (Penedo et al. 2024, Section 3.5): drop list-like and repetitive pages.

    Lines are the non-blank lines of the text, as written (not stripped). Rules, in order:
    ``empty_text`` (no non-blank line), ``fineweb_line_punct_ratio``, ``fineweb_short_line_ratio``,
    ``fineweb_char_dup_ratio``, ``fineweb_list_ratio`` (newlines per token, tokens as in
    `GopherQuality`).

    >>> from datamill.testing import make_batch, run_step
    >>> menu = "Home\\nNews\\nSport\\nWeather\\nContact us"
    >>> prose = "The committee met on Tuesday.\\nIt agreed to publish the report in May."
    >>> result = run_step(FineWebQuality(), [make_batch(text=[menu, prose])])
    >>> result.output["id"].to_pylist(), result.ledger.dropped
    (['1'], {'fineweb_line_punct_ratio': 1})
    """

    version = 1
    drop_reasons = {
        "empty_text": "the text has no non-blank line",
        "fineweb_line_punct_ratio": f"share of lines ending in terminal punctuation below min_line_punct_ratio; "
                                    f"0.12 ({_FINEWEB})",
        "fineweb_short_line_ratio": f"share of lines of at most short_line_length (30) characters above "
                                    f"max_short_line_ratio; 0.67 ({_FINEWEB})",
        "fineweb_char_dup_ratio": f"share of characters in repeated lines above max_dup_line_char_ratio; 0.1 "
                                  f"({_FINEWEB})",
        "fineweb_list_ratio": "newlines per token above max_newline_word_ratio; 0.3 (datatrove's "
                              "FineWebQualityFilter, the code that built FineWeb)",
    }
    stats_column = "fineweb_stats"
    stat_names = ("line_punct_ratio", "short_line_ratio", "char_dup_ratio", "newline_word_ratio")

    def check(self, text: str) -> Check:
        cfg = self.config
        stats = dict.fromkeys(self.stat_names, 0.0)
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "empty_text", stats, None
        ends = tuple(cfg.terminal_punctuation) if cfg.terminal_punctuation is not None else _TERMINALS
        seen: set[str] = set()
        dup_chars = 0
        for line in lines:
            if line in seen:
                dup_chars += len(line)
            else:
                seen.add(line)
        stats["line_punct_ratio"] = sum(1 for line in lines if line.endswith(ends)) / len(lines)
        stats["short_line_ratio"] = sum(1 for line in lines if len(line) <= cfg.short_line_length) / len(lines)
        stats["char_dup_ratio"] = ratio(dup_chars, len(text) - text.count("\n"))
        reason: str | None = None
        if cfg.min_line_punct_ratio is not None and stats["line_punct_ratio"] < cfg.min_line_punct_ratio:
            reason = "fineweb_line_punct_ratio"
        elif cfg.max_short_line_ratio is not None and stats["short_line_ratio"] > cfg.max_short_line_ratio:
            reason = "fineweb_short_line_ratio"
        elif cfg.max_dup_line_char_ratio is not None and stats["char_dup_ratio"] > cfg.max_dup_line_char_ratio:
            reason = "fineweb_char_dup_ratio"
        if reason is None or cfg.keep_stats:
            stats["newline_word_ratio"] = ratio(text.count("\n"), len(split_words(text)))
            if reason is None and cfg.max_newline_word_ratio is not None and \
                    stats["newline_word_ratio"] > cfg.max_newline_word_ratio:
                reason = "fineweb_list_ratio"
        return reason, stats, None


_TERMINALS = tuple(sorted(SENTENCE_TERMINALS))
