"""Label-error finding: flipped labels are found, labels of every kind, clear errors, the step's ledger."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, SchemaError
from datamill.label.errors import (
    ISSUE,
    ISSUE_RANK,
    QUALITY,
    SUGGESTED,
    LabelErrorsStep,
    find_label_errors,
    gold_report,
    issue_precision_recall,
    read_summary,
    review_queue,
)
from datamill.testing import run_step

SPAM_WORDS = ["free", "money", "cash", "prize", "click", "subscribe", "channel", "win", "offer", "link"]
HAM_WORDS = ["song", "voice", "love", "beautiful", "music", "dance", "video", "best", "lyrics", "memories"]
SHARED = ["the", "this", "is", "a", "so", "my", "and", "really"]


def synthetic_text(n: int = 240, noise: float = 0.1, seed: int = 7) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Comments of two vocabularies, labels with ``noise`` of them flipped; returns the table, the
    true labels and the flipped mask."""
    rng = np.random.default_rng(seed)
    truth = np.array([i % 2 for i in range(n)])
    texts = []
    for label in truth:
        own = SPAM_WORDS if label else HAM_WORDS
        words = list(rng.choice(own, size=4)) + list(rng.choice(SHARED, size=3))
        rng.shuffle(words)
        texts.append(" ".join(words))
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=int(noise * n), replace=False)] = True
    given = np.where(flipped, 1 - truth, truth)
    names = np.array(["ham", "spam"])
    table = pa.table({"id": [f"c{i}" for i in range(n)], "text": texts, "label": names[given].tolist(),
                      "gold": names[truth].tolist()})
    return table, truth, flipped


def flagged_mask(found: object, n: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[found.position[found.is_issue]] = True  # type: ignore[attr-defined]
    return mask


def test_finds_most_flipped_text_labels() -> None:
    table, _, flipped = synthetic_text()

    found = find_label_errors(table, label_column="label", text_column="text", seed=0)

    score = issue_precision_recall(flagged_mask(found, table.num_rows), flipped)
    assert score["recall"] >= 0.7 and score["precision"] >= 0.5, score
    queue = found.to_table()
    assert queue.column_names[:6] == ["id", "given_label", "suggested_label", "label_quality", "is_issue", "rank"]
    assert queue["rank"].to_pylist() == list(range(1, table.num_rows + 1))
    assert queue["is_issue"].to_pylist() == sorted(queue["is_issue"].to_pylist(), reverse=True)  # issues first
    issues = found.to_table(issues_only=True)
    assert issues.num_rows == found.n_issues
    assert issues["label_quality"].to_pylist() == sorted(issues["label_quality"].to_pylist())
    assert set(issues["id"].to_pylist()) <= {f"c{i}" for i in range(table.num_rows)}
    assert (np.asarray(issues["given_label"].to_pylist()) != np.asarray(issues["suggested_label"].to_pylist())).all()
    summary = found.summary()
    assert summary["labelled"] == table.num_rows and summary["issues"] == found.n_issues
    assert [c["class"] for c in summary["classes"]] == ["ham", "spam"]
    assert 0.03 < summary["estimated_noise_rate"] < 0.3
    assert np.isclose(sum(map(sum, summary["joint"]["p"])), 1.0)
    json.dumps(summary, allow_nan=False)


def test_same_seed_same_result_and_integer_labels() -> None:
    table, _, _ = synthetic_text(n=120)
    ints = table.set_column(2, "label", pa.array([1 if v == "spam" else 0 for v in table["label"].to_pylist()]))

    a = find_label_errors(ints, label_column="label", text_column="text", folds=3, seed=1)
    b = find_label_errors(ints, label_column="label", text_column="text", folds=3, seed=1)

    assert a.classes.to_pylist() == [0, 1] and a.to_table()["given_label"].type == pa.int64()
    assert np.array_equal(a.quality, b.quality) and np.array_equal(a.is_issue, b.is_issue)


def test_tabular_features_with_categories_find_flips() -> None:
    rng = np.random.default_rng(3)
    n = 300
    x = rng.normal(size=n)
    colour = rng.choice(["red", "green", "blue"], size=n)
    truth = ((x > 0) ^ (colour == "blue")).astype(int)
    flipped = np.zeros(n, dtype=bool)
    flipped[rng.choice(n, size=24, replace=False)] = True
    given = np.where(flipped, 1 - truth, truth)
    table = pa.table({"x": x, "colour": colour, "noise": rng.normal(size=n), "y": given})

    found = find_label_errors(table, label_column="y", feature_columns=["x", "colour", "noise"], seed=0)

    score = issue_precision_recall(flagged_mask(found, n), flipped)
    assert score["recall"] >= 0.6 and score["precision"] >= 0.4, score
    assert found.summary()["model"] == "HistGradientBoostingClassifier"
    assert found.to_table().column("id").to_pylist()[:1] != [None]  # no id column: the row position


def test_text_and_features_together_and_a_model_of_ones_own() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.pipeline import make_pipeline

    table, _, flipped = synthetic_text(n=160)
    table = table.append_column("length", pa.array([len(t) for t in table["text"].to_pylist()]))

    mixed = find_label_errors(table, label_column="label", text_column="text", feature_columns=["length"])
    own = find_label_errors(table, label_column="label", text_column="text",
                            model=make_pipeline(TfidfVectorizer(), MultinomialNB()))

    assert mixed.summary()["model"].startswith("ColumnTransformer")
    assert own.summary()["model"] == "TfidfVectorizer → MultinomialNB"
    for found in (mixed, own):
        assert issue_precision_recall(flagged_mask(found, table.num_rows), flipped)["recall"] >= 0.6


def test_given_pred_probs_skip_the_model() -> None:
    labels = pa.array(["a", "a", "b", "b", "a", None])
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.8, 0.2], [0.5, 0.5]])

    found = find_label_errors(pa.table({"y": labels}), label_column="y", pred_probs=probs)

    assert found.missing_label == 1 and len(found) == 5
    assert found.to_table(issues_only=True)["id"].to_pylist() == [1]
    with pytest.raises(ConfigError, match="pred_probs has shape"):
        find_label_errors(pa.table({"y": labels}), label_column="y", pred_probs=probs[:, :1])


