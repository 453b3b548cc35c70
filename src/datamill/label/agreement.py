"""How much raters agree, and how good a rater (or the crowd) is: kappas, alpha, HLP.

Every function takes the ratings as a :class:`~datamill.label.LabelMatrix` or as a dense
``items × raters`` array with -1 (or NaN) where a rater did not rate an item. That is the
transpose of the ``krippendorff`` package's ``raters × units`` layout, and the same layout as
statsmodels' ``aggregate_raters`` input.

The values match the reference libraries (checked by property tests to 1e-9):

- :func:`cohen_kappa` is ``sklearn.metrics.cohen_kappa_score(a, b, labels=range(n_classes),
  weights=...)`` on the items both raters rated. Weights are spaced by class index; scikit-learn
  without ``labels=`` spaces them by the classes present, which differs when a middle class
  is unused.
- :func:`fleiss_kappa` is ``statsmodels.stats.inter_rater.fleiss_kappa`` when every item has the
  same number of ratings; with unequal numbers it is the usual generalisation (below).
- :func:`krippendorff_alpha` is ``krippendorff.alpha(ratings.T, level_of_measurement=...)``,
  missing data included.

Statistics that are undefined on the input (no item rated twice, or a single class used, so
that chance agreement is 1) raise :class:`~datamill.core.errors.ConfigError` saying so; the
matrix form :func:`pairwise_cohen_kappa` writes NaN instead.

>>> ratings = [[0, 0, 0], [1, 1, 0], [1, 1, 1], [0, 1, -1], [2, 2, 2]]
>>> round(percent_agreement(ratings), 4)
0.6667
>>> round(fleiss_kappa(ratings), 4)
0.4815
>>> round(krippendorff_alpha(ratings, level="nominal"), 4)
0.5873
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from datamill.core.errors import ConfigError, did_you_mean
from datamill.label.matrix import LabelMatrix, _as_int_array, as_label_matrix

__all__ = [
    "AccuracyEstimate",
    "KappaWeights",
    "Level",
    "cohen_kappa",
    "fleiss_kappa",
    "fleiss_kappa_from_counts",
    "human_level_performance",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "percent_agreement",
    "rater_accuracy",
    "rater_pair_confusions",
]

KappaWeights = Literal["linear", "quadratic"]
"""Cohen's kappa disagreement weights: ``|i - j|`` or ``(i - j)**2`` between class indices."""

Level = Literal["nominal", "ordinal", "interval", "ratio"]
"""Krippendorff's levels of measurement, each with its distance between two values."""

# Votes handled per block when each vote needs its item's class counts: bounds memory at
# about block × classes × 8 bytes whatever the number of votes.
_VOTE_BLOCK = 1 << 20
# Bootstrap draws generated at once (replicates × items), to bound memory.
_BOOT_BLOCK = 1 << 22


# ---------------------------------------------------------------------------- agreement
def percent_agreement(ratings: LabelMatrix | ArrayLike) -> float:
    """The share of agreeing rater pairs per item, averaged over items rated at least twice.

    For two raters this is the share of the items both rated on which they agree. With more,
    each item counts once, whatever its number of ratings (Fleiss' ``P̄``).

    >>> percent_agreement([[0, 0], [0, 1], [1, 1], [1, -1]])
    0.6666666666666666
    """
    counts, rated = _pairable_counts(as_label_matrix(ratings), "percent_agreement")
    agreeing = (counts * (counts - 1)).sum(axis=1) / (rated * (rated - 1))
    return float(agreeing.mean())


