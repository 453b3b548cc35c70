"""Language identification with lingua: ``lang.detect`` tags rows, ``filter.language`` keeps some.

lingua (Pemistahl, ``lingua-language-detector``) ships its n-gram models in the wheel, so
nothing is downloaded. Its models load lazily per language and stay loaded for the life of
the process; a detector is built once per worker process (`detector`) and shared by every
batch and every step instance there with the same settings.

Measured on this project's 2-core test machine (see ``docs/cleaning.md``): all 75 languages
in high-accuracy mode reach about 1.2 GB of resident memory once Latin-script text has loaded
its models (first batch ~9 s), low-accuracy mode about 170 MB; accuracy on texts of 120+
characters is the same, on ~50-character texts low accuracy loses about five points.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from lingua import Language, LanguageDetector, LanguageDetectorBuilder
from pydantic import Field, field_validator

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import TEXT
from datamill.core.errors import SchemaError, did_you_mean
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register

__all__ = [
    "CODES",
    "DetectLanguage",
    "DetectLanguageConfig",
    "LanguageFilter",
    "LanguageFilterConfig",
    "detector",
    "sample_text",
]

#: Every ISO 639-1 code lingua knows, lowercase.
CODES: frozenset[str] = frozenset(lang.iso_code_639_1.name.lower() for lang in Language.all())
_BY_CODE = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}

LANGUAGE, CONFIDENCE, MIXED = "language", "language_confidence", "mixed_language"
_OUTPUT = pa.schema([pa.field(LANGUAGE, pa.string()), pa.field(CONFIDENCE, pa.float64()),
                     pa.field(MIXED, pa.bool_())])
# lingua's parallel calls build one Python object per language per text: work in slices so a
# 65k-row batch does not hold millions of them at once.
_CHUNK = 2048
# Sentence ends and line breaks; pieces are then merged up to _SEGMENT_CHARS. lingua's guess
# for a few words is noise: with 80-character segments 5 of 690 single-language paragraphs
# looked mixed, with 160 none did, and segment detection cost less than the main pass
# (benchmarks/bench_language.py).
_SENTENCE_END = re.compile(r"(?<=[.!?。！？؟])\s+|\n+")
_SEGMENT_CHARS = 160


def _check_codes(value: Sequence[str]) -> list[str]:
    unknown = [code for code in value if code not in CODES]
    if unknown:
        hint = did_you_mean(unknown[0].lower(), CODES, quote="'")
        raise ValueError(f"unknown language codes {unknown}; use ISO 639-1 codes lingua knows, such as "
                         f"'en', 'de', 'zh'.{hint}")
    return list(dict.fromkeys(value))


@functools.lru_cache(maxsize=4)
def detector(languages: tuple[str, ...] | None, low_accuracy: bool) -> LanguageDetector:
    """The process's lingua detector for these settings (built once, models loaded on use).

    >>> detector(("en", "de"), True) is detector(("en", "de"), True)
    True
    """
    builder = (LanguageDetectorBuilder.from_all_languages() if languages is None
               else LanguageDetectorBuilder.from_languages(*(_BY_CODE[c] for c in languages)))
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.build()


def sample_text(texts: pa.Array, max_chars: int) -> pa.Array:
    """What detection reads: the whole text, or for a longer one three slices of it.

    A long document is read at its start, middle and end (``max_chars // 3`` characters each,
    joined by newlines): a header or a quoted passage at one end does not decide alone.

    >>> sample_text(pa.array(["short", "a" * 10 + "b" * 10 + "c" * 10]), 9).to_pylist()
    ['short', 'aaa\\nbbb\\nccc']
    """
    series = pl.Series(texts).cast(pl.Utf8)
    width = max(1, max_chars // 3)
    length = series.str.len_chars()
    frame = pl.DataFrame({"t": series, "n": length})
    middle = (pl.col("n") // 2 - width // 2).cast(pl.Int64)
    sampled = frame.select(
        pl.when(pl.col("n") <= max_chars).then(pl.col("t")).otherwise(pl.concat_str(
            [pl.col("t").str.slice(0, width), pl.col("t").str.slice(middle, width),
             pl.col("t").str.slice((pl.col("n") - width).cast(pl.Int64), width)], separator="\n"))
    ).to_series()
    return sampled.to_arrow().cast(pa.string())


def _segments(text: str) -> list[str]:
    """Sentences and lines, merged until each is at least _SEGMENT_CHARS long (a short rest
    joins the last one)."""
    out: list[str] = []
    current = ""
    for piece in _SENTENCE_END.split(text):
        current = f"{current} {piece}" if current else piece
        if len(current) >= _SEGMENT_CHARS:
            out.append(current)
            current = ""
    if current.strip():
        if out:
            out[-1] = f"{out[-1]} {current}"
        else:
            out.append(current)
    return out


# lingua's confidences differ in the last bits with its thread count (rayon sums in another
# order): rounded, the same text gets the same value on one core, a pool or a cluster, so the
# step's output version does not depend on where it ran.
_CONFIDENCE_DIGITS = 9


def _top(values: list[Any]) -> tuple[Language | None, float]:
    """lingua's best language and its (rounded) confidence; None for no letters or a tie."""
    if not values or values[0].value <= 0.0:
        return None, 0.0
    best = round(float(values[0].value), _CONFIDENCE_DIGITS)
    if len(values) > 1 and round(float(values[1].value), _CONFIDENCE_DIGITS) == best:
        return None, best
    return values[0].language, best


