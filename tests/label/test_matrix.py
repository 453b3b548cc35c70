from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError
from datamill.label import ABSTAIN, LabelMatrix, as_label_matrix
from tests.label.strategies import as_float, rating_matrices


def test_label_matrix_from_dense_keeps_votes_sorted_and_drops_abstains() -> None:
    votes = LabelMatrix.from_dense([[1, -1, 0], [-1, -1, -1], [2, 2, -1]])

    assert votes.items.tolist() == [0, 0, 2, 2]
    assert votes.sources.tolist() == [0, 2, 0, 1]
    assert votes.labels.tolist() == [1, 0, 2, 2]
    assert (votes.n_items, votes.n_sources, votes.n_classes, votes.n_votes) == (3, 3, 3, 4)
    assert votes.covered.tolist() == [True, False, True]
    assert votes.votes_per_item.tolist() == [2, 0, 2]


def test_label_matrix_reads_nan_as_abstain() -> None:
    votes = LabelMatrix.from_dense([[0.0, np.nan], [np.nan, 1.0]])

    assert votes.to_dense().tolist() == [[0, ABSTAIN], [ABSTAIN, 1]]


@settings(max_examples=80, deadline=None)
@given(rating_matrices(min_raters=1, max_items=30))
def test_label_matrix_dense_and_long_forms_round_trip(case: tuple[np.ndarray, int]) -> None:
    dense, k = case
    rng = np.random.default_rng(dense.size)
    items, sources = np.indices(dense.shape)
    order = rng.permutation(dense.size)  # the long form comes in any order, abstains included

    long = LabelMatrix.from_long(items.ravel()[order], sources.ravel()[order], dense.ravel()[order],
                                 n_items=dense.shape[0], n_sources=dense.shape[1], n_classes=k)
    wide = LabelMatrix.from_dense(dense, n_classes=k)

    assert long.to_dense().tolist() == dense.tolist()
    assert wide.to_dense().tolist() == dense.tolist()
    assert LabelMatrix.from_dense(as_float(dense), n_classes=k).to_dense().tolist() == dense.tolist()
    np.testing.assert_array_equal(long.items, wide.items)
    np.testing.assert_array_equal(long.labels, wide.labels)
    counts = long.class_counts()
    assert counts.tolist() == [[int((row == c).sum()) for c in range(k)] for row in dense]


def test_label_matrix_from_long_infers_the_shape_and_keeps_given_sizes() -> None:
    inferred = LabelMatrix.from_long([3, 1], [0, 2], [1, 0])
    assert (inferred.n_items, inferred.n_sources, inferred.n_classes) == (4, 3, 2)

    given_shape = LabelMatrix.from_long([3, 1], [0, 2], [1, 0], n_items=10, n_sources=5, n_classes=4,
                                        class_names=["a", "b", "c", "d"], source_names=list("vwxyz"))
    assert given_shape.to_dense().shape == (10, 5)
    assert given_shape.class_names == ("a", "b", "c", "d")
    assert repr(given_shape) == "LabelMatrix(n_items=10, n_sources=5, n_classes=4, n_votes=2)"


def test_label_matrix_takes_the_class_count_from_class_names() -> None:
    votes = LabelMatrix.from_dense([[0, 0]], class_names=["ham", "spam"])

    assert votes.n_classes == 2


def test_label_matrix_rejects_a_source_voting_twice_on_an_item() -> None:
    with pytest.raises(ConfigError, match=r"source 1 votes more than once on item 2 \(labels 0 and 1\)"):
        LabelMatrix.from_long([2, 0, 2], [1, 0, 1], [0, 1, 1])


def test_label_matrix_rejects_a_vote_outside_the_classes() -> None:
    with pytest.raises(ConfigError, match=r"a vote is 3, outside the classes 0..1; pass `n_classes=4`"):
        LabelMatrix.from_dense([[0, 3]], n_classes=2)
    with pytest.raises(ConfigError, match=r"got -2 at item 0, source 1"):
        LabelMatrix.from_dense([[0, -2]])


def test_label_matrix_rejects_non_integer_votes() -> None:
    with pytest.raises(ConfigError, match=r"non-integer 0.5"):
        LabelMatrix.from_dense([[0.5, 1.0]])
    with pytest.raises(ConfigError, match=r"booleans"):
        LabelMatrix.from_dense([[True, False]])
    with pytest.raises(ConfigError, match=r"dtype <U1"):
        LabelMatrix.from_dense([["a", "b"]])


def test_label_matrix_rejects_a_wrong_shape() -> None:
    with pytest.raises(ConfigError, match=r"2-D array \(items × sources\), got shape \(3,\)"):
        LabelMatrix.from_dense([0, 1, 0])
    with pytest.raises(ConfigError, match=r"got lengths 2, 1, 2"):
        LabelMatrix.from_long([0, 1], [0], [1, 1])
    with pytest.raises(ConfigError, match=r"`n_items` is 2 but `items` holds index 4; pass `n_items=5`"):
        LabelMatrix.from_long([4], [0], [1], n_items=2)


def test_label_matrix_rejects_names_that_do_not_fit() -> None:
    with pytest.raises(ConfigError, match=r"`n_classes` is 3 but `class_names` names 2 classes"):
        LabelMatrix.from_dense([[0]], n_classes=3, class_names=["a", "b"])
    with pytest.raises(ConfigError, match=r"`source_names` has 1 names for 2 sources"):
        LabelMatrix.from_dense([[0, 1]], source_names=["only"])


def test_label_matrix_constructor_checks_the_stored_form() -> None:
    arrays = {"items": np.array([1, 0], np.int32), "sources": np.array([0, 0], np.int32),
              "labels": np.array([0, 1], np.int32)}

    with pytest.raises(ConfigError, match=r"sorted by \(item, source\).*`LabelMatrix.from_long` sorts them"):
        LabelMatrix(**arrays, n_items=2, n_sources=1, n_classes=2)
    with pytest.raises(ConfigError, match=r"`labels` must lie in 0..0"):
        LabelMatrix(items=np.array([0], np.int32), sources=np.array([0], np.int32), labels=np.array([1], np.int32),
                    n_items=1, n_sources=1, n_classes=1)


def test_label_matrix_of_nothing_is_empty_not_an_error() -> None:
    votes = LabelMatrix.from_long([], [], [], n_items=3, n_sources=2, n_classes=2)

    assert votes.n_votes == 0
    assert votes.to_dense().tolist() == [[-1, -1]] * 3
    assert LabelMatrix.from_dense(np.zeros((0, 4), np.int64)).n_classes == 0


@given(st.integers(1, 300))
@settings(max_examples=5, deadline=None)
def test_label_matrix_to_dense_uses_the_smallest_integer_type(k: int) -> None:
    votes = LabelMatrix.from_dense([[k - 1]])

    assert np.iinfo(votes.to_dense().dtype).max >= k
    assert votes.to_dense(np.int64).dtype == np.int64


def test_as_label_matrix_passes_a_matrix_through_and_checks_classes() -> None:
    votes = LabelMatrix.from_dense([[0, 1]])

    assert as_label_matrix(votes) is votes
    with pytest.raises(ConfigError, match=r"`n_classes` is 3 but the label matrix has 2 classes"):
        as_label_matrix(votes, n_classes=3)