def cohen_kappa(
    rater_a: ArrayLike,
    rater_b: ArrayLike,
    *,
    weights: KappaWeights | None = None,
    n_classes: int | None = None,
) -> float:
    """Cohen's kappa between two raters, on the items both rated.

    ``rater_a`` and ``rater_b`` hold one class index per item, -1 (or NaN) where that rater
    did not rate it. ``weights`` ``"linear"`` or ``"quadratic"`` give partial credit to near
    misses between ordered classes (weighted kappa). ``n_classes`` defaults to one more than
    the largest rating, and only matters to weighted kappa through the class indices.

    >>> cohen_kappa([0, 1, 1, 0, 2], [0, 1, 0, 0, -1])
    0.5
    >>> round(cohen_kappa([0, 1, 2, 2], [0, 2, 2, 1], weights="quadratic"), 4)
    0.6364
    """
    a = _as_int_array(rater_a, "rater_a", ndim=1)
    b = _as_int_array(rater_b, "rater_b", ndim=1)
    if a.shape != b.shape:
        raise ConfigError(f"cohen_kappa: `rater_a` and `rater_b` must rate the same items; got {a.size} and "
                          f"{b.size} ratings.")
    _check_weights(weights, "cohen_kappa")
    both = (a >= 0) & (b >= 0)
    if not both.any():
        raise ConfigError("cohen_kappa: the two raters share no rated item; kappa needs items both rated.")
    top = int(max(a.max(), b.max()))
    k = top + 1 if n_classes is None else n_classes
    if top >= k or min(a.min(), b.min()) < -1:
        raise ConfigError(f"cohen_kappa: ratings must be -1 or classes 0..{k - 1}; got values from "
                          f"{min(a.min(), b.min())} to {top}.")
    confusion = np.bincount(a[both] * k + b[both], minlength=k * k).reshape(k, k)
    kappa = _kappas(confusion[None].astype(np.float64), weights)[0]
    if np.isnan(kappa):
        raise ConfigError(f"cohen_kappa is undefined: both raters gave all {int(both.sum())} shared items the same "
                          "single class, so chance agreement is 1. Report `percent_agreement` instead.")
    return float(kappa)


def pairwise_cohen_kappa(
    ratings: LabelMatrix | ArrayLike, *, weights: KappaWeights | None = None
) -> NDArray[np.float64]:
    """Cohen's kappa of every pair of raters: a symmetric ``raters × raters`` array.

    Entry ``[a, b]`` is ``cohen_kappa`` of raters ``a`` and ``b`` on the items both rated, NaN
    where they share no item or where it is undefined (both used one class only).

    >>> pairwise_cohen_kappa([[0, 0, 1], [1, 1, 1], [0, 1, 0]]).round(2).tolist()
    [[1.0, 0.4, 0.4], [0.4, 1.0, -0.5], [0.4, -0.5, 1.0]]
    """
    _check_weights(weights, "pairwise_cohen_kappa")
    confusions = rater_pair_confusions(ratings).astype(np.float64)
    return _kappas(confusions, weights)


def fleiss_kappa(ratings: LabelMatrix | ArrayLike) -> float:
    """Fleiss' kappa of any number of raters; items may have different numbers of ratings.

    Computed on the ``items × classes`` count table (see :func:`fleiss_kappa_from_counts` for the
    formula and the convention for unequal numbers of ratings).

    >>> round(fleiss_kappa([[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, -1]]), 4)
    0.1597
    """
    return fleiss_kappa_from_counts(as_label_matrix(ratings).class_counts())


