"""Steps that split rows, fold rows, and the dropped examples a run keeps for reports."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datamill import Pipeline
from datamill.pipeline import Outcome, StepContext, Transform
from datamill.pipeline.ledger import EXAMPLES_PER_REASON, Ledger
from datamill.store import Workspace
from datamill.testing import make_batch, run_step
from datamill.track.runs import run_details
from tests.pipeline.conftest import write_pipeline


class Words(Transform):
    """One row per word; rows without words are dropped; rows saying 'bad' are quarantined."""

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        ids, words, parents = [], [], []
        for i, (rid, text) in enumerate(zip(batch["id"].to_pylist(), batch["text"].to_pylist(), strict=True)):
            for j, word in enumerate((text or "").split()):
                ids.append(f"{rid}#{j}")
                words.append(word)
                parents.append(i)
        children = pa.record_batch({"id": pa.array(ids, pa.string()), "text": pa.array(words, pa.string())})
        out = Outcome.split(batch, children, parents, empty_reason="no_words")
        return out.quarantine(pc.equal(batch["text"], "bad"), reason="bad_row", error="said bad")


WORDS_FILE = """
import pyarrow as pa

from datamill.pipeline import Outcome, Transform


class Words(Transform):
    def process(self, batch, ctx):
        ids, words, parents = [], [], []
        for i, (rid, text) in enumerate(zip(batch["id"].to_pylist(), batch["text"].to_pylist())):
            for j, word in enumerate((text or "").split()):
                ids.append(f"{rid}#{j}")
                words.append(word)
                parents.append(i)
        children = pa.record_batch({"id": pa.array(ids, pa.string()), "text": pa.array(words, pa.string())})
        return Outcome.split(batch, children, parents, empty_reason="no_words")
"""


def test_split_counts_created_rows_and_balances() -> None:
    batch = make_batch(text=["a b c", "", None, "bad", "d"])

    result = run_step(Words(), [batch])

    assert result.output["id"].to_pylist() == ["0#0", "0#1", "0#2", "4#0"]
    assert result.ledger.created == 2
    assert result.ledger.dropped == {"no_words": 2}
    assert result.ledger.quarantined == {"bad_row": 1}
    assert result.ledger.balanced
    assert [r["id"] for r in result.ledger.examples["no_words"]] == ["1", "2"]


def test_combine_counts_merged_rows_and_refuses_later_drops() -> None:
    batch = make_batch(n=[1, 2, 3])
    folded = pa.record_batch({"id": ["all"], "n": [6]})

    out = Outcome.combine(batch, folded)

    assert out.merged == 2 and out.kept.num_rows == 1
    with pytest.raises(ValueError, match="before combining"):
        out.drop(pa.array([True, False, False]), reason="x")
    with pytest.raises(ValueError, match="drop them"):
        Outcome.combine(batch, folded.slice(0, 0))


def test_split_rejects_parents_outside_the_batch() -> None:
    batch = make_batch(text=["a"])
    with pytest.raises(ValueError, match="outside"):
        Outcome.split(batch, pa.record_batch({"id": ["x"]}), [3], empty_reason="e")


def test_ledger_keeps_a_few_examples_per_reason_across_merges() -> None:
    left, right = Ledger(), Ledger()
    left.add_examples("short", [{"id": str(i)} for i in range(4)])
    right.add_examples("short", [{"id": str(i)} for i in range(4, 9)])

    merged = left.merge(right)

    assert len(merged.examples["short"]) == EXAMPLES_PER_REASON
    assert Ledger.from_dict(merged.to_dict()).examples == merged.examples


def test_a_run_records_split_counts_and_drop_examples(project: Path, ws: Workspace) -> None:
    (project / "words.py").write_text(WORDS_FILE)
    spec = {"name": "wr", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 2, "rows": 20}},
        {"id": "txt", "uses": "map.python", "input": "gen",
         "with": {"function": "./fns.py:as_text"}},
        {"id": "words", "uses": "./words.py:Words", "input": "txt"}], "outputs": {"w": "words"}}
    (project / "fns.py").write_text(
        "def as_text(row):\n    x = row['x']\n    return {'text': ' '.join(['w'] * (x % 3))}\n")

    result = Pipeline.from_yaml(write_pipeline(project, spec)).run(ws, workers=2)

    step = result.step("words")
    assert step.rows_in == 40
    assert step.created > 0 and step.rows_out == step.rows_in + step.created - step.dropped["no_words"]
    details = run_details(ws, result.run_id)
    recorded = next(s for s in details["steps"] if s["id"] == "words")
    assert recorded["created"] == step.created
    assert len(recorded["examples"]["no_words"]) == EXAMPLES_PER_REASON
    assert all(e["text"] == "" for e in recorded["examples"]["no_words"])