def test_missing_labels_are_left_out_and_counted() -> None:
    table, _, _ = synthetic_text(n=100)
    labels = table["label"].to_pylist()
    labels[0], labels[1], labels[2] = None, "", "  "
    table = table.set_column(2, "label", pa.array(labels))

    found = find_label_errors(table, label_column="label", text_column="text", folds=3)

    assert found.missing_label == 3 and len(found) == 97 and found.items == 100
    assert found.summary()["missing_label"] == 3
    assert not {"c0", "c1", "c2"} & set(found.to_table()["id"].to_pylist())
    floats = pa.table({"text": table["text"], "y": [np.nan if i % 10 == 0 else float(i % 2) for i in range(100)]})
    with_nan = find_label_errors(floats, label_column="y", text_column="text", folds=3)
    assert with_nan.missing_label == 10 and with_nan.classes.to_pylist() == [0, 1]


def test_a_class_smaller_than_the_folds_is_a_clear_error() -> None:
    table = pa.table({"text": ["a b", "c d", "e f", "g h", "i j", "k l", "m n"],
                      "y": ["x", "x", "x", "x", "x", "rare", "rare"]})

    with pytest.raises(ConfigError, match=r"'rare' \(2\).*fewer labelled items than folds=5.*Lower folds"):
        find_label_errors(table, label_column="y", text_column="text")
    with pytest.raises(ConfigError, match="at least two classes"):
        find_label_errors(table.slice(0, 5), label_column="y", text_column="text")
    with pytest.raises(ConfigError, match="text_column, feature_columns"):
        find_label_errors(table, label_column="y")
    with pytest.raises(SchemaError, match="no column 'body'"):
        find_label_errors(table, label_column="y", text_column="body")
    with pytest.raises(SchemaError, match="fractional"):
        find_label_errors(pa.table({"t": ["a", "b"], "y": [0.5, 1.0]}), label_column="y", text_column="t")


