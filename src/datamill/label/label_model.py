"""A label model for labelling functions: who is right, learned from how they vote and abstain.

Each source ``s`` (a labelling function, a rater) is described by its outcome table given the
true class — abstain, or vote one of the ``k`` classes — and the classes by their balance::

    conditionals[s, t, 0]      = P(s abstains      | truth t)
    conditionals[s, t, 1 + g]  = P(s votes class g | truth t)

Two estimators fit them on an unlabelled vote matrix (``estimator=``):

- ``"moments"`` (the default): the matrix-completion fit of Snorkel's ``LabelModel`` (Ratner et
  al., *Training complex models with multi-task weak supervision*, AAAI 2019). The vote rates
  ``mu[s, g, t] = P(s votes g | t)`` are fitted, by L-BFGS, to the observed co-voting rates of
  every pair of sources (``Σ_t mu[a, ·, t] · balance[t] · mu[b, ·, t]``) and to each source's
  voting rate, with an ``l2`` pull toward a start that gives every source precision 0.7; unlike
  Snorkel the class balance is learned with them (or fixed with ``class_balance=``). An item's
  posterior uses the votes only: **abstains are uninformative**, as in Snorkel. That is the robust
  choice when *whether* a source fires depends on something besides the class — on the spam
  tutorial a short comment makes every keyword LF abstain, whatever its class.
- ``"em"``: a latent class model fitted by EM, in which abstains are informative: the posterior
  is ``P(t | votes) ∝ class_balance[t] · Π_s conditionals[s, t, outcome_s]``. A source that only
  ever votes "spam" says "probably ham" each time it abstains. This is the better model when
  sources fire independently given the class (it is then the maximum-likelihood fit), and the
  worse one when a hidden factor drives several sources' abstains at once.

- **Correlated sources.** Two sources that fire on nearly the same items (a keyword LF and a
  regex LF for the same phrase, a copy of a rater) would be counted twice by a model of
  independent sources. Pairs whose sets of covered items overlap by at least
  ``merge_overlap`` (Jaccard) are modelled *jointly*, as one source over their pair of votes,
  so their shared evidence counts once. ``dependencies=`` names groups by hand.
- **Scale.** Items with the same votes have the same posterior, so both fits run on the
  histogram of distinct vote patterns (:class:`VoteCounts`), which one pass over the data
  builds and which merges across shards; its cost grows with the number of *distinct*
  patterns, not items. Every step is vectorised numpy (and scipy's L-BFGS).

Items no source covered get the posterior of "everyone abstained" (the class balance, for
``"moments"``) as ``probs`` but no label, as in every :class:`~datamill.label.Aggregation`.

>>> import numpy as np
>>> from datamill.label import majority_vote, simulate_raters
>>> votes, truth = simulate_raters(5000, [0.9, 0.8, 0.7, 0.65], coverage=[0.3, 0.5, 0.7, 0.4], seed=3)
>>> result, mv = label_model(votes), majority_vote(votes)
>>> seen = result.covered
>>> def accuracy(labels):
...     return round(float(np.mean(labels[seen] == truth[seen])), 3)
>>> accuracy(result.labels), accuracy(mv.labels)
(0.793, 0.682)
>>> result.conditionals[0].round(2)  # source 0: rows are the truth; columns abstain, class 0, class 1
array([[0.74, 0.19, 0.07],
       [0.67, 0.03, 0.3 ]])

These simulated raters do vote independently given the class, so EM, the maximum-likelihood
fit, does better on them:

>>> accuracy(label_model(votes, estimator="em").labels)
0.813
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize  # type: ignore[import-untyped]

from datamill.core.errors import ConfigError
from datamill.label.aggregate import Aggregation
from datamill.label.matrix import ABSTAIN, LabelMatrix, as_label_matrix

__all__ = ["LabelModel", "LabelModelResult", "VoteCounts", "label_model"]

Estimator = Literal["moments", "em"]

_TINY = np.finfo(np.float64).tiny
# "moments": the precision every source starts from (and is pulled toward by `l2`), and the
# range its vote rates are clipped to for prediction: Snorkel's defaults.
_PRECISION_START = 0.7
_RATE_CLIP = (0.01, 0.99)
# A group of dependent sources is modelled over the product of their outcomes; beyond this many
# outcomes the table gets too sparse to estimate, so groups stay small.
_MAX_GROUP_OUTCOMES = 64


@dataclass(frozen=True, eq=False)
class VoteCounts:
    """The histogram of distinct vote patterns: what a label model needs to know about the data.

    ``patterns[u]`` is one row of votes (``n_sources`` class indices, -1 = abstain) and
    ``counts[u]`` how many items voted exactly that way. Build it with :meth:`of`; histograms of
    shards :meth:`merge` into the histogram of their union.

    >>> a = VoteCounts.of([[0, -1], [0, -1], [1, 1]], n_classes=2)
    >>> b = VoteCounts.of([[1, 1]], n_classes=2)
    >>> merged = a.merge(b)
    >>> merged.patterns.tolist(), merged.counts.tolist(), merged.n_items
    ([[0, -1], [1, 1]], [2, 2], 4)
    """

    patterns: NDArray[np.int16]
    counts: NDArray[np.int64]
    n_classes: int

    @property
    def n_items(self) -> int:
        """The number of items counted."""
        return int(self.counts.sum())

    @property
    def n_sources(self) -> int:
        """The number of sources (columns of a pattern)."""
        return int(self.patterns.shape[1])

    @classmethod
    def of(cls, votes: LabelMatrix | ArrayLike, *, n_classes: int | None = None) -> VoteCounts:
        """The histogram of a label matrix or a dense ``items × sources`` array (-1 = no vote)."""
        if isinstance(votes, LabelMatrix):
            n_classes = votes.n_classes if n_classes is None else n_classes
            dense: NDArray[Any] = votes.to_dense(np.int16)
        else:
            dense = np.asarray(votes)
            if dense.ndim != 2:
                raise ConfigError(f"votes must be an items × sources array, got shape {dense.shape}.")
            if dense.size and dense.dtype.kind not in "iu":
                dense = as_label_matrix(dense, n_classes=n_classes).to_dense(np.int16)
            if n_classes is None:
                n_classes = int(dense.max()) + 1 if dense.size else 0
        if dense.size and (dense.min() < ABSTAIN or dense.max() >= max(n_classes, 1)):
            raise ConfigError(f"votes must lie in -1..{n_classes - 1}, got values from {dense.min()} to {dense.max()}.")
        patterns, counts = _distinct_rows(dense.astype(np.int16, copy=False), n_classes)
        return cls(patterns, counts, int(n_classes))

    def merge(self, other: VoteCounts) -> VoteCounts:
        """The histogram of both (the same sources and classes)."""
        if other.n_sources != self.n_sources or other.n_classes != self.n_classes:
            raise ConfigError(f"cannot merge vote counts of {self.n_sources} sources × {self.n_classes} classes with "
                              f"{other.n_sources} × {other.n_classes}.")
        patterns, inverse = _distinct_rows(np.concatenate([self.patterns, other.patterns]), self.n_classes,
                                           inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([self.counts, other.counts]),
                             minlength=len(patterns)).astype(np.int64)
        return VoteCounts(patterns, counts, self.n_classes)

    @classmethod
    def empty(cls, n_sources: int, n_classes: int) -> VoteCounts:
        """No items yet."""
        return cls(np.zeros((0, n_sources), np.int16), np.zeros(0, np.int64), n_classes)


def _distinct_rows(dense: NDArray[np.int16], n_classes: int, *, inverse: bool = False) -> Any:
    """Distinct rows (sorted) with their counts, or with each row's index when ``inverse``."""
    n, m = dense.shape
    base = n_classes + 1
    if m and base ** m < 2**62:  # one int64 key per row: np.unique on a 1-D array is fast
        key = np.zeros(n, np.int64)
        for j in range(m):
            key *= base
            key += dense[:, j].astype(np.int64) + 1
        _, first, inv, counts = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
        patterns = dense[first]
    else:
        patterns, inv, counts = np.unique(dense, axis=0, return_inverse=True, return_counts=True)
    patterns = np.ascontiguousarray(patterns, dtype=np.int16).reshape(-1, m)
    if inverse:
        return patterns, inv.reshape(-1)
    return patterns, counts.astype(np.int64)


