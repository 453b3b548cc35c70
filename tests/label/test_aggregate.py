from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError
from datamill.label import (
    ABSTAIN,
    Aggregation,
    DawidSkeneResult,
    LabelMatrix,
    dawid_skene,
    majority_vote,
    simulate_raters,
)
from tests.label.strategies import rating_matrices

# The simulated crowd: five raters from 0.95 down to 0.6 accuracy, each seeing 60% of items.
ACCURACIES = [0.95, 0.85, 0.75, 0.65, 0.6]


def _brute_vote(dense: np.ndarray, k: int, weights: np.ndarray) -> tuple[list[set[int]], np.ndarray]:
    """Per item: the set of top classes (empty if no vote) and the vote shares."""
    tops, shares = [], np.full((len(dense), k), 1 / k)
    for i, row in enumerate(dense):
        scores = np.zeros(k)
        for source, label in enumerate(row):
            if label >= 0:
                scores[label] += weights[source]
        voted = bool((row >= 0).any())
        tops.append(set(np.flatnonzero(np.isclose(scores, scores.max(), rtol=1e-12, atol=0)).tolist()) if voted
                    else set())
        if scores.sum() > 0:
            shares[i] = scores / scores.sum()
    return tops, shares


def _accuracy(labels: np.ndarray, truth: np.ndarray, covered: np.ndarray) -> float:
    return float(np.mean(labels[covered] == truth[covered]))


# ---------------------------------------------------------------------------- majority vote
@settings(max_examples=80, deadline=None)
@given(rating_matrices(min_raters=1, max_raters=6), st.booleans())
def test_majority_vote_picks_the_top_class_and_follows_the_tie_break(
    case: tuple[np.ndarray, int], weighted: bool
) -> None:
    dense, k = case
    rng = np.random.default_rng(dense.size)
    weights = rng.choice([0.0, 0.1, 0.2, 0.3, 1.0, 2.5], size=dense.shape[1]) if weighted else None
    matrix = LabelMatrix.from_dense(dense, n_classes=k)
    tops, shares = _brute_vote(dense, k, np.ones(dense.shape[1]) if weights is None else weights)

    results = {tie: majority_vote(matrix, weights=weights, tie_break=tie, seed=7)  # type: ignore[arg-type]
               for tie in ("abstain", "lowest", "random")}

    for tie, result in results.items():
        assert result.method == ("weighted_vote" if weighted else "majority_vote")
        np.testing.assert_allclose(result.probs, shares, atol=1e-12)
        assert result.covered.tolist() == [bool(top) for top in tops]
        for i, top in enumerate(tops):
            label = int(result.labels[i])
            if not top or (len(top) > 1 and tie == "abstain"):
                assert label == ABSTAIN
                assert result.confidence[i] == 0.0
            else:
                assert label == (min(top) if len(top) == 1 or tie == "lowest" else label)
                assert label in top
                assert result.confidence[i] == pytest.approx(shares[i, label])


def test_majority_vote_random_ties_are_seeded_and_spread_over_the_tied_classes() -> None:
    tied = np.tile([0, 1, 2, -1], (300, 1))

    first = majority_vote(tied, tie_break="random", seed=1).labels
    again = majority_vote(tied, tie_break="random", seed=1).labels
    other = majority_vote(tied, tie_break="random", seed=2).labels

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert set(np.bincount(first, minlength=4)[:3] > 60) == {True}
    assert (first < 3).all()


def test_majority_vote_leaves_uncovered_items_unlabelled_with_uniform_probs() -> None:
    result = majority_vote([[-1, -1], [1, -1]], tie_break="lowest")

    assert isinstance(result, Aggregation)
    assert result.labels.tolist() == [ABSTAIN, 1]
    assert result.covered.tolist() == [False, True]
    assert result.probs.tolist() == [[0.5, 0.5], [0.0, 1.0]]
    assert result.confidence.tolist() == [0.0, 1.0]
    assert (result.n_items, result.n_classes) == (2, 2)


def test_weighted_vote_lets_a_heavy_source_outvote_two_light_ones() -> None:
    votes = [[0, 1, 1]]

    assert majority_vote(votes).labels.tolist() == [1]
    assert majority_vote(votes, weights=[2.5, 1.0, 1.0]).labels.tolist() == [0]
    # weights that sum alike in floating point only approximately still tie
    assert majority_vote(votes, weights=[0.3, 0.1, 0.2]).labels.tolist() == [ABSTAIN]
    assert majority_vote(votes, weights=[0.0, 0.0, 0.0]).probs.tolist() == [[0.5, 0.5]]


