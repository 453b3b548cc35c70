"""Seeded simulated raters with known truth, for testing and benchmarking aggregation.

>>> votes, truth = simulate_raters(1000, [0.9, 0.8, 0.7], coverage=0.6, n_classes=3, seed=1)
>>> votes.n_items, votes.n_sources, votes.n_classes, truth.shape
(1000, 3, 3, (1000,))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from datamill.core.errors import ConfigError
from datamill.label.matrix import LabelMatrix

__all__ = ["simulate_raters"]

# Class-dependent raters' per-class accuracies spread at most this far around their mean.
_MAX_SPREAD = 0.15


def simulate_raters(
    n_items: int,
    accuracies: Sequence[float],
    coverage: float | Sequence[float] = 1.0,
    n_classes: int = 2,
    seed: int = 0,
    *,
    class_dependent: bool = True,
) -> tuple[LabelMatrix, NDArray[np.int64]]:
    """Votes of independent simulated raters on items of uniformly drawn true classes.

    Rater ``r`` labels each item with probability ``coverage`` (one share for all, or one per
    rater) and is right with probability ``accuracies[r]`` on average. With
    ``class_dependent`` (the default), its accuracy differs by class (up to ±0.15 around
    ``accuracies[r]``, staying within ``[1/n_classes, 1]``, with the same mean) and its errors
    fall unevenly on the wrong classes (Dirichlet-drawn shares), so the raters are best
    described by full confusion matrices, which is what Dawid–Skene models. Without it, each
    rater has one accuracy and spreads its errors evenly (the "one-coin" model).

    Returns:
        ``(votes, truth)``: a :class:`LabelMatrix` of ``n_items × len(accuracies)`` and the
        true class of each item. The same arguments always give the same votes.
    """
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.ndim != 1 or acc.size == 0 or np.any((acc < 0) | (acc > 1)) or not np.all(np.isfinite(acc)):
        raise ConfigError(f"simulate_raters: `accuracies` must be a non-empty list of shares in 0..1, "
                          f"got {accuracies!r}.")
    cov = np.broadcast_to(np.asarray(coverage, dtype=np.float64), acc.shape)
    if np.any((cov < 0) | (cov > 1)):
        raise ConfigError(f"simulate_raters: `coverage` must be a share in 0..1 (or one per rater), got {coverage!r}.")
    if n_items < 0 or n_classes < 2:
        raise ConfigError(f"simulate_raters: needs `n_items` >= 0 and `n_classes` >= 2, got {n_items} and {n_classes}.")

    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, size=n_items)
    items, sources, labels = [], [], []
    for rater, (accuracy, share) in enumerate(zip(acc, cov, strict=True)):
        confusion = _confusion(float(accuracy), n_classes, class_dependent, rng)
        rated = np.flatnonzero(rng.random(n_items) < share)
        cumulative = np.cumsum(confusion, axis=1)[truth[rated], :-1]
        draw = rng.random(rated.size)
        items.append(rated)
        sources.append(np.full(rated.size, rater))
        labels.append((draw[:, None] >= cumulative).sum(axis=1))
    votes = LabelMatrix.from_long(np.concatenate(items), np.concatenate(sources), np.concatenate(labels),
                                  n_items=n_items, n_sources=acc.size, n_classes=n_classes)
    return votes, truth.astype(np.int64)


def _confusion(accuracy: float, k: int, class_dependent: bool, rng: np.random.Generator) -> NDArray[np.float64]:
    """A ``k × k`` matrix, rows the truth, whose diagonal averages ``accuracy``."""
    if not class_dependent:
        confusion = np.full((k, k), (1 - accuracy) / (k - 1))
        np.fill_diagonal(confusion, accuracy)
        return confusion
    spread = max(0.0, min(_MAX_SPREAD, 1 - accuracy, accuracy - 1 / k))
    offsets = rng.uniform(-1, 1, size=k)
    offsets -= offsets.mean()
    offsets /= max(np.abs(offsets).max(), 1e-12)
    diagonal = accuracy + spread * offsets
    confusion = np.zeros((k, k))
    for true in range(k):
        wrong = [c for c in range(k) if c != true]
        confusion[true, wrong] = (1 - diagonal[true]) * rng.dirichlet(np.ones(k - 1))
        confusion[true, true] = diagonal[true]
    return confusion