class DetectLanguageConfig(StepConfig):
    text_column: str = Field(TEXT, min_length=1, description="The string column to read.")
    languages: list[str] | None = Field(
        None, description="ISO 639-1 codes to choose among; null (the default) means all 75 that lingua "
        "knows, so no language is mislabelled for being left out. Fewer languages load fewer models.")
    low_accuracy: bool = Field(
        False, description="lingua's low-accuracy mode: trigram models only, about 7x less memory and "
        "a faster start; as accurate from ~120 characters up, worse on short texts.")
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Below this confidence, `language` is null (the confidence is kept).")
    min_chars: int = Field(
        10, ge=1, description="Texts shorter than this (after trimming whitespace) get a null language.")
    max_chars: int = Field(
        1000, ge=30, description="Longer texts are read as three slices of max_chars/3 characters: start, "
        "middle and end.")
    detect_mixed: bool = Field(
        True, description="Also tag `mixed_language`: the sample is split into sentence groups of 160+ "
        "characters, each identified, and the text is mixed when another language covers "
        "`mixed_min_share` of it. Roughly doubles the cost; when false the column is null.")
    mixed_min_share: float = Field(
        0.2, gt=0, lt=1, description="Share of the sampled characters a second language must cover.")

    @field_validator("languages")
    @classmethod
    def _known(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) < 2:
            raise ValueError("give at least two languages to choose between (or null for all)")
        return _check_codes(value)


@register("lang.detect")
class DetectLanguage(Transform[DetectLanguageConfig]):
    """Add ``language`` (ISO 639-1, null when unknown), ``language_confidence`` and ``mixed_language``.

    Existing columns of those names are replaced. Rows are never dropped; null, short and
    letterless texts get a null language. Metrics: ``language_unknown``, ``mixed_language``,
    and ``language_<code>`` per language found.

    >>> from datamill.testing import make_batch, run_step
    >>> step = DetectLanguage(languages=["en", "de", "fr"], detect_mixed=False)
    >>> out = run_step(step, [make_batch(text=["Das ist ein kleiner Test.", "ok"])]).output
    >>> out["language"].to_pylist()
    ['de', None]
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The text column, named by ``text_column``."""
        return {self.config.text_column: "text_column"}

    def _detector(self) -> LanguageDetector:
        languages = tuple(sorted(self.config.languages)) if self.config.languages else None
        return detector(languages, self.config.low_accuracy)

    def _mixed(self, samples: list[str | None], languages: list[Language | None]) -> list[bool | None]:
        """Whether a second language covers ``mixed_min_share`` of each sample."""
        owners: list[int] = []
        pieces: list[str] = []
        for i, (text, language) in enumerate(zip(samples, languages, strict=True)):
            if text is None or language is None:
                continue
            found = _segments(text)
            if len(found) > 1:
                owners += [i] * len(found)
                pieces += found
        mixed: list[bool | None] = [None if lang is None else False for lang in languages]
        if not pieces:
            return mixed
        found_languages = self._detector().detect_languages_in_parallel_of(pieces)
        other: dict[int, dict[Language, int]] = {}
        total: dict[int, int] = {}
        for owner, piece, language in zip(owners, pieces, found_languages, strict=True):
            total[owner] = total.get(owner, 0) + len(piece)
            if language is not None and language != languages[owner]:
                counts = other.setdefault(owner, {})
                counts[language] = counts.get(language, 0) + len(piece)
        for owner, counts in other.items():
            mixed[owner] = max(counts.values()) >= self.config.mixed_min_share * total[owner]
        return mixed

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> pa.RecordBatch:
        """Detect each row's language on a sample of its text."""
        config = self.config
        texts, _ = repair_utf8(text_array(batch, config.text_column, ctx.step_id))
        trimmed_length = pc.fill_null(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0)
        readable = pc.greater_equal(trimmed_length, config.min_chars).to_numpy(zero_copy_only=False)
        codes: list[str | None] = [None] * batch.num_rows
        confidence: list[float | None] = [None] * batch.num_rows
        mixed: list[bool | None] = [None] * batch.num_rows
        rows = np.flatnonzero(readable)
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            samples = sample_text(pc.take(texts, pa.array(chunk)), config.max_chars).to_pylist()
            found = [_top(v) for v in self._detector().compute_language_confidence_values_in_parallel(samples)]
            languages = [lang if conf >= config.min_confidence else None for lang, conf in found]
            if config.detect_mixed:
                chunk_mixed = self._mixed(samples, languages)
            for j, row in enumerate(chunk):
                best, value = found[j]
                confidence[row] = value if best is not None else None
                kept = languages[j]
                if kept is not None:
                    codes[row] = kept.iso_code_639_1.name.lower()
                    if config.detect_mixed:
                        mixed[row] = chunk_mixed[j]
        self._metrics(ctx, codes, mixed)
        out = batch
        for field, values in zip(_OUTPUT, (codes, confidence, mixed), strict=True):
            column = pa.array(values, field.type)
            index = out.schema.get_field_index(field.name)
            out = out.set_column(index, field, column) if index >= 0 else out.append_column(field, column)
        return out

    @staticmethod
    def _metrics(ctx: StepContext, codes: list[str | None], mixed: list[bool | None]) -> None:
        counts: dict[str | None, int] = {}
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
        ctx.metric("language_unknown", counts.pop(None, 0))
        for code, count in counts.items():
            ctx.metric(f"language_{code}", count)
        ctx.metric("mixed_language", sum(1 for m in mixed if m))