def test_majority_vote_rejects_bad_weights_and_tie_breaks() -> None:
    with pytest.raises(ConfigError, match=r"`weights` needs one weight per source \(3\), got shape \(2,\)"):
        majority_vote([[0, 1, 1]], weights=[1.0, 2.0])
    with pytest.raises(ConfigError, match=r"`weights` must be finite and non-negative, got \[1.0, -1.0, 1.0\]"):
        majority_vote([[0, 1, 1]], weights=[1.0, -1.0, 1.0])
    with pytest.raises(ConfigError, match=r"`tie_break` must be one of .* got 'lowets'. Did you mean 'lowest'\?"):
        majority_vote([[0, 1, 1]], tie_break="lowets")  # type: ignore[arg-type]


def test_aggregation_of_no_items_is_empty_and_of_no_classes_an_error() -> None:
    empty = LabelMatrix.from_long([], [], [], n_items=0, n_sources=3, n_classes=2)

    for result in (majority_vote(empty), dawid_skene(empty)):
        assert result.probs.shape == (0, 2)
        assert result.labels.shape == result.confidence.shape == result.covered.shape == (0,)
    with pytest.raises(ConfigError, match=r"majority_vote: the label matrix has no votes, .* `n_classes=`"):
        majority_vote(np.full((3, 2), -1))
    with pytest.raises(ConfigError, match=r"dawid_skene: the label matrix has no votes"):
        dawid_skene(np.zeros((0, 2), np.int64))


# ---------------------------------------------------------------------------- Dawid–Skene
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dawid_skene_recovers_true_labels_better_than_majority_vote(seed: int) -> None:
    votes, truth = simulate_raters(4000, ACCURACIES, coverage=0.6, n_classes=3, seed=seed)

    ds = dawid_skene(votes)
    mv = majority_vote(votes, tie_break="random", seed=seed)

    assert ds.converged
    assert _accuracy(ds.labels, truth, ds.covered) > _accuracy(mv.labels, truth, mv.covered) + 0.02


def test_dawid_skene_recovers_each_sources_confusion_matrix() -> None:
    votes, truth = simulate_raters(30_000, ACCURACIES, coverage=0.6, n_classes=3, seed=5)
    dense = votes.to_dense()
    empirical = np.zeros((votes.n_sources, 3, 3))
    for s in range(votes.n_sources):
        rated = dense[:, s] >= 0
        np.add.at(empirical[s], (truth[rated], dense[rated, s]), 1)
    empirical /= empirical.sum(axis=2, keepdims=True)

    result = dawid_skene(votes)

    assert np.abs(result.confusions - empirical).max() < 0.03
    np.testing.assert_allclose(result.class_priors, np.bincount(truth[result.covered]) / result.covered.sum(),
                               atol=0.02)


def test_dawid_skene_gives_uncovered_items_the_priors_and_no_label() -> None:
    votes, _ = simulate_raters(2000, ACCURACIES[:2], coverage=0.5, n_classes=3, seed=3)

    result = dawid_skene(votes)

    assert isinstance(result, DawidSkeneResult)
    assert isinstance(result, Aggregation)
    assert result.method == "dawid_skene"
    uncovered = ~result.covered
    assert uncovered.sum() > 100
    np.testing.assert_allclose(result.probs[uncovered], np.broadcast_to(result.class_priors, (uncovered.sum(), 3)))
    assert (result.labels[uncovered] == ABSTAIN).all()
    assert (result.confidence[uncovered] == 0).all()
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(result.confusions.sum(axis=2), 1.0)
    assert result.class_priors.sum() == pytest.approx(1.0)
    covered = result.covered
    np.testing.assert_array_equal(result.labels[covered], result.probs[covered].argmax(axis=1))
    np.testing.assert_allclose(result.confidence[covered], result.probs[covered].max(axis=1))


def test_dawid_skene_objective_never_decreases() -> None:
    votes, _ = simulate_raters(500, ACCURACIES, coverage=0.6, n_classes=3, seed=4)

    objectives = [dawid_skene(votes, max_iter=t, tol=0.0).log_likelihood for t in range(1, 12)]

    assert all(b >= a - 1e-12 for a, b in pairwise(objectives))


