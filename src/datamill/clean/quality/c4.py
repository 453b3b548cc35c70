"""C4's clean-up rules: ``filter.c4`` removes lines and drops pages.

Source: Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer" (the T5 paper), Section 2.2, and the code that built C4
(TensorFlow Datasets, ``c4_utils.py``), which adds the long-word, citation and policy rules.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from datamill.clean.quality._filter import Check, QualityFilter, QualityFilterConfig
from datamill.clean.quality._words import count_sentences
from datamill.pipeline import StepContext, register

__all__ = ["C4Quality", "C4QualityConfig"]

_T5 = "Raffel et al. 2020 (T5), Section 2.2"
_TFDS = "the C4 code, tensorflow_datasets c4_utils.py"
# Wikipedia-style citation marks: [1], [], [edit], [citation needed].
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
# Why a line was removed, as metric names (kept documents only: a dropped one is in the ledger).
_LINE_REMOVALS = ("long_word", "no_terminal_punct", "too_few_words", "javascript", "policy")


class C4QualityConfig(QualityFilterConfig):
    """C4's rules; defaults from Raffel et al. 2020, Section 2.2, and the C4 code."""

    min_words_per_line: int = Field(5, ge=0, description="Remove lines with fewer words (split at whitespace). "
                                                         "C4: 5.")
    min_sentences: int = Field(3, ge=0, description="Drop pages with fewer sentences in the lines kept. C4: 3.")
    terminal_punctuation: tuple[str, ...] = Field((".", "?", "!", '"', "'"), min_length=1,
                                                  description="Keep only lines ending with one of these (a line "
                                                              "ending with '...' is removed).")
    max_word_length: int | None = Field(1000, ge=1, description="Remove lines with a longer word (from the C4 "
                                                                "code). C4: 1000.")
    remove_citations: bool = Field(True, description="Delete citation marks such as [1], [edit] and [citation "
                                                     "needed] from lines (from the C4 code).")
    remove_javascript_lines: bool = Field(True, description="Remove lines that mention 'javascript'.")
    drop_lorem_ipsum: bool = Field(True, description="Drop pages where a kept line says 'lorem ipsum'.")
    drop_curly_bracket: bool = Field(True, description="Drop pages where a kept line holds a '{'.")
    policy_phrases: tuple[str, ...] = Field(
        ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"),
        description="Remove lines containing one of these phrases (lowercase; from the C4 code). [] turns it off.")


@register("filter.c4")
class C4Quality(QualityFilter[C4QualityConfig]):
    """C4's clean-up (Raffel et al. 2020, Section 2.2): remove un-prose lines, then drop poor pages.

    Each line is stripped, then removed when (in this order) a word is longer than
    ``max_word_length``, it does not end in terminal punctuation once citation marks are deleted,
    it has fewer than ``min_words_per_line`` words, or it mentions javascript or a policy phrase.
    A page is dropped as ``c4_lorem_ipsum`` or ``c4_curly_bracket`` at the first kept line with
    "lorem ipsum" or "{", and as ``c4_too_few_sentences`` when its kept lines hold fewer than
    ``min_sentences`` sentences. A kept page's text becomes its kept lines, one per line. Metrics
    ``c4_lines``, ``c4_lines_kept`` and ``c4_lines_removed_<why>`` count lines of kept pages.

    >>> from datamill.testing import make_batch, run_step
    >>> page = "Home | About\\nThe cat sat on the mat. It was happy. Then it slept all day.\\nShare this"
    >>> result = run_step(C4Quality(), [make_batch(text=[page, "lorem ipsum dolor sit amet, consectetur."])])
    >>> result.output["text"].to_pylist(), result.ledger.dropped
    (['The cat sat on the mat. It was happy. Then it slept all day.'], {'c4_lorem_ipsum': 1})
    """

    version = 1
    drop_reasons = {
        "c4_lorem_ipsum": f"a kept line contains 'lorem ipsum' ({_T5})",
        "c4_curly_bracket": f"a kept line contains a curly bracket ({_T5})",
        "c4_too_few_sentences": f"fewer than min_sentences sentences in the kept lines; 3 ({_T5}; "
                                f"{_TFDS}: _MIN_NUM_SENTENCES = 3)",
    }
    stats_column = "c4_stats"
    stat_names = ("lines", "lines_kept", "sentences", *(f"lines_removed_{why}" for why in _LINE_REMOVALS))

    def check(self, text: str) -> Check:
        cfg = self.config
        removed = dict.fromkeys(_LINE_REMOVALS, 0)
        kept: list[str] = []
        sentences = 0
        lines = text.splitlines()
        reason: str | None = None
        for raw in lines:
            line = raw.strip()
            words = line.split()
            if cfg.max_word_length is not None and any(len(w) > cfg.max_word_length for w in words):
                removed["long_word"] += 1
                continue
            if cfg.remove_citations:
                line = _CITATION.sub("", line)
            if not line.endswith(cfg.terminal_punctuation) or line.endswith("..."):
                removed["no_terminal_punct"] += 1
                continue
            if len(words) < cfg.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            lower = line.lower()
            if cfg.drop_lorem_ipsum and "lorem ipsum" in lower:
                reason = "c4_lorem_ipsum"
                break
            if cfg.remove_javascript_lines and "javascript" in lower:
                removed["javascript"] += 1
                continue
            if cfg.drop_curly_bracket and "{" in line:
                reason = "c4_curly_bracket"
                break
            if any(p in lower for p in cfg.policy_phrases):
                removed["policy"] += 1
                continue
            sentences += count_sentences(line)
            kept.append(line)
        if reason is None and sentences < cfg.min_sentences:
            reason = "c4_too_few_sentences"
        stats: dict[str, float] = {"lines": float(len(lines)), "lines_kept": float(len(kept)),
                                   "sentences": float(sentences),
                                   **{f"lines_removed_{why}": float(n) for why, n in removed.items()}}
        new_text = "\n".join(kept).strip() if reason is None else None
        return reason, stats, new_text

    def finish(self, ctx: StepContext, checks: list[Any]) -> None:
        totals = dict.fromkeys(("lines", "lines_kept", *(f"lines_removed_{why}" for why in _LINE_REMOVALS)), 0.0)
        for check in checks:
            if check is not None and check[0] is None:
                for name in totals:
                    totals[name] += check[1][name]
        for name, value in totals.items():
            ctx.metric(f"c4_{name}", value)
