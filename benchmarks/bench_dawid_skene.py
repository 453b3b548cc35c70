"""Dawid–Skene: datamill's ``label.dawid_skene`` against crowd-kit's ``DawidSkene``.

The issue's simulated crowd: five raters with accuracies 0.95, 0.85, 0.75, 0.65 and 0.6, each with
class-dependent confusion (per-class accuracies and uneven errors, ``simulate_raters``), each
labelling 60% of the items, seeded. Both sides fit the same votes in one process: crowd-kit
gets them as the pandas DataFrame it takes (``task``, ``worker``, ``label``, built before the
clock starts), datamill as the same three arrays, and its time includes building the
``LabelMatrix`` from them. Both start from the majority vote's class shares, run at most
``--max-iter`` EM iterations, and stop when their objective per vote improves by less than
``--tol`` (crowd-kit's is the evidence lower bound, datamill's the log-likelihood; the
iterations each ran are printed). The repeats alternate which side runs first; the times are the
best of ``--reps``, and the speed-up is crowd-kit's time over datamill's.

Accuracy is on the items that got at least one vote (crowd-kit returns no label for the others),
against the simulated truth; majority vote breaks ties at random (seeded). ``same`` is the
share of items where the two Dawid–Skene fits chose the same label.

A last row fits datamill alone at ``--scale-items`` items × 20 sources (accuracies from 0.95 to
0.6, 50% coverage, 2 classes), for the issue's scale target; 0 skips it.

Needs ``crowd-kit`` (a benchmark-only install, not a datamill dependency):

    .venv/bin/python benchmarks/bench_dawid_skene.py
    .venv/bin/python benchmarks/bench_dawid_skene.py --sizes 10000 100000 1000000 --reps 3
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from datamill.label import LabelMatrix, dawid_skene, majority_vote, simulate_raters

ACCURACIES = [0.95, 0.85, 0.75, 0.65, 0.6]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run_size(n_items: int, args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    votes, truth = simulate_raters(n_items, ACCURACIES, coverage=0.6, n_classes=args.classes, seed=args.seed)
    items, sources, labels = (votes.items.astype(np.int64), votes.sources.astype(np.int64),
                              votes.labels.astype(np.int64))
    frame = pd.DataFrame({"task": items, "worker": sources, "label": labels})

    def ours() -> Any:
        matrix = LabelMatrix.from_long(items, sources, labels, n_items=n_items, n_sources=len(ACCURACIES),
                                       n_classes=args.classes)
        return dawid_skene(matrix, max_iter=args.max_iter, tol=args.tol)

    def theirs() -> Any:
        return DawidSkene(n_iter=args.max_iter, tol=args.tol).fit(frame)

    times: dict[str, list[float]] = {"datamill": [], "crowd-kit": []}
    results: dict[str, Any] = {}
    for rep in range(args.reps):
        order = [("datamill", ours), ("crowd-kit", theirs)]
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            seconds, results[name] = timed(fn)
            times[name].append(seconds)

    ds, ck = results["datamill"], results["crowd-kit"]
    covered = ds.covered
    ck_labels = ck.labels_.reindex(np.flatnonzero(covered)).to_numpy()
    mv = majority_vote(votes, tie_break="random", seed=args.seed)
    truth_covered = truth[covered]
    return {
        "items": n_items,
        "votes": votes.n_votes,
        "mv": float(np.mean(mv.labels[covered] == truth_covered)),
        "crowd-kit": float(np.mean(ck_labels == truth_covered)),
        "datamill": float(np.mean(ds.labels[covered] == truth_covered)),
        "same": float(np.mean(ck_labels == ds.labels[covered])),
        "ck_iter": len(ck.loss_history_),
        "dm_iter": ds.n_iter,
        "ck_s": min(times["crowd-kit"]),
        "dm_s": min(times["datamill"]),
    }


def run_scale(n_items: int, args: argparse.Namespace) -> str:
    accuracies = list(np.linspace(0.95, 0.6, 20))
    votes, truth = simulate_raters(n_items, accuracies, coverage=0.5, n_classes=2, seed=args.seed)
    items, sources, labels = votes.items, votes.sources, votes.labels
    build_s, matrix = timed(lambda: LabelMatrix.from_long(items, sources, labels, n_items=n_items,
                                                          n_sources=20, n_classes=2))
    mv_s, mv = timed(lambda: majority_vote(matrix, tie_break="random", seed=args.seed))
    ds_s, ds = timed(lambda: dawid_skene(matrix, max_iter=args.max_iter, tol=args.tol))
    covered = ds.covered
    return (f"scale: {n_items:,} items × 20 sources, {matrix.n_votes:,} votes, 2 classes (datamill only): "
            f"LabelMatrix.from_long {build_s:.2f} s, majority_vote {mv_s:.2f} s "
            f"(acc {np.mean(mv.labels[covered] == truth[covered]):.4f}), dawid_skene {ds_s:.2f} s, "
            f"{ds.n_iter} iterations (acc {np.mean(ds.labels[covered] == truth[covered]):.4f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-5)
    parser.add_argument("--scale-items", type=int, default=1_000_000)
    args = parser.parse_args()

    import crowdkit

    warm = argparse.Namespace(**{**vars(args), "reps": 1})
    run_size(500, warm)  # imports and first-call costs out of the timed runs

    print(f"Dawid–Skene, 5 raters (accuracies {ACCURACIES}), class-dependent confusion, 60% coverage, "
          f"{args.classes} classes, seed {args.seed}; max_iter {args.max_iter}, tol {args.tol:g}; "
          f"best of {args.reps} alternating runs; crowd-kit {crowdkit.__version__}")
    header = (f"{'items':>9} {'votes':>9} {'MV acc':>8} {'crowd-kit acc':>14} {'datamill acc':>13} {'same':>7} "
              f"{'iters ck/dm':>12} {'crowd-kit s':>12} {'datamill s':>11} {'speed-up':>9}")
    print(header)
    print("-" * len(header))
    for n_items in args.sizes:
        row = run_size(n_items, args)
        print(f"{row['items']:>9,} {row['votes']:>9,} {row['mv']:>8.4f} {row['crowd-kit']:>14.4f} "
              f"{row['datamill']:>13.4f} {row['same']:>7.4f} {row['ck_iter']:>5}/{row['dm_iter']:<6} "
              f"{row['ck_s']:>12.3f} {row['dm_s']:>11.3f} {row['ck_s'] / row['dm_s']:>8.1f}×", flush=True)
    if args.scale_items:
        print(run_scale(args.scale_items, args))


if __name__ == "__main__":
    main()
