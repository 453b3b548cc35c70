"""Language ID: per-language accuracy, confidence cut-offs, mixed-language flags and speed of
``lang.detect`` on the labelled multilingual sample the tests assemble (Faker's real-word lorem
for 23 languages, short ~50-character and paragraph ~300-character texts; no downloads).

Runs the step through ``datamill.testing.run_step`` (the runner's own code path) twice: a cold
pass that loads lingua's models and a warm pass that is timed. Peak RSS is the process's.

    .venv/bin/python benchmarks/bench_language.py                      # all 75 languages, 30 per kind
    .venv/bin/python benchmarks/bench_language.py --low-accuracy
    .venv/bin/python benchmarks/bench_language.py --languages en,de,fr,es,it,nl --per-kind 10
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.clean.test_language import mixed_sample, multilingual_sample

from datamill.clean.language import DetectLanguage
from datamill.testing import make_batch, run_step


def _run(step: DetectLanguage, texts: list[str]) -> tuple[pa.Table, float, float]:
    """The output, wall seconds and CPU seconds (all threads: robust to a busy machine)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = run_step(step, [make_batch(text=texts)])
    assert result.ledger.balanced
    return result.output, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", help="comma-separated ISO codes (default: all 75)")
    parser.add_argument("--low-accuracy", action="store_true")
    parser.add_argument("--per-kind", type=int, default=30, help="texts per language and length")
    parser.add_argument("--no-mixed", action="store_true", help="skip mixed-language detection")
    args = parser.parse_args()
    languages = args.languages.split(",") if args.languages else None
    step = DetectLanguage(languages=languages, low_accuracy=args.low_accuracy, detect_mixed=not args.no_mixed)
    sample = [row for row in multilingual_sample(args.per_kind) if languages is None or row[0] in languages]
    texts = [text for _, _, text in sample]
    chars = sum(len(t) for t in texts)

    _, cold, _ = _run(step, texts)
    output, warm, warm_cpu = _run(step, texts)
    found = output["language"].to_pylist()
    confidence = output["language_confidence"].to_pylist()
    rss = psutil.Process().memory_info().rss / 2**20

    print(f"lang.detect languages={'all' if languages is None else len(languages)} "
          f"low_accuracy={args.low_accuracy} detect_mixed={not args.no_mixed}: {len(texts)} texts, "
          f"{chars / len(texts):.0f} chars on average")
    print(f"cold (loads models) {cold:.1f} s; warm {warm:.2f} s = {len(texts) / warm:,.0f} docs/s, "
          f"{len(texts) / warm_cpu:,.0f} docs per CPU-second; RSS {rss:,.0f} MiB; "
          f"{psutil.cpu_count()} CPUs, load average {psutil.getloadavg()[0]:.1f}")

    hits: Counter[tuple[str, str]] = Counter()
    totals: Counter[tuple[str, str]] = Counter()
    wrong: dict[str, Counter[str]] = {}
    for (code, kind, _), got in zip(sample, found, strict=True):
        totals[code, kind] += 1
        if got == code:
            hits[code, kind] += 1
        else:
            wrong.setdefault(code, Counter())[str(got)] += 1
    codes = sorted({code for code, _, _ in sample})
    print(f"\n{'lang':<5}{'short':>8}{'para':>8}{'all':>8}  mistaken for")
    for code in codes:
        short, para = (hits[code, k] / totals[code, k] for k in ("short", "paragraph"))
        both = (hits[code, "short"] + hits[code, "paragraph"]) / (totals[code, "short"] + totals[code, "paragraph"])
        errors = ", ".join(f"{lang}×{n}" for lang, n in wrong.get(code, Counter()).most_common(3))
        print(f"{code:<5}{short:>8.1%}{para:>8.1%}{both:>8.1%}  {errors}")
    for kind in ("short", "paragraph"):
        share = sum(hits[c, kind] for c in codes) / sum(totals[c, kind] for c in codes)
        lengths = [len(text) for _, k, text in sample if k == kind]
        print(f"{kind:<10}{share:>8.1%}  ({sum(lengths) / len(lengths):.0f} chars on average)")
    print(f"{'overall':<10}{sum(hits.values()) / len(sample):>8.1%}")

    print(f"\n{'min_confidence':<16}{'kept':>8}{'accuracy of kept':>18}")
    for cut in (0.0, 0.5, 0.7, 0.9):
        kept = [(code, got) for (code, _, _), got, c in zip(sample, found, confidence, strict=True)
                if got is not None and c is not None and c >= cut]
        right = sum(1 for code, got in kept if code == got)
        print(f"{cut:<16}{len(kept) / len(sample):>8.1%}{right / max(1, len(kept)):>18.1%}")

    if not args.no_mixed:
        mixed = [(pair, text) for pair, text in mixed_sample()
                 if languages is None or set(pair) <= set(languages)]
        single = [text for _, kind, text in sample if kind == "paragraph"]
        flagged, _, _ = _run(step, [text for _, text in mixed])
        false, _, _ = _run(step, single)
        plain = DetectLanguage(languages=languages, low_accuracy=args.low_accuracy, detect_mixed=False)
        _, without, without_cpu = _run(plain, texts)
        print(f"\nmixed_language: {sum(bool(m) for m in flagged['mixed_language'].to_pylist())}/{len(mixed)} "
              f"two-language documents flagged, {sum(bool(m) for m in false['mixed_language'].to_pylist())}/"
              f"{len(single)} single-language paragraphs flagged; without mixed detection "
              f"{len(texts) / without:,.0f} docs/s, {len(texts) / without_cpu:,.0f} docs per CPU-second")


if __name__ == "__main__":
    main()
