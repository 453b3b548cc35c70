"""Finding flipped labels: datamill's ``find_label_errors`` against cleanlab used directly.

**Data.** The Snorkel spam tutorial's TRAIN split of ``../shared/data/youtube_spam`` (1,586 real
comments of videos 1–4 with gold labels; ``load_split`` in ``bench_label_model.py`` reproduces it).

**Noise.** For each seed, 10 % of the labels (``--noise``) are flipped (spam ↔ ham), items drawn
with ``numpy.random.default_rng(seed)``. A method is scored on the items it flags: precision =
flagged items that were flipped / flagged, recall = flipped items flagged / flipped. (The gold
labels themselves have a few errors, so a perfect method would not reach precision 1.)

**Methods.**

- ``datamill``: ``find_label_errors(text_column=…)`` with its defaults: 5 stratified folds seeded
  with the seed, TF-IDF word 1–2-grams + char_wb 2–5-grams → logistic regression (C=1, liblinear), then
  cleanlab's ``find_label_issues`` (prune_by_noise_rate) and self-confidence ranking.
- ``cleanlab``: the library we wrap, called as its docs show with default settings:
  ``CleanLearning(make_pipeline(TfidfVectorizer(), LogisticRegression()), seed=seed)
  .find_label_issues(texts, labels)`` (5 folds, word unigrams, C=1).

Both run in this process, one after the other, per seed; times are wall clock of the whole call
(cross-validation included), after one untimed warm-up call of each (imports, first-call costs).
``--models`` also scores a few other text models through ``find_label_errors(model=…)``, the
measurement behind the default.

    .venv/bin/python benchmarks/bench_label_errors.py
    .venv/bin/python benchmarks/bench_label_errors.py --seeds 5 --noise 0.1 --models
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_label_model import load_split

from datamill.label.errors import find_label_errors, issue_precision_recall


def flip(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels with ``share`` of them flipped (binary), and the mask of flipped items."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=round(share * len(labels)), replace=False)
    noisy = labels.copy()
    noisy[chosen] = 1 - noisy[chosen]
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def run_datamill(texts: list[str], noisy: np.ndarray, seed: int, model: Any = None) -> np.ndarray:
    table = pa.table({"text": texts, "label": noisy})
    found = find_label_errors(table, label_column="label", text_column="text", seed=seed, model=model)
    flagged = np.zeros(len(texts), dtype=bool)
    flagged[found.position[found.is_issue]] = True
    return flagged


def run_cleanlab(texts: list[str], noisy: np.ndarray, seed: int) -> np.ndarray:
    from cleanlab.classification import CleanLearning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    learner = CleanLearning(make_pipeline(TfidfVectorizer(), LogisticRegression()), seed=seed, verbose=False)
    issues = learner.find_label_issues(np.asarray(texts, dtype=object), noisy)
    return np.asarray(issues["is_label_issue"], dtype=bool)


def text_models(seed: int) -> dict[str, Any]:
    """Text models tried for the default (``--models``): features, then the regression's C and solver."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    def lr(c: float, solver: str = "liblinear") -> Any:
        return LogisticRegression(C=c, solver=solver, max_iter=2000, random_state=seed)

    def words() -> Any:
        return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    def chars() -> Any:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)

    def both() -> Any:
        return FeatureUnion([("words", words()), ("chars", chars())])

    return {
        "words 1-2, C=1": make_pipeline(words(), lr(1)),
        "chars 2-5, C=1": make_pipeline(chars(), lr(1)),
        "words+chars, C=0.3": make_pipeline(both(), lr(0.3)),
        "words+chars, C=3": make_pipeline(both(), lr(3)),
        "words+chars, C=10": make_pipeline(both(), lr(10)),
        "words+chars, C=1 lbfgs": make_pipeline(both(), lr(1, "lbfgs")),
    }


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="Seeds 0 … N-1 (one flip draw each).")
    parser.add_argument("--noise", type=float, default=0.1, help="Share of labels flipped.")
    parser.add_argument("--models", action="store_true", help="Also score other text models.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    texts, gold = load_split()["train"]
    print(f"spam tutorial train split: {len(texts):,} comments ({int(gold.sum())} spam), "
          f"{args.noise:.0%} of labels flipped, seeds 0..{args.seeds - 1}")
    scores: dict[str, list[tuple[float, float, float]]] = {}

    def score(name: str, flagged: np.ndarray, flipped: np.ndarray, seconds: float) -> None:
        pr = issue_precision_recall(flagged, flipped)
        scores.setdefault(name, []).append((pr["precision"] or 0.0, pr["recall"] or 0.0, seconds))  # type: ignore[arg-type]
        print(f"  {name:<32} flagged {pr['flagged']:4d}  found {pr['found']:4d}/{pr['wrong']}  "
              f"P {pr['precision'] or 0:.3f}  R {pr['recall'] or 0:.3f}  {seconds:6.2f} s")

    warm, _ = flip(gold, args.noise, 0)
    run_datamill(texts, warm, 0)
    run_cleanlab(texts, warm, 0)
    for seed in range(args.seeds):
        noisy, flipped = flip(gold, args.noise, seed)
        print(f"seed {seed}:")
        flagged, seconds = timed(lambda: run_datamill(texts, noisy, seed))  # noqa: B023
        score("datamill (default)", flagged, flipped, seconds)
        flagged, seconds = timed(lambda: run_cleanlab(texts, noisy, seed))  # noqa: B023
        score("cleanlab CleanLearning", flagged, flipped, seconds)
        if args.models:
            for name, model in text_models(seed).items():
                flagged, seconds = timed(lambda: run_datamill(texts, noisy, seed, model))  # noqa: B023
                score(f"datamill {name}", flagged, flipped, seconds)

    print(f"\nmean over {args.seeds} seeds:")
    print(f"  {'method':<32} {'precision':>9} {'recall':>7} {'F1':>6} {'seconds':>8}")
    for name, rows in scores.items():
        p, r, s = (float(np.mean([row[i] for row in rows])) for i in range(3))
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        print(f"  {name:<32} {p:9.3f} {r:7.3f} {f1:6.3f} {s:8.2f}")
    base, ours = scores["cleanlab CleanLearning"], scores["datamill (default)"]
    ratio = {k: float(np.mean([o[i] for o in ours]) / max(np.mean([b[i] for b in base]), 1e-12))
             for i, k in enumerate(("precision", "recall", "time"))}
    print(f"datamill / cleanlab: precision x{ratio['precision']:.2f}, recall x{ratio['recall']:.2f}, "
          f"time x{ratio['time']:.2f}")


if __name__ == "__main__":
    main()