class LanguageFilterConfig(StepConfig):
    keep: list[str] = Field(min_length=1, description="ISO 639-1 codes of the languages to keep, e.g. [en, de].")
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Drop kept-language rows whose `language_confidence` is lower "
        "(reason `low_language_confidence`).")
    keep_unknown: bool = Field(False, description="Keep rows whose language is null instead of dropping them.")
    keep_mixed: bool = Field(True, description="Keep rows tagged `mixed_language` (else `mixed_language` drops).")

    @field_validator("keep")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return _check_codes(value)


@register("filter.language")
class LanguageFilter(Transform[LanguageFilterConfig]):
    """Keep rows in the ``keep`` languages; needs the columns ``lang.detect`` adds.

    Drop reasons: ``language_unknown`` (null language), ``language_not_kept``,
    ``low_language_confidence`` and, with ``keep_mixed: false``, ``mixed_language``.

    >>> from datamill.testing import make_batch, run_step
    >>> batch = make_batch(language=["en", "de", None], language_confidence=[0.9, 0.8, None])
    >>> result = run_step(LanguageFilter(keep=["en"]), [batch])
    >>> result.output["language"].to_pylist(), result.ledger.dropped
    (['en'], {'language_unknown': 1, 'language_not_kept': 1})
    """

    version = 1

    def _column(self, batch: pa.RecordBatch, name: str, ctx: StepContext) -> pa.Array:
        if name not in batch.schema.names:
            raise SchemaError(
                f"step {ctx.step_id!r} (filter.language) needs the `{name}` column that `lang.detect` "
                f"adds; the input has {', '.join(batch.schema.names)}. Put a `lang.detect` step before "
                f"it: `{{id: lang, uses: lang.detect, input: ...}}`.")
        return batch.column(name)

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        """Drop the rows outside ``keep`` with a reason each."""
        config = self.config
        language = self._column(batch, LANGUAGE, ctx)
        if not (pa.types.is_string(language.type) or pa.types.is_large_string(language.type)
                or pa.types.is_null(language.type)):
            raise SchemaError(f"step {ctx.step_id!r} (filter.language) needs `{LANGUAGE}` to hold ISO codes "
                              f"(strings); it holds {language.type}.")
        language = language.cast(pa.string())
        outcome = Outcome(batch)
        if not config.keep_unknown:
            outcome.drop(pc.is_null(language), reason="language_unknown")
        other = pc.invert(pc.is_in(language, pa.array(config.keep, pa.string())))
        outcome.drop(pc.and_(pc.is_valid(language), other), reason="language_not_kept")
        if config.min_confidence > 0:
            confidence = self._column(batch, CONFIDENCE, ctx).cast(pa.float64())
            outcome.drop(pc.and_(pc.is_valid(language), pc.less(pc.fill_null(confidence, 0.0), config.min_confidence)),
                         reason="low_language_confidence")
        if not config.keep_mixed:
            outcome.drop(self._column(batch, MIXED, ctx).cast(pa.bool_()), reason="mixed_language")
        return outcome
