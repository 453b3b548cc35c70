"""The label model: correctness of the EM, pattern histograms, dependencies, the step."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, SchemaError
from datamill.label import LabelMatrix, LabelModel, VoteCounts, label_model, majority_vote, simulate_raters
from datamill.label.steps import LabelAggregate
from datamill.testing import run_step


def _unipolar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """LFs that vote one class each and abstain otherwise, with class-dependent firing rates."""
    rng = np.random.default_rng(seed)
    truth = (rng.random(n) < 0.3).astype(int)  # 30% class 1
    # (class voted, P(fire | truth 0), P(fire | truth 1))
    lfs = [(1, 0.02, 0.5), (1, 0.05, 0.4), (1, 0.1, 0.6), (0, 0.5, 0.05), (0, 0.3, 0.1), (0, 0.4, 0.2)]
    dense = np.full((n, len(lfs)), -1)
    for j, (c, p0, p1) in enumerate(lfs):
        fire = rng.random(n) < np.where(truth == 1, p1, p0)
        dense[fire, j] = c
    return dense, truth


@pytest.mark.parametrize("estimator", ["moments", "em"])
def test_label_model_beats_majority_vote_on_unipolar_lfs(estimator: str) -> None:
    dense, truth = _unipolar(20_000)

    result = label_model(LabelMatrix.from_dense(dense, n_classes=2), estimator=estimator)  # type: ignore[arg-type]
    mv = majority_vote(dense, tie_break="random")

    seen = result.covered
    ours = np.mean(result.labels[seen] == truth[seen])
    theirs = np.mean(mv.labels[seen] == truth[seen])
    assert ours > theirs + 0.005
    assert result.converged and result.method == "label_model"


def test_label_model_em_learns_the_balance_and_the_firing_rates() -> None:
    dense, _ = _unipolar(20_000)

    result = label_model(LabelMatrix.from_dense(dense, n_classes=2), estimator="em")

    assert result.class_priors[1] == pytest.approx(0.3, abs=0.02)
    assert result.conditionals[0, 1, 2] == pytest.approx(0.5, abs=0.03)  # LF 0 fires on half of class 1
    assert result.converged


def test_label_model_moments_ignores_abstains_and_em_does_not() -> None:
    dense, _ = _unipolar(5_000)
    nobody = [[-1] * 6]
    one_spam_lf = [[1, -1, -1, -1, -1, -1]]

    moments, em = LabelModel.fit(dense), LabelModel.fit(dense, estimator="em")

    assert moments.estimator == "moments" and not moments.abstains_informative
    # with every LF silent, the moments posterior is the class balance; EM reads the silence
    assert np.allclose(moments.predict_proba(nobody)[0], moments.class_priors)
    assert not np.allclose(em.predict_proba(nobody)[0], em.class_priors)
    # a spam LF's vote is evidence for spam under both
    assert moments.predict_proba(one_spam_lf)[0, 1] > moments.class_priors[1]
    assert em.predict_proba(one_spam_lf)[0, 1] > em.predict_proba(nobody)[0, 1]


def test_label_model_moments_fit_matches_snorkels_objective_at_its_optimum() -> None:
    # with the balance fixed and no pull (l2=0) the fitted rates reproduce the co-voting rates
    # of every pair of LFs, which is what Snorkel's LabelModel fits
    dense, _ = _unipolar(50_000, seed=4)
    model = LabelModel.fit(dense, class_balance=[0.7, 0.3], l2=0.0, merge_overlap=None)
    onehot = np.stack([dense[:, s] == c for s in range(6) for c in (0, 1)], axis=1).astype(float)
    observed = onehot.T @ onehot / len(dense)
    rates = model.conditionals()[:, :, 1:]  # sources × truth × class voted
    mu = rates.transpose(0, 2, 1).reshape(12, 2)  # (source, class voted) × truth
    fitted = (mu * model.class_priors) @ mu.T
    off_block = np.kron(1 - np.eye(6), np.ones((2, 2))).astype(bool)
    assert np.abs(fitted - observed)[off_block].max() < 0.005


def test_label_model_recovers_simulated_raters() -> None:
    votes, truth = simulate_raters(10_000, [0.9, 0.8, 0.7, 0.65], coverage=0.6, n_classes=3, seed=2)

    result = label_model(votes)

    seen = result.covered
    assert np.mean(result.labels[seen] == truth[seen]) > np.mean(
        majority_vote(votes, tie_break="random").labels[seen] == truth[seen])
    assert np.allclose(result.probs.sum(axis=1), 1.0)
    assert (result.labels[~seen] == -1).all() and (result.confidence[~seen] == 0).all()


def test_label_model_joins_copies_of_a_source_so_they_count_once() -> None:
    dense, truth = _unipolar(5_000, seed=1)
    copied = np.concatenate([dense, dense[:, [5, 5]]], axis=1)  # the weakest LF, twice more

    joined = label_model(copied)
    independent = label_model(copied, merge_overlap=None)

    assert (5, 6, 7) in joined.groups
    acc = [np.mean(r.labels[r.covered] == truth[r.covered]) for r in (joined, independent)]
    assert acc[0] > acc[1]


def test_label_model_fit_on_counts_equals_fit_on_rows() -> None:
    dense, _ = _unipolar(3_000, seed=3)
    halves = VoteCounts.of(dense[:1000], n_classes=2).merge(VoteCounts.of(dense[1000:], n_classes=2))

    whole = LabelModel.fit(dense)
    merged = LabelModel.fit_counts(halves)

    assert halves.n_items == 3000
    assert np.allclose(whole.predict_proba(dense), merged.predict_proba(dense))


@pytest.mark.parametrize("estimator", ["moments", "em"])
def test_label_model_round_trips_through_a_dict(estimator: str) -> None:
    dense, _ = _unipolar(1000)
    model = LabelModel.fit(dense, class_balance=[0.5, 0.5], estimator=estimator)  # type: ignore[arg-type]

    again = LabelModel.from_dict(model.to_dict())

    assert np.allclose(again.predict_proba(dense), model.predict_proba(dense))
    assert model.class_priors.tolist() == [0.5, 0.5] and again.estimator == estimator


def test_label_model_clear_errors() -> None:
    with pytest.raises(ConfigError, match="at least 2 classes"):
        label_model([[0, 0], [0, -1]])
    with pytest.raises(ConfigError, match="`class_balance` needs 2 positive shares"):
        label_model([[0, 1], [1, -1]], class_balance=[1.0])
    with pytest.raises(ConfigError, match="from 3 sources; the model was fitted on 2"):
        LabelModel.fit([[0, 1], [1, -1]]).predict([[0, 1, 1]])
    with pytest.raises(ConfigError, match="`estimator` must be 'moments' or 'em'"):
        label_model([[0, 1], [1, -1]], estimator="snorkel")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="`l2` must be a weight >= 0"):
        label_model([[0, 1], [1, -1]], l2=-1.0)
    with pytest.raises(ConfigError, match="more than 64 can be estimated"):
        label_model(np.zeros((5, 5), int) + np.array([0, 1, 0, 1, 0]), dependencies=[[0, 1, 2, 3, 4]])


def test_label_model_with_no_votes_at_all() -> None:
    result = label_model(LabelMatrix.from_dense(np.full((3, 2), -1), n_classes=2))

    assert result.labels.tolist() == [-1, -1, -1]
    assert np.allclose(result.probs, 0.5)


def _votes_batch(dense: np.ndarray, gold: np.ndarray, start: int = 0) -> pa.RecordBatch:
    values = pa.array(dense.reshape(-1).astype(np.int8), pa.int8())
    field = pa.field("votes", pa.list_(pa.int8(), dense.shape[1]),
                     metadata={"datamill.lf_names": '["a", "b", "c", "d", "e", "f"]',
                               "datamill.label_classes": '["ham", "spam"]'})
    return pa.record_batch([pa.array([str(i) for i in range(start, start + len(dense))]),
                            pa.FixedSizeListArray.from_arrays(values, dense.shape[1]), pa.array(gold)],
                           schema=pa.schema([pa.field("id", pa.string()), field, pa.field("label", pa.int64())]))


@pytest.mark.parametrize("method", ["mv", "ds", "model"])
def test_label_aggregate_step_labels_rows_and_counts_gold(method: str) -> None:
    dense, truth = _unipolar(4_000, seed=5)
    parts = [[_votes_batch(dense[:1500], truth[:1500])], [_votes_batch(dense[1500:], truth[1500:], 1500)]]

    result = run_step(LabelAggregate(method=method, gold_column="label"), partitions=parts)

    covered = (dense >= 0).any(axis=1)
    assert result.ledger.dropped == {"uncovered": int((~covered).sum())}
    assert result.ledger.balanced
    out = result.output
    assert out.num_rows == covered.sum()
    assert out.schema.field("weak_label").type == pa.int8()
    assert out.schema.field("weak_label_probs").type == pa.list_(pa.float32(), 2)
    assert result.metrics["gold_items"] == 4000 and result.metrics["gold_covered"] == covered.sum()
    if method == "model":
        labels = np.array(out["weak_label"].to_pylist())
        direct = label_model(dense).labels[covered]
        assert (labels == direct).all()


def test_label_aggregate_keeps_uncovered_rows_with_a_null_label() -> None:
    dense = np.array([[1, -1, -1, -1, -1, -1], [-1] * 6, [-1, -1, -1, 0, -1, -1]])

    result = run_step(LabelAggregate(method="mv", keep_uncovered=True), [_votes_batch(dense, np.array([1, 0, 0]))])

    assert result.output["weak_label"].to_pylist() == [1, None, 0]
    assert result.output["weak_label_confidence"].to_pylist() == [1.0, None, 1.0]


def test_label_aggregate_on_empty_input_and_missing_votes() -> None:
    empty = _votes_batch(np.zeros((0, 6), int), np.zeros(0, int))

    result = run_step(LabelAggregate(), [empty])

    assert result.output.num_rows == 0 and result.ledger.balanced
    with pytest.raises(SchemaError, match="no votes column `votes`"):
        run_step(LabelAggregate(), [pa.record_batch({"id": ["a"], "text": ["x"]})])
