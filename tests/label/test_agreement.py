from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, confusion_matrix
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from datamill.core.errors import ConfigError
from datamill.label import (
    AccuracyEstimate,
    LabelMatrix,
    cohen_kappa,
    fleiss_kappa,
    fleiss_kappa_from_counts,
    human_level_performance,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    percent_agreement,
    rater_accuracy,
    rater_pair_confusions,
)
from tests.label.strategies import as_float, rating_matrices

TOL = 1e-9
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a reference library that warns (and returns NaN) where a statistic is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _reference_alpha(dense: np.ndarray, level: str, values: np.ndarray | None = None) -> float | None:
    """krippendorff.alpha on the same ratings, or None where it refuses or is not finite."""
    data = as_float(dense)
    if values is not None:
        data = np.where(np.isnan(data), np.nan, values[np.where(dense < 0, 0, dense)])
    domain = None if values is None else np.sort(values)
    try:
        alpha = _quiet(krippendorff.alpha, reliability_data=data.T, level_of_measurement=level, value_domain=domain)
    except (ValueError, ZeroDivisionError):
        return None
    return float(alpha) if np.isfinite(alpha) else None


# ---------------------------------------------------------------------------- against the references
@settings(max_examples=80, deadline=None)
@given(rating_matrices(), st.sampled_from(LEVELS))
def test_krippendorff_alpha_equals_the_krippendorff_package_with_missing_ratings(
    case: tuple[np.ndarray, int], level: str
) -> None:
    dense, k = case
    expected = _reference_alpha(dense, level)
    event("undefined" if expected is None else "compared")

    if expected is None:
        with pytest.raises(ConfigError, match=r"krippendorff_alpha (needs|is undefined)"):
            krippendorff_alpha(dense, level=level)  # type: ignore[arg-type]
    else:
        assert krippendorff_alpha(LabelMatrix.from_dense(dense, n_classes=k), level=level) == pytest.approx(  # type: ignore[arg-type]
            expected, abs=TOL, rel=TOL)


@settings(max_examples=40, deadline=None)
@given(rating_matrices(max_classes=4), st.sampled_from(LEVELS), st.data())
def test_krippendorff_alpha_reads_class_values_like_the_krippendorff_package(
    case: tuple[np.ndarray, int], level: str, data: st.DataObject
) -> None:
    dense, k = case
    # distinct values in an order other than the class indices
    values = np.array(data.draw(st.lists(st.integers(1, 40), min_size=k, max_size=k, unique=True)), float)
    expected = _reference_alpha(dense, level, values)

    if expected is not None:
        ours = krippendorff_alpha(LabelMatrix.from_dense(dense, n_classes=k), level=level, values=values)  # type: ignore[arg-type]
        assert ours == pytest.approx(expected, abs=TOL, rel=TOL)