def fleiss_kappa_from_counts(counts: ArrayLike) -> float:
    """Fleiss' kappa from an ``items × classes`` table of how many raters gave each class.

    With ``r_i`` ratings of item ``i`` and ``n_ic`` of them in class ``c``:
    ``P_i = sum_c n_ic (n_ic - 1) / (r_i (r_i - 1))``, ``P̄`` the mean of ``P_i``,
    ``p_c = sum_i n_ic / sum_i r_i``, ``P_e = sum_c p_c²``, and
    ``kappa = (P̄ - P_e) / (1 - P_e)``.

    statsmodels' ``fleiss_kappa`` needs the same ``r`` for every item (its table rows must sum
    alike) and then this is exactly its value. With unequal ``r_i``, each item's ``P_i`` uses its
    own ``r_i``, items count equally in ``P̄``, ratings count equally in ``p_c``, and items with
    fewer than two ratings are left out (they cannot agree or disagree). This is the
    generalisation of Fleiss (1971) used when raters skip items; it reduces to the
    original when every ``r_i`` is equal.

    >>> round(fleiss_kappa_from_counts([[3, 0], [0, 3], [2, 1]]), 4)
    0.55
    """
    table = np.asarray(counts)
    if table.ndim != 2 or table.dtype.kind not in "iuf" or (table.size and np.any(table < 0)):
        raise ConfigError(f"fleiss_kappa: `counts` must be an items × classes table of non-negative counts, got "
                          f"dtype {table.dtype} and shape {table.shape}.")
    if table.size and not np.all(table == np.round(table)):
        raise ConfigError("fleiss_kappa: `counts` must hold whole numbers of ratings.")
    table = table.astype(np.float64)
    rated = table.sum(axis=1)
    pairable = rated >= 2
    if not pairable.any():
        raise ConfigError(f"fleiss_kappa needs an item with at least two ratings; got {table.shape[0]} items, none "
                          "rated twice.")
    table, rated = table[pairable], rated[pairable]
    p_bar = float(((table * (table - 1)).sum(axis=1) / (rated * (rated - 1))).mean())
    shares = table.sum(axis=0) / rated.sum()
    p_e = float((shares * shares).sum())
    if p_e >= 1.0:
        raise ConfigError("fleiss_kappa is undefined: every rating is the same class, so chance agreement is 1. "
                          "Report `percent_agreement` instead.")
    return (p_bar - p_e) / (1 - p_e)


def krippendorff_alpha(
    ratings: LabelMatrix | ArrayLike,
    *,
    level: Level = "nominal",
    values: ArrayLike | None = None,
) -> float:
    """Krippendorff's alpha, ``1 - D_o / D_e``, with missing ratings.

    Items with fewer than two ratings are not pairable and are left out; any number of
    raters and any pattern of missing ratings is allowed. ``level`` picks the distance between
    two classes ``c`` and ``k`` with numeric values ``v``:

    - ``"nominal"``: 0 if equal, else 1;
    - ``"ordinal"``: ``(sum of n_g for g from c to k - (n_c + n_k) / 2)²``, ``n_g`` the pairable
      ratings of class ``g``, classes ordered by ``v``;
    - ``"interval"``: ``(v_c - v_k)²``;
    - ``"ratio"``: ``((v_c - v_k) / (v_c + v_k))²``.

    ``values`` gives each class's number (e.g. ``[1, 2, 3, 4, 5]`` for a Likert scale); the
    default is the class index.

    >>> ratings = [[0, 0, -1], [1, 1, 2], [2, 2, 2], [0, 1, 0]]
    >>> round(krippendorff_alpha(ratings, level="interval"), 4)
    0.7727
    """
    if level not in get_args(Level):
        raise ConfigError(f"krippendorff_alpha: `level` must be one of 'nominal', 'ordinal', 'interval', 'ratio', "
                          f"got {level!r}.{did_you_mean(str(level), get_args(Level))}")
    matrix = as_label_matrix(ratings)
    k = matrix.n_classes
    if values is None:
        numbers = np.arange(k, dtype=np.float64)
    else:
        numbers = np.asarray(values, dtype=np.float64)
        if numbers.shape != (k,) or not np.all(np.isfinite(numbers)):
            raise ConfigError(f"krippendorff_alpha: `values` needs one finite number per class ({k}), got "
                              f"{np.asarray(values).tolist()!r}.")
        if level == "ordinal" and np.unique(numbers).size != k:
            raise ConfigError("krippendorff_alpha: ordinal `values` must order the classes, so they must differ.")
    counts, rated = _pairable_counts(matrix, "krippendorff_alpha")
    # Coincidence matrix: each item's ordered pairs of ratings, weighted 1 / (ratings - 1).
    weighted = counts / (rated - 1)[:, None]
    observed = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_v = observed.sum(axis=0)
    expected = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_v.sum() - 1)
    distance = _distances(level, numbers, n_v)
    d_e = float((expected * distance).sum())
    if d_e == 0:
        raise ConfigError("krippendorff_alpha is undefined: the pairable ratings (of items rated at least twice) "
                          "use a single value, so no disagreement is expected by chance. "
                          "Report `percent_agreement` instead.")
    return 1 - float((observed * distance).sum()) / d_e


