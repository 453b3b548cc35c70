"""LF analysis: Snorkel's lf_summary columns, correlations and the JSON report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings

from datamill.core.errors import ConfigError
from datamill.label import LabelMatrix, lf_correlations, lf_report, lf_summary
from tests.label.strategies import rating_matrices


def _brute_force(dense: np.ndarray, gold: np.ndarray | None) -> list[dict[str, object]]:
    """Snorkel's definitions, item by item."""
    n, m = dense.shape
    rows = []
    for j in range(m):
        fired = dense[:, j] >= 0
        others = [(dense[i] >= 0).sum() - 1 for i in range(n)]
        conflict = [fired[i] and any(v >= 0 and v != dense[i, j] for v in dense[i]) for i in range(n)]
        row: dict[str, object] = {"coverage": fired.mean(), "overlaps": np.mean([fired[i] and others[i] > 0
                                                                                  for i in range(n)]),
                                  "conflicts": np.mean(conflict)}
        if gold is not None:
            seen = fired & (gold >= 0)
            row["correct"] = int((seen & (dense[:, j] == gold)).sum())
            row["incorrect"] = int((seen & (dense[:, j] != gold)).sum())
        rows.append(row)
    return rows


@settings(max_examples=60, deadline=None)
@given(rating_matrices(max_raters=6, max_items=30))
def test_lf_summary_matches_the_definitions_item_by_item(case: tuple[np.ndarray, int]) -> None:
    dense, k = case
    gold = np.random.default_rng(len(dense)).integers(-1, k, size=len(dense))

    table = lf_summary(LabelMatrix.from_dense(dense, n_classes=k), gold=gold).to_pylist()

    for got, want in zip(table, _brute_force(dense, gold), strict=True):
        for key, value in want.items():
            assert got[key] == pytest.approx(value)


def test_lf_summary_names_polarity_and_leaves_accuracy_null_without_gold() -> None:
    votes = LabelMatrix.from_dense([[1, -1], [1, 0], [-1, -1]], class_names=["ham", "spam"],
                                   source_names=["link", "short"])

    rows = lf_summary(votes).to_pylist()

    assert [r["lf"] for r in rows] == ["link", "short"]
    assert [r["polarity"] for r in rows] == [["spam"], ["ham"]]
    assert rows[0]["accuracy"] is None and rows[0]["votes"] == 2


def test_lf_summary_rejects_gold_of_the_wrong_length() -> None:
    with pytest.raises(ConfigError, match="`gold` has 2 labels for 3 items"):
        lf_summary([[0], [1], [0]], gold=[0, 1])


def test_lf_correlations_equal_numpy_on_one_hot_votes() -> None:
    dense = np.random.default_rng(0).integers(-1, 3, size=(200, 5))
    one_hot = np.stack([np.concatenate([(dense[:, j] == c) for c in range(3)]) for j in range(5)]).astype(float)
    # numpy flattens class-major, datamill item-major: the same cells, so the same correlation

    assert np.allclose(lf_correlations(LabelMatrix.from_dense(dense, n_classes=3)), np.corrcoef(one_hot))


def test_lf_correlations_of_a_copy_is_one_and_of_a_silent_lf_nan() -> None:
    corr = lf_correlations(LabelMatrix.from_dense([[1, 1, -1], [0, 0, -1], [-1, -1, -1]], n_classes=2))

    assert corr[0, 1] == pytest.approx(1.0)
    assert np.isnan(corr[2, 0])


def test_lf_report_is_json_and_sums_up_the_matrix() -> None:
    report = lf_report(LabelMatrix.from_dense([[1, 1], [1, 0], [-1, -1], [0, -1]], n_classes=2), gold=[1, 0, 0, -1])

    assert json.loads(json.dumps(report))["items"] == 4
    assert (report["coverage"], report["overlap"], report["conflict"]) == (0.75, 0.5, 0.25)
    assert report["gold_items"] == 3 and report["lfs"][0]["accuracy"] == 0.5
    assert report["correlation"][0][0] == pytest.approx(1.0)


def test_lf_report_of_an_empty_matrix() -> None:
    report = lf_report(LabelMatrix.from_dense(np.zeros((0, 2), int), n_classes=2))

    assert report["items"] == 0 and report["coverage"] == 0.0
    assert [r["coverage"] for r in report["lfs"]] == [0.0, 0.0]