@settings(max_examples=80, deadline=None)
@given(rating_matrices(min_raters=2, max_raters=2), st.sampled_from([None, "linear", "quadratic"]))
def test_cohen_kappa_equals_scikit_learn_on_the_items_both_rated(
    case: tuple[np.ndarray, int], weights: str | None
) -> None:
    dense, k = case
    a, b = dense[:, 0], dense[:, 1]
    both = (a >= 0) & (b >= 0)
    expected = (_quiet(cohen_kappa_score, a[both], b[both], labels=list(range(k)), weights=weights)
                if both.any() else np.nan)
    event("compared" if np.isfinite(expected) else "undefined")

    if not np.isfinite(expected):
        with pytest.raises(ConfigError, match=r"share no rated item|is undefined"):
            cohen_kappa(a, b, weights=weights, n_classes=k)  # type: ignore[arg-type]
    else:
        assert cohen_kappa(a, b, weights=weights, n_classes=k) == pytest.approx(expected, abs=TOL)  # type: ignore[arg-type]
        assert cohen_kappa(as_float(a), as_float(b), weights=weights, n_classes=k) == pytest.approx(  # type: ignore[arg-type]
            expected, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(rating_matrices(max_raters=4), st.sampled_from([None, "linear", "quadratic"]))
def test_pairwise_cohen_kappa_equals_scikit_learn_for_every_pair(
    case: tuple[np.ndarray, int], weights: str | None
) -> None:
    dense, k = case
    kappas = pairwise_cohen_kappa(LabelMatrix.from_dense(dense, n_classes=k), weights=weights)  # type: ignore[arg-type]

    for a in range(dense.shape[1]):
        for b in range(dense.shape[1]):
            both = (dense[:, a] >= 0) & (dense[:, b] >= 0)
            expected = (_quiet(cohen_kappa_score, dense[both, a], dense[both, b], labels=list(range(k)),
                               weights=weights) if both.any() else np.nan)
            if np.isfinite(expected):
                assert kappas[a, b] == pytest.approx(expected, abs=TOL)
            else:
                assert np.isnan(kappas[a, b])


@settings(max_examples=80, deadline=None)
@given(rating_matrices(missing=False, max_raters=6))
def test_fleiss_kappa_equals_statsmodels_on_complete_ratings(case: tuple[np.ndarray, int]) -> None:
    dense, k = case
    table, _ = aggregate_raters(dense)
    expected = _quiet(statsmodels_fleiss_kappa, table)
    event("compared" if np.isfinite(expected) else "undefined")

    if not np.isfinite(expected):
        with pytest.raises(ConfigError, match=r"fleiss_kappa is undefined"):
            fleiss_kappa(dense)
    else:
        assert fleiss_kappa(LabelMatrix.from_dense(dense, n_classes=k)) == pytest.approx(expected, abs=TOL)
        assert fleiss_kappa_from_counts(table) == pytest.approx(expected, abs=TOL)


@settings(max_examples=60, deadline=None)
@given(rating_matrices(missing=False, min_raters=4, max_raters=6), st.integers(2, 4), st.integers(0, 2**32 - 1))
def test_fleiss_kappa_equals_statsmodels_with_equal_ratings_per_item_from_a_larger_pool(
    case: tuple[np.ndarray, int], per_item: int, seed: int
) -> None:
    dense, k = case
    rng = np.random.default_rng(seed)
    # each item is rated by `per_item` raters drawn from the pool: missing cells, equal counts
    order = np.argsort(rng.random(dense.shape), axis=1)
    sparse = dense.copy()
    np.put_along_axis(sparse, order[:, per_item:], -1, axis=1)
    expected = _quiet(statsmodels_fleiss_kappa, LabelMatrix.from_dense(sparse, n_classes=k).class_counts())

    if np.isfinite(expected):
        assert fleiss_kappa(sparse) == pytest.approx(expected, abs=TOL)


@settings(max_examples=60, deadline=None)
@given(rating_matrices(min_raters=2, max_raters=2))
def test_percent_agreement_of_two_raters_is_the_share_of_shared_items_they_agree_on(
    case: tuple[np.ndarray, int],
) -> None:
    dense, _ = case
    both = (dense[:, 0] >= 0) & (dense[:, 1] >= 0)

    if not both.any():
        with pytest.raises(ConfigError, match=r"needs an item rated by at least two raters"):
            percent_agreement(dense)
    else:
        assert percent_agreement(dense) == pytest.approx(np.mean(dense[both, 0] == dense[both, 1]), abs=TOL)


# ---------------------------------------------------------------------------- the documented conventions
def test_fleiss_kappa_with_unequal_ratings_averages_items_and_pools_ratings() -> None:
    # item 3 has two ratings, item 4 a single one (left out)
    ratings = [[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, -1], [1, -1, -1]]
    p_items = [1 / 3, 1, 1, 0]
    shares = np.array([5, 6]) / 11
    p_e = float((shares**2).sum())

    assert fleiss_kappa(ratings) == pytest.approx((np.mean(p_items) - p_e) / (1 - p_e), abs=TOL)
    assert fleiss_kappa(ratings) == fleiss_kappa(ratings[:4])


def test_fleiss_kappa_of_perfect_agreement_over_several_classes_is_one() -> None:
    assert fleiss_kappa([[0, 0, 0], [1, 1, 1], [2, 2, -1]]) == pytest.approx(1.0)
    assert krippendorff_alpha([[0, 0, 0], [1, 1, 1], [2, 2, -1]]) == pytest.approx(1.0)
    assert cohen_kappa([0, 1, 2], [0, 1, 2], weights="linear") == pytest.approx(1.0)
    assert percent_agreement([[0, 0, 0], [1, 1, 1]]) == 1.0


def test_krippendorff_alpha_matches_the_published_example() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders × 12 units example.
    data = np.array([[1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
                     [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
                     [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
                     [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan]]).T - 1
    likert = np.arange(1, 6)

    assert round(krippendorff_alpha(data, level="nominal"), 3) == 0.743
    assert round(krippendorff_alpha(data, level="ordinal"), 3) == 0.815
    assert round(krippendorff_alpha(data, level="interval", values=likert), 3) == 0.849
    assert round(krippendorff_alpha(data, level="ratio", values=likert), 3) == 0.797


# ---------------------------------------------------------------------------- undefined and wrong input
def test_agreement_of_a_single_class_is_undefined_and_says_what_to_report() -> None:
    same = [[1, 1], [1, 1], [1, -1]]

    with pytest.raises(ConfigError, match=r"cohen_kappa is undefined: .* same single class.*`percent_agreement`"):
        cohen_kappa([1, 1, 1], [1, 1, -1])
    with pytest.raises(ConfigError, match=r"fleiss_kappa is undefined: every rating is the same class"):
        fleiss_kappa(same)
    with pytest.raises(ConfigError, match=r"krippendorff_alpha is undefined: .* single value"):
        krippendorff_alpha(same, level="interval")
    assert np.isnan(pairwise_cohen_kappa(same)).all()
    assert percent_agreement(same) == 1.0


def test_agreement_without_overlap_says_items_must_be_rated_twice() -> None:
    apart = [[0, -1], [-1, 1], [1, -1]]

    with pytest.raises(ConfigError, match=r"share no rated item"):
        cohen_kappa([0, -1, 1], [-1, 1, -1])
    with pytest.raises(ConfigError, match=r"fleiss_kappa needs an item with at least two ratings"):
        fleiss_kappa(apart)
    with pytest.raises(ConfigError, match=r"krippendorff_alpha needs an item rated by at least two raters"):
        krippendorff_alpha(apart)
    with pytest.raises(ConfigError, match=r"no item has both a rating by the raters and ratings by other raters"):
        human_level_performance(apart)
    assert np.isnan(rater_accuracy(apart)).all()


def test_agreement_of_empty_input_is_an_error_not_a_number() -> None:
    empty = np.zeros((0, 3), np.int64)

    with pytest.raises(ConfigError, match=r"needs an item rated by at least two raters; got 0 items"):
        percent_agreement(empty)
    with pytest.raises(ConfigError, match=r"fleiss_kappa needs an item with at least two ratings"):
        fleiss_kappa(empty)
    with pytest.raises(ConfigError, match=r"share no rated item"):
        cohen_kappa([], [])


def test_agreement_rejects_bad_options_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match=r"`level` must be one of .* got 'nomial'. Did you mean 'nominal'\?"):
        krippendorff_alpha([[0, 1]], level="nomial")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"`weights` must be None, 'linear' or 'quadratic', got 'quadratik'"):
        cohen_kappa([0, 1], [0, 1], weights="quadratik")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"`values` needs one finite number per class \(2\)"):
        krippendorff_alpha([[0, 1], [1, 1]], values=[1, 2, 3])
    with pytest.raises(ConfigError, match=r"ordinal `values` must order the classes"):
        krippendorff_alpha([[0, 1], [1, 1]], level="ordinal", values=[2, 2])
    with pytest.raises(ConfigError, match=r"must rate the same items; got 2 and 3 ratings"):
        cohen_kappa([0, 1], [0, 1, 1])
    with pytest.raises(ConfigError, match=r"ratings must be -1 or classes 0..1; got values from 0 to 2"):
        cohen_kappa([0, 2], [0, 1], n_classes=2)
    with pytest.raises(ConfigError, match=r"table of non-negative counts"):
        fleiss_kappa_from_counts([[1, -1]])
    with pytest.raises(ConfigError, match=r"whole numbers"):
        fleiss_kappa_from_counts([[1.5, 1]])


# ---------------------------------------------------------------------------- confusions, accuracy, HLP
@settings(max_examples=50, deadline=None)
@given(rating_matrices(min_raters=1))
def test_rater_pair_confusions_count_the_items_both_raters_rated(case: tuple[np.ndarray, int]) -> None:
    dense, k = case
    confusions = rater_pair_confusions(LabelMatrix.from_dense(dense, n_classes=k))

    assert confusions.shape == (dense.shape[1], dense.shape[1], k, k)
    for a in range(dense.shape[1]):
        for b in range(dense.shape[1]):
            both = (dense[:, a] >= 0) & (dense[:, b] >= 0)
            expected = confusion_matrix(dense[both, a], dense[both, b], labels=list(range(k))) if both.any() else 0
            np.testing.assert_array_equal(confusions[a, b], expected)


def _brute_rater_accuracy(dense: np.ndarray, gold: np.ndarray | None) -> list[float]:
    """Per rater, item by item: 1/t credit when the rater's class is among the others' t tied top classes."""
    out = []
    for r in range(dense.shape[1]):
        scores = []
        for i, label in enumerate(dense[:, r]):
            if label < 0:
                continue
            if gold is not None:
                if gold[i] >= 0:
                    scores.append(float(label == gold[i]))
                continue
            others = [v for j, v in enumerate(dense[i]) if j != r and v >= 0]
            if others:
                counts = np.bincount(others)
                top = set(np.flatnonzero(counts == counts.max()).tolist())
                scores.append(1 / len(top) if label in top else 0.0)
        out.append(float(np.mean(scores)) if scores else np.nan)
    return out


@settings(max_examples=60, deadline=None)
@given(rating_matrices(), st.booleans())
def test_rater_accuracy_scores_each_rater_against_gold_or_the_others(
    case: tuple[np.ndarray, int], with_gold: bool
) -> None:
    dense, k = case
    gold = np.random.default_rng(dense.size).integers(-1, k, dense.shape[0]) if with_gold else None

    ours = rater_accuracy(LabelMatrix.from_dense(dense, n_classes=k), gold)

    np.testing.assert_allclose(ours, _brute_rater_accuracy(dense, gold), atol=TOL)


def test_rater_accuracy_against_gold_counts_only_items_with_gold() -> None:
    ratings = [[0, 1], [1, 1], [1, 0]]

    assert rater_accuracy(ratings, gold=[0, np.nan, 0]).tolist() == [0.5, 0.5]


def test_human_level_performance_of_a_rater_against_gold_is_its_accuracy_with_an_interval() -> None:
    rng = np.random.default_rng(3)
    gold = rng.integers(0, 3, 2000)
    rater = np.where(rng.random(2000) < 0.8, gold, (gold + 1) % 3)
    ratings = np.stack([rater, gold], axis=1)

    estimate = human_level_performance(ratings, gold, rater=0, n_boot=500, seed=1)

    assert isinstance(estimate, AccuracyEstimate)
    assert estimate.accuracy == pytest.approx(np.mean(rater == gold))
    assert estimate.low < estimate.accuracy < estimate.high
    assert estimate.high - estimate.low == pytest.approx(2 * 1.96 * np.sqrt(0.8 * 0.2 / 2000), rel=0.2)
    assert estimate.n_items == 2000
    assert human_level_performance(ratings, gold, rater=0, n_boot=500, seed=1) == estimate
    assert str(estimate).startswith(f"{estimate.accuracy:.3f} (95% CI ")


def test_human_level_performance_of_the_crowd_uses_its_majority_vote() -> None:
    ratings = [[0, 0, 1], [1, 1, 0], [0, 1, -1], [1, 1, 1], [-1, -1, -1]]
    gold = [0, 0, 1, 1, 0]

    crowd = human_level_performance(ratings, gold, n_boot=50)

    # right, wrong, a tie that holds the truth (1/2), right; item 4 has no rating
    assert crowd.accuracy == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert crowd.n_items == 4


@settings(max_examples=40, deadline=None)
@given(rating_matrices())
def test_human_level_performance_without_gold_pools_every_rating_against_the_others(
    case: tuple[np.ndarray, int],
) -> None:
    dense, k = case
    matrix = LabelMatrix.from_dense(dense, n_classes=k)
    per_rater = _brute_rater_accuracy(dense, None)
    counts = [sum(1 for i in range(len(dense)) if dense[i, r] >= 0 and (dense[i] >= 0).sum() > 1)
              for r in range(dense.shape[1])]
    if sum(counts) == 0:
        return
    pooled = sum(a * c for a, c in zip(per_rater, counts, strict=True) if c) / sum(counts)

    estimate = human_level_performance(matrix, n_boot=20)

    assert estimate.accuracy == pytest.approx(pooled, abs=TOL)
    assert estimate.low <= estimate.high


def test_human_level_performance_checks_its_arguments() -> None:
    ratings = [[0, 1], [1, 1]]

    with pytest.raises(ConfigError, match=r"`rater` must be a rater index in 0..1, got 5"):
        human_level_performance(ratings, rater=5)
    with pytest.raises(ConfigError, match=r"`n_boot` must be at least 1"):
        human_level_performance(ratings, n_boot=0)
    with pytest.raises(ConfigError, match=r"`confidence` must be between 0 and 1"):
        human_level_performance(ratings, confidence=95)
    with pytest.raises(ConfigError, match=r"`gold` needs one label per item \(2\), -1 where unknown; got 3"):
        human_level_performance(ratings, gold=[0, 1, 1])
    with pytest.raises(ConfigError, match=r"`gold` must hold -1 or classes 0..1; got values from 0 to 4"):
        human_level_performance(ratings, gold=[0, 4])
    with pytest.raises(ConfigError, match=r"no item has both a rating by rater 1 and gold labels"):
        human_level_performance(ratings, gold=[-1, -1], rater=1)