def rater_pair_confusions(ratings: LabelMatrix | ArrayLike) -> NDArray[np.int64]:
    """Every pair of raters' confusion matrix: ``[a, b, x, y]`` counts the items that rater ``a``
    gave class ``x`` and rater ``b`` gave class ``y``.

    The array has shape ``(raters, raters, classes, classes)``; ``[b, a]`` is ``[a, b]``
    transposed, and ``[a, a]`` holds rater ``a``'s class counts on its diagonal.

    >>> rater_pair_confusions([[0, 0], [0, 1], [1, 1]])[0, 1].tolist()
    [[1, 1], [0, 1]]
    """
    matrix = as_label_matrix(ratings)
    m, k = matrix.n_sources, matrix.n_classes
    width = m * k
    code = matrix.sources.astype(np.int64) * k + matrix.labels
    item = matrix.items
    table = np.bincount(code * width + code, minlength=width * width)
    # Votes are sorted by item, so the votes of one item are adjacent: pairing each vote with
    # the one `gap` places on finds every pair of an item, with one pass per gap.
    for gap in range(1, int(matrix.votes_per_item.max(initial=0))):
        same = item[gap:] == item[:-gap]
        first, second = code[:-gap][same], code[gap:][same]
        table += np.bincount(first * width + second, minlength=width * width)
        table += np.bincount(second * width + first, minlength=width * width)
    return table.reshape(m, k, m, k).transpose(0, 2, 1, 3).astype(np.int64)


# ---------------------------------------------------------------------------- accuracy and HLP
@dataclass(frozen=True)
class AccuracyEstimate:
    """An accuracy with a percentile-bootstrap confidence interval over items.

    Attributes:
        accuracy: the point estimate, on all compared items.
        low, high: the interval's bounds.
        n_items: the items compared (resampled by the bootstrap).
        confidence: the interval's level, e.g. 0.95.
    """

    accuracy: float
    low: float
    high: float
    n_items: int
    confidence: float

    def __str__(self) -> str:
        return (f"{self.accuracy:.3f} ({self.confidence:.0%} CI {self.low:.3f}–{self.high:.3f}, "
                f"{self.n_items:,} items)")


def rater_accuracy(ratings: LabelMatrix | ArrayLike, gold: ArrayLike | None = None) -> NDArray[np.float64]:
    """Each rater's accuracy: against ``gold`` if given, else against the consensus of the others.

    The consensus on an item is the majority vote of the *other* raters who rated it; items no
    other rater rated are skipped. When the others tie, the rater scores ``1 / t`` if its
    class is one of the ``t`` tied classes (the expected score against a random tie break)
    instead of the item being dropped. With ``gold`` (-1 or NaN for unknown), only items with a
    gold label count. NaN for a rater with no item to compare.

    >>> rater_accuracy([[0, 0, 0], [1, 1, 0], [1, 1, -1]]).round(3).tolist()
    [0.833, 0.833, 0.5]
    >>> rater_accuracy([[0, 0, 1], [1, 0, 1]], gold=[0, 1]).tolist()
    [1.0, 0.5, 0.5]
    """
    matrix = as_label_matrix(ratings)
    truth = None if gold is None else _gold(gold, matrix)
    credit, valid = _vote_credit(matrix, truth)
    compared = np.bincount(matrix.sources[valid], minlength=matrix.n_sources)
    scored = np.bincount(matrix.sources[valid], weights=credit[valid], minlength=matrix.n_sources)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(compared > 0, scored / np.maximum(compared, 1), np.nan)