def test_dawid_skene_stops_at_max_iter_or_on_convergence() -> None:
    votes, _ = simulate_raters(1000, ACCURACIES, coverage=0.6, n_classes=3, seed=6)

    one = dawid_skene(votes, max_iter=1)
    full = dawid_skene(votes, tol=1e-8)

    assert (one.n_iter, one.converged) == (1, False)
    assert full.converged
    assert 1 < full.n_iter < 100


@settings(max_examples=30, deadline=None)
@given(rating_matrices(min_raters=1, max_raters=6, max_items=40), st.integers(0, 2**32 - 1))
def test_dawid_skene_does_not_depend_on_item_or_source_order(case: tuple[np.ndarray, int], seed: int) -> None:
    dense, k = case
    rng = np.random.default_rng(seed)
    items, sources = rng.permutation(dense.shape[0]), rng.permutation(dense.shape[1])

    base = dawid_skene(LabelMatrix.from_dense(dense, n_classes=k), tol=0, max_iter=20)
    moved = dawid_skene(LabelMatrix.from_dense(dense[items][:, sources], n_classes=k), tol=0, max_iter=20)

    np.testing.assert_allclose(moved.probs, base.probs[items], atol=1e-9)
    np.testing.assert_allclose(moved.confusions, base.confusions[sources], atol=1e-9)
    assert np.isfinite(base.probs).all()


def test_dawid_skene_follows_unanimous_sources() -> None:
    truth = np.array([0, 1, 2, 1, 0, 2])

    result = dawid_skene(np.stack([truth] * 3, axis=1))

    assert result.labels.tolist() == truth.tolist()
    assert (result.confidence > 0.99).all()


def test_dawid_skene_without_smoothing_stays_finite_with_silent_sources_and_unused_classes() -> None:
    votes = LabelMatrix.from_dense([[0, 0, -1], [1, 1, -1], [0, 1, -1]], n_classes=4)

    result = dawid_skene(votes, smoothing=0.0)

    assert np.isfinite(result.probs).all() and np.isfinite(result.confusions).all()
    np.testing.assert_allclose(result.confusions[2], 0.25)  # source 2 never voted: no information
    assert result.labels.tolist()[:2] == [0, 1]


def test_dawid_skene_rejects_bad_settings() -> None:
    votes = [[0, 1]]

    with pytest.raises(ConfigError, match=r"`max_iter` must be at least 1, got 0"):
        dawid_skene(votes, max_iter=0)
    with pytest.raises(ConfigError, match=r"`tol` must be >= 0, got -1"):
        dawid_skene(votes, tol=-1)
    with pytest.raises(ConfigError, match=r"`smoothing` must be a finite pseudo-count >= 0, got nan"):
        dawid_skene(votes, smoothing=float("nan"))


# ---------------------------------------------------------------------------- the simulation helper
def test_simulate_raters_is_seeded_and_matches_its_accuracies_and_coverage() -> None:
    votes, truth = simulate_raters(40_000, ACCURACIES, coverage=0.6, n_classes=3, seed=9)
    again, truth_again = simulate_raters(40_000, ACCURACIES, coverage=0.6, n_classes=3, seed=9)
    dense = votes.to_dense()

    np.testing.assert_array_equal(dense, again.to_dense())
    np.testing.assert_array_equal(truth, truth_again)
    for s, accuracy in enumerate(ACCURACIES):
        rated = dense[:, s] >= 0
        assert rated.mean() == pytest.approx(0.6, abs=0.01)
        assert np.mean(dense[rated, s] == truth[rated]) == pytest.approx(accuracy, abs=0.01)


def test_simulate_raters_one_coin_raters_spread_errors_evenly() -> None:
    votes, truth = simulate_raters(60_000, [0.7], n_classes=3, seed=2, class_dependent=False)
    labels = votes.to_dense()[:, 0]

    wrong = labels[labels != truth] - truth[labels != truth]
    assert np.mean(wrong % 3 == 1) == pytest.approx(0.5, abs=0.02)


def test_simulate_raters_rejects_impossible_settings() -> None:
    with pytest.raises(ConfigError, match=r"`accuracies` must be a non-empty list of shares in 0..1"):
        simulate_raters(10, [1.5])
    with pytest.raises(ConfigError, match=r"`coverage` must be a share in 0..1"):
        simulate_raters(10, [0.9], coverage=2)
    with pytest.raises(ConfigError, match=r"`n_classes` >= 2"):
        simulate_raters(10, [0.9], n_classes=1)
