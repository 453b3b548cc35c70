"""Turning many votes per item into one label: majority vote, weighted vote, Dawid–Skene.

Every method returns an :class:`Aggregation` (Dawid–Skene a subclass with its fitted model):
``probs`` (items × classes), hard ``labels`` (:data:`ABSTAIN` where none was chosen),
``confidence`` (the probability of the chosen label, 0 where none) and ``covered`` (items that
got at least one vote). Uncovered items are never given a label: filter them with
``result.labels[result.covered]`` or keep them for human raters.

All three work on the sparse votes with ``np.bincount``, so their cost grows with the number of
votes, not items × sources; there is no Python loop over items.

>>> from datamill.label import LabelMatrix
>>> votes = LabelMatrix.from_dense([[0, 0, 1], [1, 1, -1], [0, 1, -1], [-1, -1, -1]])
>>> majority_vote(votes).labels.tolist()
[0, 1, -1, -1]
>>> majority_vote(votes, tie_break="lowest").labels.tolist()
[0, 1, 0, -1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from datamill.core.errors import ConfigError, did_you_mean
from datamill.label.matrix import ABSTAIN, LabelMatrix, as_label_matrix

__all__ = ["Aggregation", "DawidSkeneResult", "TieBreak", "dawid_skene", "majority_vote"]

TieBreak = Literal["abstain", "lowest", "random"]
"""What a vote does when classes tie: no label, the lowest class index, or a seeded random pick."""

# Relative tolerance under which weighted scores count as tied: weights such as 0.1 + 0.2 and
# 0.3 must tie, and float sums of them are not exactly equal.
_TIE_RTOL = 1e-12
_TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True, eq=False)
class Aggregation:
    """One label per item, from any aggregation method.

    Attributes:
        probs: ``(n_items, n_classes)`` class probabilities; each row sums to 1. Uncovered
            items get the method's prior (uniform for votes, the fitted class balance for
            Dawid–Skene).
        labels: ``(n_items,)`` the chosen class, or :data:`ABSTAIN` (-1) for uncovered items and
            ties left unbroken.
        confidence: ``(n_items,)`` the probability of the chosen label; 0 where ``labels`` is -1.
        covered: ``(n_items,)`` True where at least one source voted.
        method: ``"majority_vote"``, ``"weighted_vote"`` or ``"dawid_skene"``.
    """

    probs: NDArray[np.float64]
    labels: NDArray[np.int64]
    confidence: NDArray[np.float64]
    covered: NDArray[np.bool_]
    method: str

    @property
    def n_items(self) -> int:
        """The number of items."""
        return int(self.probs.shape[0])

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return int(self.probs.shape[1])


@dataclass(frozen=True, eq=False)
class DawidSkeneResult(Aggregation):
    """A Dawid–Skene aggregation, with the model it fitted.

    Attributes:
        class_priors: ``(n_classes,)`` the fitted class balance.
        confusions: ``(n_sources, n_classes, n_classes)``; ``confusions[s, t, g]`` is the
            probability that source ``s`` gives class ``g`` to an item whose true class is
            ``t`` (rows are the truth, as in ``sklearn.metrics.confusion_matrix``; each row sums to 1).
        n_iter: EM iterations run (E-steps).
        converged: True if the objective improved by less than ``tol`` before ``max_iter``.
        log_likelihood: the final objective, per vote: the log-likelihood of the votes plus the
            smoothing prior's log density, divided by the number of votes.
    """

    class_priors: NDArray[np.float64]
    confusions: NDArray[np.float64]
    n_iter: int
    converged: bool
    log_likelihood: float


def _checked_matrix(votes: LabelMatrix | ArrayLike, where: str) -> LabelMatrix:
    matrix = as_label_matrix(votes)
    if matrix.n_classes == 0:
        raise ConfigError(f"{where}: the label matrix has no votes, so the number of classes is unknown; "
                          "build it with `n_classes=` to get an all-uncovered result.")
    return matrix


def _finish(probs: NDArray[np.float64], labels: NDArray[np.int64]) -> NDArray[np.float64]:
    chosen = labels >= 0
    confidence = np.zeros(len(labels))
    confidence[chosen] = probs[np.flatnonzero(chosen), labels[chosen]]
    return confidence


def majority_vote(
    votes: LabelMatrix | ArrayLike,
    *,
    weights: ArrayLike | None = None,
    tie_break: TieBreak = "abstain",
    seed: int = 0,
) -> Aggregation:
    """The class with the most votes per item; with ``weights``, the most total source weight.

    ``probs`` are each class's share of the item's (weighted) votes. Ties follow
    ``tie_break``: ``"abstain"`` leaves the item unlabelled (``labels`` -1, still covered),
    ``"lowest"`` takes the lowest class index, ``"random"`` picks among the tied classes with
    a generator seeded by ``seed``. An item whose voters all have weight 0 is a tie of every class.

    Args:
        votes: a :class:`LabelMatrix`, or a dense ``items × sources`` array (-1 = no vote).
        weights: one non-negative weight per source, e.g. its accuracy on a dev set, or
            ``log(acc / (1 - acc))`` for the optimal vote of independent binary sources.
        tie_break: ``"abstain"``, ``"lowest"`` or ``"random"``.
        seed: seeds ``"random"`` tie breaks.

    >>> votes = [[0, 1, 1], [0, 1, -1]]
    >>> majority_vote(votes).labels.tolist()
    [1, -1]
    >>> majority_vote(votes, weights=[3.0, 1.0, 1.0]).labels.tolist()
    [0, 0]
    >>> majority_vote(votes).probs.round(3).tolist()
    [[0.333, 0.667], [0.5, 0.5]]
    """
    matrix = _checked_matrix(votes, "majority_vote")
    if tie_break not in get_args(TieBreak):
        raise ConfigError(f"majority_vote: `tie_break` must be one of 'abstain', 'lowest', 'random', got "
                          f"{tie_break!r}.{did_you_mean(str(tie_break), get_args(TieBreak))}")
    n, k = matrix.n_items, matrix.n_classes
    cell = matrix.items.astype(np.int64) * k + matrix.labels
    if weights is None:
        scores = np.bincount(cell, minlength=n * k).reshape(n, k).astype(np.float64)
        method = "majority_vote"
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (matrix.n_sources,):
            raise ConfigError(f"majority_vote: `weights` needs one weight per source ({matrix.n_sources}), "
                              f"got shape {w.shape}.")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"majority_vote: `weights` must be finite and non-negative, got {w.tolist()!r}. "
                              "To make a source vote against its label, drop it instead.")
        scores = np.bincount(cell, weights=w[matrix.sources], minlength=n * k).astype(np.float64, copy=False)
        scores = scores.reshape(n, k)
        method = "weighted_vote"

    covered = matrix.covered
    total = scores.sum(axis=1)
    probs = np.full((n, k), 1.0 / k)
    weighted = total > 0
    probs[weighted] = scores[weighted] / total[weighted, None]

    best = scores.max(axis=1, initial=0.0)
    tied = scores >= best[:, None] * (1 - _TIE_RTOL)
    n_best = tied.sum(axis=1)
    labels = np.full(n, ABSTAIN, dtype=np.int64)
    clear = covered & (n_best == 1)
    labels[clear] = np.argmax(scores[clear], axis=1)
    ties = np.flatnonzero(covered & (n_best > 1))
    if ties.size and tie_break == "lowest":
        labels[ties] = np.argmax(tied[ties], axis=1)
    elif ties.size and tie_break == "random":
        keys = np.random.default_rng(seed).random((ties.size, k))
        labels[ties] = np.argmax(np.where(tied[ties], keys, -1.0), axis=1)
    return Aggregation(probs=probs, labels=labels, confidence=_finish(probs, labels), covered=covered, method=method)


def dawid_skene(
    votes: LabelMatrix | ArrayLike,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Dawid & Skene (1979): EM over a full confusion matrix per source and the class balance.

    Each source ``s`` is modelled by ``confusions[s, t, g] = P(s says g | truth t)``, and items'
    true classes by ``class_priors``. EM starts from the majority vote's ``probs`` (each class's
    share of the votes, as crowd-kit does), then alternates the M-step (confusions and priors
    from the current posteriors) and the E-step (posteriors from them) until the objective
    (the votes' log-likelihood per vote) improves by less than ``tol``, or ``max_iter``
    E-steps have run. ``smoothing`` is a pseudo-count added to every confusion cell and prior
    class (a symmetric Dirichlet prior, so this is MAP-EM): it keeps a source that never gave a
    class from ruling that class out for every item it votes on.

    Items with no vote get the fitted ``class_priors`` as ``probs`` and no label. Hard labels are
    the most probable class (the lowest index on an exact tie).

    Args:
        votes: a :class:`LabelMatrix`, or a dense ``items × sources`` array (-1 = no vote).
        max_iter: the most E-steps to run.
        tol: stop when the objective, per vote, improves by less than this.
        smoothing: pseudo-count (>= 0) added to each confusion cell and class prior.

    >>> votes = [[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 1, 0], [-1, -1, -1]]
    >>> result = dawid_skene(votes)
    >>> result.labels.tolist(), result.covered.tolist()
    ([0, 1, 0, 1, -1], [True, True, True, True, False])
    >>> result.confusions.shape
    (3, 2, 2)
    """
    matrix = _checked_matrix(votes, "dawid_skene")
    if max_iter < 1:
        raise ConfigError(f"dawid_skene: `max_iter` must be at least 1, got {max_iter}.")
    if not tol >= 0:
        raise ConfigError(f"dawid_skene: `tol` must be >= 0, got {tol!r}.")
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ConfigError(f"dawid_skene: `smoothing` must be a finite pseudo-count >= 0, got {smoothing!r}.")

    n, n_src, k = matrix.n_items, matrix.n_sources, matrix.n_classes
    item = matrix.items.astype(np.intp)
    # Row of each vote in the (source, given label) table the EM reads and writes.
    cell = matrix.sources.astype(np.intp) * k + matrix.labels
    covered = matrix.covered
    n_votes = max(matrix.n_votes, 1)

    # Posteriors are kept class-major (k, n) so that each class's row is contiguous for bincount.
    post = np.bincount(matrix.labels.astype(np.intp) * n + item, minlength=k * n).reshape(k, n).astype(np.float64)
    post /= np.maximum(post.sum(axis=0), 1.0)

    objective = -np.inf
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        confusions, priors = _m_step(post, item, cell, covered, n_src, k, smoothing)
        log_conf = np.log(np.maximum(confusions, _TINY))
        log_prior = np.log(np.maximum(priors, _TINY))
        post, log_lik = _e_step(log_conf, log_prior, item, cell, covered, n)
        penalty = smoothing * (log_conf.sum() + log_prior.sum())
        previous, objective = objective, (log_lik + penalty) / n_votes
        if objective - previous < tol:
            converged = True
            break

    probs = np.ascontiguousarray(post.T)
    labels = np.where(covered, np.argmax(probs, axis=1), ABSTAIN).astype(np.int64)
    return DawidSkeneResult(
        probs=probs, labels=labels, confidence=_finish(probs, labels), covered=covered, method="dawid_skene",
        class_priors=priors, confusions=confusions, n_iter=n_iter, converged=converged,
        log_likelihood=float(objective),
    )