def human_level_performance(
    ratings: LabelMatrix | ArrayLike,
    gold: ArrayLike | None = None,
    *,
    rater: int | None = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> AccuracyEstimate:
    """Human-level performance: the accuracy of one rater, or of the crowd, with a bootstrap CI.

    - ``rater=r`` with ``gold``: rater ``r``'s accuracy on the items it rated that have gold.
    - ``rater=r`` without: its agreement with the majority of the other raters (see
      :func:`rater_accuracy`).
    - ``rater=None`` with ``gold``: the crowd's majority vote against gold, on rated items with gold.
    - ``rater=None`` without: the average rater against the others: every rating scored
      against the majority of the other ratings of its item, pooled.

    Ties score ``1 / t`` when the truth is among the ``t`` tied classes: the expected accuracy of
    a random tie break, without a random draw. The interval resamples items (``n_boot`` times,
    seeded) and takes the percentiles of the replicated accuracy; report it next to a model's
    accuracy on the same items.

    >>> ratings = [[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, 1]]
    >>> print(human_level_performance(ratings, gold=[0, 1, 0, 1], rater=0))
    1.000 (95% CI 1.000–1.000, 4 items)
    >>> human_level_performance(ratings, gold=[0, 1, 0, 1]).accuracy
    1.0
    """
    matrix = as_label_matrix(ratings)
    if n_boot < 1:
        raise ConfigError(f"human_level_performance: `n_boot` must be at least 1, got {n_boot}.")
    if not 0 < confidence < 1:
        raise ConfigError(f"human_level_performance: `confidence` must be between 0 and 1 (e.g. 0.95), "
                          f"got {confidence!r}.")
    truth = None if gold is None else _gold(gold, matrix)
    if rater is not None and not 0 <= rater < matrix.n_sources:
        raise ConfigError(f"human_level_performance: `rater` must be a rater index in 0..{matrix.n_sources - 1}, "
                          f"got {rater}.")

    if rater is None and truth is not None:
        scores, weights = _crowd_vs_gold(matrix, truth)
    else:
        credit, valid = _vote_credit(matrix, truth)
        if rater is not None:
            valid &= matrix.sources == rater
        items = matrix.items[valid]
        scores = np.bincount(items, weights=credit[valid], minlength=matrix.n_items).astype(np.float64, copy=False)
        weights = np.bincount(items, minlength=matrix.n_items).astype(np.float64)
    keep = weights > 0
    if not keep.any():
        against = "gold labels" if truth is not None else "ratings by other raters"
        who = f"rater {rater}" if rater is not None else "the raters"
        raise ConfigError(f"human_level_performance: no item has both a rating by {who} and {against}; "
                          "nothing to compare.")
    scores, weights = scores[keep], weights[keep]
    low, high = _bootstrap(scores, weights, n_boot=n_boot, confidence=confidence, seed=seed)
    return AccuracyEstimate(accuracy=float(scores.sum() / weights.sum()), low=low, high=high,
                            n_items=int(keep.sum()), confidence=confidence)


# ---------------------------------------------------------------------------- internals
def _check_weights(weights: object, where: str) -> None:
    if weights is not None and weights not in get_args(KappaWeights):
        raise ConfigError(f"{where}: `weights` must be None, 'linear' or 'quadratic', got {weights!r}."
                          f"{did_you_mean(str(weights), get_args(KappaWeights))}")


def _kappas(confusions: NDArray[np.float64], weights: KappaWeights | None) -> NDArray[np.float64]:
    """Kappa of each ``(…, k, k)`` confusion matrix; NaN where undefined."""
    k = confusions.shape[-1]
    index = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(index[:, None] - index[None, :]).astype(np.float64)
    else:
        w = ((index[:, None] - index[None, :]) ** 2).astype(np.float64)
    total = confusions.sum(axis=(-2, -1))
    rows, cols = confusions.sum(axis=-1), confusions.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = rows[..., :, None] * cols[..., None, :] / total[..., None, None]
        observed_d = (w * confusions).sum(axis=(-2, -1))
        expected_d = (w * expected).sum(axis=(-2, -1))
        kappa = 1 - observed_d / expected_d
    return np.where((total > 0) & (expected_d > 0), kappa, np.nan)


def _pairable_counts(matrix: LabelMatrix, where: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Class counts and rating counts of the items rated at least twice."""
    counts = matrix.class_counts()
    rated = counts.sum(axis=1)
    pairable = rated >= 2
    if not pairable.any():
        raise ConfigError(f"{where} needs an item rated by at least two raters; got {matrix.n_items} items and "
                          f"{matrix.n_votes} ratings, none of them on the same item.")
    return counts[pairable].astype(np.float64), rated[pairable].astype(np.float64)


def _distances(level: Level, values: NDArray[np.float64], n_v: NDArray[np.float64]) -> NDArray[np.float64]:
    if level == "nominal":
        return 1.0 - np.eye(len(values))
    if level == "interval":
        return (values[:, None] - values[None, :]) ** 2
    if level == "ratio":
        total = values[:, None] + values[None, :]
        ratio: NDArray[np.float64] = np.divide(values[:, None] - values[None, :], total, out=np.zeros_like(total),
                                               where=total != 0)
        return ratio**2
    order = np.argsort(values, kind="stable")
    ranked = n_v[order]
    cumulative = np.concatenate([[0.0], np.cumsum(ranked)])
    rank = np.arange(len(values))
    lo, hi = np.minimum.outer(rank, rank), np.maximum.outer(rank, rank)
    by_rank = (cumulative[hi + 1] - cumulative[lo] - (ranked[:, None] + ranked[None, :]) / 2) ** 2
    distance: NDArray[np.float64] = np.empty_like(by_rank)
    distance[np.ix_(order, order)] = by_rank
    return distance


def _gold(gold: ArrayLike, matrix: LabelMatrix) -> NDArray[np.int64]:
    truth = _as_int_array(gold, "gold", ndim=1)
    if truth.shape != (matrix.n_items,):
        raise ConfigError(f"`gold` needs one label per item ({matrix.n_items}), -1 where unknown; got {truth.size}.")
    if truth.size and (truth.min() < -1 or truth.max() >= matrix.n_classes):
        raise ConfigError(f"`gold` must hold -1 or classes 0..{matrix.n_classes - 1}; got values from "
                          f"{truth.min()} to {truth.max()}.")
    return truth


def _vote_credit(matrix: LabelMatrix, gold: NDArray[np.int64] | None) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Each vote's score (0..1) against gold or the others' majority, and whether it was compared."""
    item, label = matrix.items, matrix.labels
    if gold is not None:
        truth = gold[item]
        return (label == truth).astype(np.float64), truth >= 0
    counts = matrix.class_counts()
    credit = np.zeros(matrix.n_votes)
    valid = np.zeros(matrix.n_votes, dtype=bool)
    for start in range(0, matrix.n_votes, _VOTE_BLOCK):
        block = slice(start, start + _VOTE_BLOCK)
        others = counts[item[block]]
        rows = np.arange(len(others))
        others[rows, label[block]] -= 1
        best = others.max(axis=1)
        tied = (others == best[:, None]) & (best[:, None] > 0)
        valid[block] = best > 0
        credit[block] = tied[rows, label[block]] / np.maximum(tied.sum(axis=1), 1)
    return credit, valid


def _crowd_vs_gold(matrix: LabelMatrix, gold: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    counts = matrix.class_counts()
    compared = matrix.covered & (gold >= 0)
    best = counts.max(axis=1, initial=0)
    tied = (counts == best[:, None]) & compared[:, None]
    hit = np.zeros(matrix.n_items)
    rows = np.flatnonzero(compared)
    hit[rows] = tied[rows, gold[rows]] / tied[rows].sum(axis=1)
    return hit, compared.astype(np.float64)


def _bootstrap(scores: NDArray[np.float64], weights: NDArray[np.float64], *, n_boot: int, confidence: float,
               seed: int) -> tuple[float, float]:
    # A replicate depends only on how many times each distinct (score, weight) pair is drawn,
    # so drawing those counts from a multinomial is the same bootstrap as resampling items, at
    # a cost per replicate of the few distinct pairs instead of every item.
    pairs, sizes = np.unique(np.stack([scores, weights], axis=1), axis=0, return_counts=True)
    n = len(scores)
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    per_block = max(1, _BOOT_BLOCK // len(pairs))
    for start in range(0, n_boot, per_block):
        stop = min(n_boot, start + per_block)
        drawn = rng.multinomial(n, sizes / n, size=stop - start)
        replicates[start:stop] = (drawn * pairs[:, 0]).sum(axis=1) / (drawn * pairs[:, 1]).sum(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(replicates, [tail, 1 - tail])
    return float(low), float(high)