@dataclass(frozen=True, eq=False)
class LabelModelResult(Aggregation):
    """A :func:`label_model` aggregation, with the model it fitted.

    Attributes:
        class_priors: ``(n_classes,)`` the class balance.
        conditionals: ``(n_sources, n_classes, n_classes + 1)``; ``conditionals[s, t, 0]`` is
            the probability that source ``s`` abstains on an item of true class ``t``, and
            ``conditionals[s, t, 1 + g]`` that it votes ``g``. For sources modelled jointly
            these are the group's marginals.
        groups: the sources modelled jointly (each a tuple of source indices; single sources too).
        n_iter: EM iterations run.
        converged: True if the log-likelihood per item improved by less than ``tol``.
        log_likelihood: the final log-likelihood per item (with the smoothing prior).
    """

    class_priors: NDArray[np.float64]
    conditionals: NDArray[np.float64]
    groups: tuple[tuple[int, ...], ...]
    n_iter: int
    converged: bool
    log_likelihood: float


class LabelModel:
    """A fitted label model: class balance and each source group's outcome table per class.

    Fit it on one label matrix (:meth:`fit`, or :meth:`fit_counts` on a :class:`VoteCounts`),
    and :meth:`predict` on that or any other matrix with the same sources.

    >>> from datamill.label import simulate_raters
    >>> votes, _ = simulate_raters(5000, [0.9, 0.8, 0.7, 0.65], coverage=0.5, seed=3)
    >>> model = LabelModel.fit(votes)
    >>> model.predict([[1, 1, -1, -1], [0, -1, -1, -1], [-1, -1, -1, -1]]).labels.tolist()
    [1, 0, -1]
    """

    def __init__(self, class_priors: NDArray[np.float64], tables: list[NDArray[np.float64]],
                 groups: tuple[tuple[int, ...], ...], n_sources: int, *, n_iter: int = 0, converged: bool = True,
                 log_likelihood: float = float("nan"), estimator: Estimator = "em") -> None:
        self.class_priors = class_priors
        self.tables = tables  # one (k, (k+1) ** len(group)) table per group
        self.groups = groups
        self.n_sources = n_sources
        self.n_iter = n_iter
        self.converged = converged
        self.log_likelihood = log_likelihood
        self.estimator: Estimator = estimator

    @property
    def n_classes(self) -> int:
        """The number of classes."""
        return len(self.class_priors)

    @property
    def abstains_informative(self) -> bool:
        """Whether an abstain is evidence in :meth:`predict_proba` (``"em"``) or not (``"moments"``)."""
        return self.estimator == "em"

    @classmethod
    def fit(
        cls,
        votes: LabelMatrix | ArrayLike,
        *,
        estimator: Estimator = "moments",
        class_balance: ArrayLike | None = None,
        dependencies: Sequence[Sequence[int]] | None = None,
        merge_overlap: float | None = 0.8,
        smoothing: float = 1.0,
        l2: float = 0.1,
        max_iter: int = 300,
        tol: float = 1e-7,
    ) -> LabelModel:
        """Fit on a label matrix or a dense ``items × sources`` array (-1 = no vote).

        Args:
            votes: the votes.
            estimator: ``"moments"`` (Snorkel's matrix completion; abstains uninformative) or
                ``"em"`` (latent class model by EM; abstains informative). See the module's
                documentation for when each fits better.
            class_balance: fix the class priors (one share per class) instead of learning them.
            dependencies: groups of source indices to model jointly, besides those found by
                ``merge_overlap``.
            merge_overlap: model two sources jointly when the Jaccard overlap of the items they
                cover is at least this (None: never).
            smoothing: ``"em"``: Dirichlet pseudo-count added to every outcome of every source and class.
            l2: ``"moments"``: weight of the pull of the vote rates toward the start (precision 0.7);
                0 leaves them free, as in Snorkel's default.
            max_iter: the most EM (or L-BFGS) iterations.
            tol: ``"em"``: stop when the log-likelihood per item improves by less than this.

        >>> model = LabelModel.fit([[1, -1, 1], [1, 1, -1], [0, 0, 0], [-1, 0, 0], [1, 1, 1]])
        >>> model.estimator, model.predict([[1, -1, -1], [-1, 0, 0]]).labels.tolist()
        ('moments', [1, 0])
        """
        matrix = as_label_matrix(votes)
        if matrix.n_classes < 2:
            raise ConfigError(f"label_model needs at least 2 classes, the votes have {matrix.n_classes}; "
                              "build the LabelMatrix with `n_classes=` (or `class_names=`).")
        return cls.fit_counts(VoteCounts.of(matrix), estimator=estimator, class_balance=class_balance,
                              dependencies=dependencies, merge_overlap=merge_overlap, smoothing=smoothing, l2=l2,
                              max_iter=max_iter, tol=tol)

    @classmethod
    def fit_counts(
        cls,
        counts: VoteCounts,
        *,
        estimator: Estimator = "moments",
        class_balance: ArrayLike | None = None,
        dependencies: Sequence[Sequence[int]] | None = None,
        merge_overlap: float | None = 0.8,
        smoothing: float = 1.0,
        l2: float = 0.1,
        max_iter: int = 300,
        tol: float = 1e-7,
    ) -> LabelModel:
        """Fit on a vote-pattern histogram (what the ``label.aggregate`` step merges over shards)."""
        k, m = counts.n_classes, counts.n_sources
        if k < 2:
            raise ConfigError(f"label_model needs at least 2 classes, got {k}.")
        if estimator not in ("moments", "em"):
            raise ConfigError(f"label_model: `estimator` must be 'moments' or 'em', got {estimator!r}.")
        if not (np.isfinite(smoothing) and smoothing >= 0):
            raise ConfigError(f"label_model: `smoothing` must be a pseudo-count >= 0, got {smoothing!r}.")
        if not (np.isfinite(l2) and l2 >= 0):
            raise ConfigError(f"label_model: `l2` must be a weight >= 0, got {l2!r}.")
        if max_iter < 1:
            raise ConfigError(f"label_model: `max_iter` must be at least 1, got {max_iter}.")
        if merge_overlap is not None and not 0 < merge_overlap <= 1:
            raise ConfigError(f"label_model: `merge_overlap` is a Jaccard share in (0, 1], got {merge_overlap!r}.")
        fixed = None
        if class_balance is not None:
            fixed = np.asarray(class_balance, dtype=np.float64)
            if fixed.shape != (k,) or np.any(fixed <= 0) or not np.all(np.isfinite(fixed)):
                raise ConfigError(f"label_model: `class_balance` needs {k} positive shares, got {class_balance!r}.")
            fixed = fixed / fixed.sum()
        groups = _groups(counts, dependencies, merge_overlap)
        codes = _codes(counts.patterns, groups, k)
        sizes = [(k + 1) ** len(g) for g in groups]
        weight = counts.counts.astype(np.float64)
        if estimator == "em":
            priors, tables, n_iter, converged, objective = _fit_em(codes, sizes, weight, counts.patterns, k, fixed,
                                                                   smoothing, max_iter, tol)
        else:
            priors, tables, n_iter, converged = _fit_moments(codes, groups, sizes, weight, k, fixed, l2, max_iter)
            _, log_lik = _posterior(priors, tables, codes)
            objective = float((log_lik * weight).sum() / max(float(weight.sum()), 1.0))
        return cls(priors, tables, groups, m, n_iter=n_iter, converged=converged, log_likelihood=objective,
                   estimator=estimator)

    def conditionals(self) -> NDArray[np.float64]:
        """``(n_sources, n_classes, n_classes + 1)`` outcome probabilities (abstain first) per true class."""
        k = self.n_classes
        out = np.zeros((self.n_sources, k, k + 1))
        for group, table in zip(self.groups, self.tables, strict=True):
            for position, source in enumerate(group):
                outcome = (np.arange(table.shape[1]) // (k + 1) ** position) % (k + 1)
                for t in range(k):
                    out[source, t] = np.bincount(outcome, weights=table[t], minlength=k + 1)
        return out

    def predict_proba(self, votes: LabelMatrix | ArrayLike) -> NDArray[np.float64]:
        """``(n_items, n_classes)`` posteriors of the classes given each item's votes."""
        dense = self._dense(votes)
        if not len(dense):
            return np.zeros((0, self.n_classes))
        patterns, inverse = _distinct_rows(dense, self.n_classes, inverse=True)
        post, _ = _posterior(self.class_priors, self.tables, _codes(patterns, self.groups, self.n_classes),
                             abstains=self.abstains_informative)
        return np.ascontiguousarray(post[inverse])

    def predict(self, votes: LabelMatrix | ArrayLike) -> LabelModelResult:
        """Probabilities, labels (-1 for uncovered items) and confidence for each item."""
        dense = self._dense(votes)
        probs = self.predict_proba(dense)
        covered: NDArray[np.bool_] = np.asarray((dense >= 0).any(axis=1), dtype=bool)
        labels = np.where(covered, probs.argmax(axis=1) if len(probs) else 0, ABSTAIN).astype(np.int64)
        confidence = np.zeros(len(labels))
        chosen = labels >= 0
        confidence[chosen] = probs[np.flatnonzero(chosen), labels[chosen]]
        return LabelModelResult(
            probs=probs, labels=labels, confidence=confidence, covered=covered, method="label_model",
            class_priors=self.class_priors, conditionals=self.conditionals(), groups=self.groups, n_iter=self.n_iter,
            converged=self.converged, log_likelihood=self.log_likelihood)

    def _dense(self, votes: LabelMatrix | ArrayLike) -> NDArray[np.int16]:
        if isinstance(votes, LabelMatrix):
            if votes.n_classes > self.n_classes:
                raise ConfigError(f"the votes have {votes.n_classes} classes; the model was fitted on "
                                  f"{self.n_classes}.")
            dense = votes.to_dense(np.int16)
        else:
            dense = np.asarray(votes)
            if dense.ndim != 2:
                raise ConfigError(f"votes must be an items × sources array, got shape {dense.shape}.")
            dense = as_label_matrix(dense, n_classes=self.n_classes if dense.size else None).to_dense(np.int16) \
                if dense.dtype.kind not in "iu" else dense.astype(np.int16, copy=False)
        if dense.shape[1] != self.n_sources:
            raise ConfigError(f"the votes come from {dense.shape[1]} sources; the model was fitted on "
                              f"{self.n_sources}.")
        if dense.size and (dense.min() < ABSTAIN or dense.max() >= self.n_classes):
            raise ConfigError(f"votes must lie in -1..{self.n_classes - 1}, got {dense.min()}..{dense.max()}.")
        return dense

    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters as JSON-able lists (for reports and the step's model)."""
        return {"class_priors": self.class_priors.tolist(), "groups": [list(g) for g in self.groups],
                "tables": [t.tolist() for t in self.tables], "n_sources": self.n_sources, "n_iter": self.n_iter,
                "converged": self.converged, "log_likelihood": self.log_likelihood,
                "estimator": self.estimator}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabelModel:
        """The inverse of :meth:`to_dict`."""
        return cls(np.asarray(data["class_priors"], dtype=np.float64),
                   [np.asarray(t, dtype=np.float64) for t in data["tables"]],
                   tuple(tuple(int(s) for s in g) for g in data["groups"]), int(data["n_sources"]),
                   n_iter=int(data["n_iter"]), converged=bool(data["converged"]),
                   log_likelihood=float(data["log_likelihood"]),
                   estimator="moments" if data.get("estimator") == "moments" else "em")


def label_model(
    votes: LabelMatrix | ArrayLike,
    *,
    estimator: Estimator = "moments",
    class_balance: ArrayLike | None = None,
    dependencies: Sequence[Sequence[int]] | None = None,
    merge_overlap: float | None = 0.8,
    smoothing: float = 1.0,
    l2: float = 0.1,
    max_iter: int = 300,
    tol: float = 1e-7,
) -> LabelModelResult:
    """Fit the label model on ``votes`` and label them: :meth:`LabelModel.fit` then ``predict``.

    See the module's documentation for the model. Arguments are those of :meth:`LabelModel.fit`.

    >>> from datamill.label import simulate_raters
    >>> votes, truth = simulate_raters(2000, [0.9, 0.8, 0.7], coverage=0.5, seed=1)
    >>> result = label_model(votes)
    >>> result.class_priors.round(2).tolist(), result.converged  # the truth: 0.49, 0.51
    ([0.44, 0.56], True)
    """
    matrix = as_label_matrix(votes)
    model = LabelModel.fit(matrix, estimator=estimator, class_balance=class_balance, dependencies=dependencies,
                           merge_overlap=merge_overlap, smoothing=smoothing, l2=l2, max_iter=max_iter, tol=tol)
    return model.predict(matrix)


def _fit_em(codes: NDArray[np.int64], sizes: list[int], weight: NDArray[np.float64], patterns: NDArray[np.int16],
            k: int, fixed: NDArray[np.float64] | None, smoothing: float, max_iter: int,
            tol: float) -> tuple[NDArray[np.float64], list[NDArray[np.float64]], int, bool, float]:
    """The latent class model by EM from majority-vote shares: priors, tables, iterations, converged, objective."""
    n = max(float(weight.sum()), 1.0)
    post = _vote_shares(patterns, k)  # start from each pattern's majority-vote shares
    priors = fixed if fixed is not None else np.full(k, 1.0 / k)
    tables: list[NDArray[np.float64]] = []
    objective, converged, n_iter = -np.inf, False, 0
    while n_iter < max_iter:
        n_iter += 1
        w = post * weight[:, None]
        tables = []
        for g, size in enumerate(sizes):
            table = np.empty((k, size))
            for t in range(k):
                table[t] = np.bincount(codes[:, g], weights=w[:, t], minlength=size)
            # the same pseudo-count per source whatever the group size: a pair's table is sparser
            table += smoothing / (size / (k + 1)) if size > k + 1 else smoothing
            tables.append(table / table.sum(axis=1, keepdims=True))
        if fixed is None:
            mass = w.sum(axis=0) + smoothing
            priors = mass / mass.sum()
        post, log_lik = _posterior(priors, tables, codes)
        penalty = smoothing * sum(float(np.log(np.maximum(t, _TINY)).sum()) for t in tables)
        previous, objective = objective, (float((log_lik * weight).sum()) + penalty) / n
        if objective - previous < tol:
            converged = True
            break
    return priors, tables, n_iter, converged, objective


def _fit_moments(codes: NDArray[np.int64], groups: tuple[tuple[int, ...], ...], sizes: list[int],
                 weight: NDArray[np.float64], k: int, fixed: NDArray[np.float64] | None, l2: float,
                 max_iter: int) -> tuple[NDArray[np.float64], list[NDArray[np.float64]], int, bool]:
    """Snorkel's matrix completion (with the class balance learned unless fixed): priors, tables, iterations, converged.

    Each group's non-abstain outcomes are one-hot columns; ``O`` is their co-occurrence rate
    over items. The vote rates ``mu`` (columns × classes) and the balance ``p`` minimise
    ``‖mask ∘ (O − mu diag(p) muᵀ)‖² + ‖mu p − diag(O)‖² + l2 ‖mu − mu₀‖²``, where the mask
    leaves out each group's own block (a group never co-votes with itself) and ``mu₀`` gives
    every outcome precision 0.7 for the class it votes.
    """
    n = max(float(weight.sum()), 1.0)
    offsets = np.concatenate([[0], np.cumsum([size - 1 for size in sizes])]).astype(np.int64)
    d = int(offsets[-1])
    onehot = np.zeros((len(codes), d))
    for g in range(len(groups)):
        voted = np.flatnonzero(codes[:, g] > 0)
        onehot[voted, offsets[g] + codes[voted, g] - 1] = 1.0
    observed = (onehot * weight[:, None]).T @ onehot / n
    rates = np.diag(observed).copy()
    mask = np.ones((d, d))
    for g in range(len(groups)):
        mask[offsets[g]:offsets[g + 1], offsets[g]:offsets[g + 1]] = 0.0
    # which class each outcome votes for: the majority of the group's votes in it (ties share)
    votes_for = np.zeros((d, k))
    for g, (group, size) in enumerate(zip(groups, sizes, strict=True)):
        outcome = np.arange(1, size)
        tally = np.zeros((size - 1, k))
        for position in range(len(group)):
            vote = (outcome // (k + 1) ** position) % (k + 1) - 1
            tally[vote >= 0, vote[vote >= 0]] += 1
        top = tally == tally.max(axis=1, keepdims=True)
        votes_for[offsets[g]:offsets[g + 1]] = top / top.sum(axis=1, keepdims=True)
    uniform = np.full(k, 1.0 / k)
    start = np.clip(rates[:, None] * _PRECISION_START * votes_for / (fixed if fixed is not None else uniform), 0, 1)
    low = min(0.01, 10.0 ** -np.ceil(np.log10(n)))  # Snorkel's bounds on a rate while fitting

    def split(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if fixed is not None:
            return x.reshape(d, k), fixed
        logits = x[d * k:]
        shares = np.exp(logits - logits.max())
        return x[:d * k].reshape(d, k), shares / shares.sum()

    def loss(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        mu, p = split(x)
        gap = (observed - (mu * p) @ mu.T) * mask
        total = mu @ p - rates
        pull = mu - start
        value = float((gap**2).sum() + (total**2).sum() + l2 * (pull**2).sum())
        grad_mu = -4.0 * (gap @ mu) * p + 2.0 * np.outer(total, p) + 2.0 * l2 * pull
        if fixed is not None:
            return value, grad_mu.ravel()
        grad_p = -2.0 * np.einsum("ij,iy,jy->y", gap, mu, mu) + 2.0 * (total[:, None] * mu).sum(axis=0)
        return value, np.concatenate([grad_mu.ravel(), p * (grad_p - float(grad_p @ p))])

    x0 = start.ravel() if fixed is not None else np.concatenate([start.ravel(), np.zeros(k)])
    # the logits of the balance are bounded so that no class falls below ~1e-4 of the items
    bounds = [(low, 1.0 - low)] * (d * k) + ([] if fixed is not None else [(-4.6, 4.6)] * k)
    if weight.sum() > 0:
        done = minimize(loss, x0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": max_iter})
        x, n_iter, converged = done.x, int(done.nit), bool(done.success)
    else:  # no items: keep the start (and a uniform balance)
        x, n_iter, converged = x0, 0, True
    mu, priors = split(x)
    mu = np.clip(mu, *_RATE_CLIP)
    tables = []
    for g, size in enumerate(sizes):
        table = np.empty((k, size))
        table[:, 1:] = mu[offsets[g]:offsets[g + 1]].T
        # the abstain rate is what the votes leave; the fit does not constrain a group's rates to
        # sum to at most 1, so a row that overflows is scaled back (never on real LFs so far)
        table[:, 0] = np.maximum(1.0 - table[:, 1:].sum(axis=1), _RATE_CLIP[0])
        tables.append(table / table.sum(axis=1, keepdims=True))
    return np.asarray(priors, dtype=np.float64), tables, n_iter, converged


def _vote_shares(patterns: NDArray[np.int16], k: int) -> NDArray[np.float64]:
    """Each pattern's share of votes per class; uniform where no source voted."""
    shares = np.stack([(patterns == c).sum(axis=1) for c in range(k)], axis=1).astype(np.float64)
    total = shares.sum(axis=1, keepdims=True)
    return np.where(total > 0, shares / np.maximum(total, 1.0), 1.0 / k)


def _codes(patterns: NDArray[np.int16], groups: tuple[tuple[int, ...], ...], k: int) -> NDArray[np.int64]:
    """Each pattern's outcome per group: the group's votes as one base-(k+1) number."""
    codes = np.zeros((len(patterns), len(groups)), dtype=np.int64)
    for g, group in enumerate(groups):
        for position, source in enumerate(group):
            codes[:, g] += (patterns[:, source].astype(np.int64) + 1) * (k + 1) ** position
    return codes


def _posterior(priors: NDArray[np.float64], tables: list[NDArray[np.float64]], codes: NDArray[np.int64], *,
               abstains: bool = True) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Posteriors ``(patterns, k)`` and each pattern's log-likelihood; ``abstains=False`` leaves out
    the factor of each group that abstained entirely (then the second value is no likelihood)."""
    joint = np.tile(np.log(np.maximum(priors, _TINY)), (len(codes), 1))
    for g, table in enumerate(tables):
        logs = np.log(np.maximum(table, _TINY)).T
        if not abstains:
            logs[0] = 0.0
        joint += logs[codes[:, g]]
    top = joint.max(axis=1, keepdims=True)
    joint -= top
    np.exp(joint, out=joint)
    total = joint.sum(axis=1, keepdims=True)
    joint /= total
    return joint, (top + np.log(total))[:, 0]


def _groups(counts: VoteCounts, dependencies: Sequence[Sequence[int]] | None,
            merge_overlap: float | None) -> tuple[tuple[int, ...], ...]:
    """Sources to model jointly: the given groups, plus pairs covering nearly the same items."""
    m, k = counts.n_sources, counts.n_classes
    parent = list(range(m))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def size(a: int) -> int:
        return sum(1 for s in range(m) if find(s) == find(a))

    def join(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb and (k + 1) ** (size(a) + size(b)) <= _MAX_GROUP_OUTCOMES:
            parent[max(ra, rb)] = min(ra, rb)

    for group in dependencies or ():
        members = [int(s) for s in group]
        if any(s < 0 or s >= m for s in members):
            raise ConfigError(f"label_model: `dependencies` names source {members}, outside 0..{m - 1}.")
        if (k + 1) ** len(set(members)) > _MAX_GROUP_OUTCOMES:
            raise ConfigError(f"label_model: a group of {len(set(members))} dependent sources has "
                              f"{(k + 1) ** len(set(members))} joint outcomes, more than {_MAX_GROUP_OUTCOMES} "
                              "can be estimated; name smaller groups (pairs of the most similar sources).")
        for other in members[1:]:
            join(members[0], other)
    if merge_overlap is not None and m > 1 and len(counts.counts):
        fired = (counts.patterns >= 0).astype(np.float64)
        weighted = fired * counts.counts[:, None]
        both = weighted.T @ fired
        either = weighted.sum(axis=0)[:, None] + weighted.sum(axis=0)[None, :] - both
        jaccard = np.divide(both, either, out=np.zeros_like(both), where=either > 0)
        pairs = [(jaccard[a, b], a, b) for a in range(m) for b in range(a + 1, m) if jaccard[a, b] >= merge_overlap]
        for _, a, b in sorted(pairs, reverse=True):
            join(a, b)
    roots: dict[int, list[int]] = {}
    for s in range(m):
        roots.setdefault(find(s), []).append(s)
    return tuple(tuple(members) for _, members in sorted(roots.items()))