def _m_step(
    post: NDArray[np.float64], item: NDArray[np.intp], cell: NDArray[np.intp], covered: NDArray[np.bool_],
    n_src: int, k: int, smoothing: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Confusions ``(source, true, given)`` and class priors from posteriors ``(k, n)``."""
    counts = np.empty((k, n_src * k))
    for true in range(k):
        counts[true] = np.bincount(cell, weights=np.take(post[true], item), minlength=n_src * k)
    table = counts.reshape(k, n_src, k).transpose(1, 0, 2) + smoothing
    rows = table.sum(axis=2, keepdims=True)
    confusions = np.divide(table, rows, out=np.full_like(table, 1.0 / k), where=rows > 0)
    # `where=` sums in place; a boolean-mask copy of post or a BLAS call costs several times more
    mass = post.sum(axis=1, where=covered) + smoothing
    priors: NDArray[np.float64] = mass / mass.sum() if mass.sum() > 0 else np.full(k, 1.0 / k)
    return confusions, priors


def _e_step(
    log_conf: NDArray[np.float64], log_prior: NDArray[np.float64], item: NDArray[np.intp],
    cell: NDArray[np.intp], covered: NDArray[np.bool_], n: int,
) -> tuple[NDArray[np.float64], float]:
    """Posteriors ``(k, n)`` and the votes' total log-likelihood."""
    k = len(log_prior)
    by_true = log_conf.transpose(1, 0, 2).reshape(k, -1)  # (true, source * k + given)
    joint = np.empty((k, n))
    for true in range(k):
        joint[true] = np.bincount(item, weights=np.take(by_true[true], cell), minlength=n)
        joint[true] += log_prior[true]
    top = joint.max(axis=0)
    joint -= top
    np.exp(joint, out=joint)
    total = joint.sum(axis=0)
    joint /= total
    log_lik = float((top + np.log(total)).sum(where=covered))
    return joint, log_lik