def test_empty_input_gives_an_empty_result() -> None:
    empty = pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string()),
                      "label": pa.array([], pa.string())})

    found = find_label_errors(empty, label_column="label", text_column="text")

    assert len(found) == 0 and found.to_table().num_rows == 0
    assert found.summary()["items"] == 0 and found.summary()["issues"] == 0
    unlabelled = pa.table({"text": ["a", "b"], "label": pa.array([None, None], pa.string())})
    assert find_label_errors(unlabelled, label_column="label", text_column="text").missing_label == 2


def test_step_adds_columns_and_the_ledger_balances_over_shards() -> None:
    table, _, flipped = synthetic_text(n=200)
    labels = table["label"].to_pylist()
    labels[5] = None
    table = table.set_column(2, "label", pa.array(labels))
    batches = table.to_batches(max_chunksize=50)
    step = LabelErrorsStep(label_column="label", text_column="text", seed=0)

    result = run_step(step, partitions=[batches[:2], batches[2:]])

    assert result.ledger.balanced and result.ledger.rows_in == result.ledger.rows_out == 200
    out = result.output
    assert out.column_names == [*table.column_names, QUALITY, ISSUE, SUGGESTED, ISSUE_RANK]
    assert out[QUALITY][5].as_py() is None and out[ISSUE][5].as_py() is None
    assert result.metrics["missing_label"] == 1 and result.metrics["labelled"] == 199
    issues = out.filter(out[ISSUE])
    assert sorted(issues[ISSUE_RANK].to_pylist()) == list(range(1, issues.num_rows + 1))
    assert result.metrics["issues"] == issues.num_rows
    assert issue_precision_recall(out[ISSUE].fill_null(False).to_numpy(zero_copy_only=False), flipped)["recall"] >= 0.7
    summary = read_summary(out.schema)
    assert summary["issues"] == issues.num_rows and summary["missing_label"] == 1
    queue = review_queue(out, label_column="label", columns=["text"], top=3)
    assert [q["issue_rank"] for q in queue] == [1, 2, 3] and set(queue[0]) >= {"id", "given_label", "text"}
    gold = gold_report(out, label_column="label", gold_column="gold")
    assert gold["gold_items"] == 199 and gold["recall"] >= 0.7

    alone = run_step(step, batches)
    assert alone.output.equals(out)  # one shard or two: the same rows get the same verdicts


def test_step_only_issues_drops_the_rest_by_reason() -> None:
    table, _, _ = synthetic_text(n=120)
    labels = table["label"].to_pylist()
    labels[0] = None
    table = table.set_column(2, "label", pa.array(labels))

    result = run_step(LabelErrorsStep(label_column="label", text_column="text", folds=3, only_issues=True),
                      table.to_batches(max_chunksize=40))

    ledger = result.ledger
    assert ledger.balanced and ledger.dropped["missing_label"] == 1
    assert ledger.rows_out == result.output.num_rows == 120 - 1 - ledger.dropped["not_an_issue"] > 0
    assert all(result.output[ISSUE].to_pylist())


def test_step_needs_unique_ids_and_its_columns() -> None:
    table, _, _ = synthetic_text(n=40)
    twice = pa.concat_tables([table, table])

    with pytest.raises(SchemaError, match="not unique"):
        run_step(LabelErrorsStep(label_column="label", text_column="text", folds=2), twice.to_batches())
    with pytest.raises(SchemaError, match="no column 'body'"):
        run_step(LabelErrorsStep(label_column="label", text_column="body", folds=2), table.to_batches())
    with pytest.raises(ConfigError, match="text_column or feature_columns"):
        LabelErrorsStep(label_column="label")


def test_step_on_empty_input() -> None:
    empty = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string()),
                             "label": pa.array([], pa.string())})

    result = run_step(LabelErrorsStep(label_column="label", text_column="text"), [empty])

    assert result.ledger.balanced and result.output.num_rows == 0
    assert read_summary(result.output.schema)["items"] == 0
