from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datamill import ConfigError, Pipeline, StepContext
from datamill.core.errors import NotFoundError, PipelineError, SchemaError
from datamill.dedup.decontaminate import Decontaminate, contamination_report
from datamill.pipeline import resolve_step
from datamill.store import Workspace
from datamill.testing import make_batch, run_step
from tests.dedup.common import corpus_rows, docs_example

# 13 words, none of them in the books' usual phrasing.
PLANTED = "which quantum harbour lighthouse keeper invented the violet telescope during nineteen twelve exactly"
QUESTION = f"Q: {PLANTED}? A: nobody knows."


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _plant(text: str, words: str) -> str:
    """``words`` inserted in the middle of ``text``, between two sentences of the book."""
    middle = text.find(". ", len(text) // 2)
    return f"{text[: middle + 2]}{words} {text[middle + 2 :]}"


def _training(n: int = 40) -> tuple[pa.RecordBatch, list[str]]:
    docs = corpus_rows(n, offset=500)
    texts = [d["text"] for d in docs]
    texts[3] = _plant(texts[3], PLANTED)
    texts[17] = _plant(texts[17], " ".join(PLANTED.split()[:12]))  # 12 words only: not a leak
    texts[25] = _plant(texts[25], PLANTED.upper().replace(" ", ", "))  # case and punctuation do not hide it
    ids = [d["id"] for d in docs]
    return make_batch(id=ids, text=texts), ids


def _flagged(table: pa.Table) -> pa.Table:
    return table.filter(pc.greater(pc.list_value_length(table["contaminated_by"]), 0))


def test_decontaminate_is_the_registered_dedup_decontaminate_step() -> None:
    assert resolve_step("dedup.decontaminate") is Decontaminate


def test_decontaminate_drops_documents_sharing_a_13_gram_with_an_eval_file(tmp_path: Path) -> None:
    evals = _jsonl(tmp_path / "quiz.jsonl", [{"text": QUESTION}, {"text": "Capital of France?"}])
    batch, ids = _training()

    result = run_step(Decontaminate(eval=[str(evals)]), [batch])

    assert sorted(set(ids) - set(result.output["id"].to_pylist())) == sorted([ids[3], ids[25]])
    assert result.ledger.dropped == {"contaminated": 2}
    assert result.ledger.balanced
    assert result.metrics[f"leaked:{evals}"] == 2
    assert result.metrics["contaminated"] == 2
    assert result.metrics["eval_items"] == 2 and result.metrics["eval_items_too_short"] == 1
    assert result.ledger.examples["contaminated"][0]["id"] == ids[3]


def test_decontaminate_does_not_flag_12_shared_words(tmp_path: Path) -> None:
    batch, ids = _training()  # document 17 holds only the first 12 of the 13 words
    evals = _jsonl(tmp_path / "q.jsonl", [{"text": QUESTION}])

    result = run_step(Decontaminate(eval=[str(evals)], mode="flag"), [batch])

    assert sorted(_flagged(result.output)["id"].to_pylist()) == sorted([ids[3], ids[25]])
    twelve = run_step(Decontaminate(eval=[str(evals)], ngram=12, mode="flag"), [batch])
    assert ids[17] in _flagged(twelve.output)["id"].to_pylist()


def test_decontaminate_flag_mode_adds_sets_and_counts_and_keeps_every_row(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", [{"question": QUESTION, "answer": "no"}])
    b = _jsonl(tmp_path / "b.jsonl", [{"question": PLANTED, "answer": "shared with set a"}])
    batch, ids = _training()

    result = run_step(
        Decontaminate(eval=[str(a), str(b)], eval_text_columns=["question", "answer"], mode="flag"), [batch]
    )

    assert result.output.num_rows == batch.num_rows and result.ledger.dropped == {}
    rows = {r["id"]: r for r in result.output.to_pylist()}
    assert rows[ids[3]]["contaminated_by"] == [str(a), str(b)]
    assert rows[ids[3]]["contaminated_ngrams"] == 1
    assert rows[ids[0]]["contaminated_by"] == [] and rows[ids[0]]["contaminated_ngrams"] == 0
    assert result.output.schema.field("contaminated_by").type == pa.list_(pa.string())
    assert result.metrics[f"leaked:{a}"] == 2 and result.metrics[f"leaked:{b}"] == 2
    assert result.metrics["eval_items_too_short"] == 2  # "no" and "shared with set a"


def test_decontaminate_min_matches_counts_distinct_shared_ngrams(tmp_path: Path) -> None:
    evals = _jsonl(tmp_path / "e.jsonl", [{"text": PLANTED + " and then some more words follow here"}])
    longer = PLANTED + " and then some"  # 16 words: four shared 13-grams
    batch = make_batch(id=["one", "four"], text=[f"Start. {PLANTED}. End.", f"Start. {longer}. End."])

    two = run_step(Decontaminate(eval=[str(evals)], min_matches=2, mode="flag"), [batch])

    assert two.output["contaminated_by"].to_pylist() == [[], [str(evals)]]
    assert two.output["contaminated_ngrams"].to_pylist() == [1, 4]


def test_decontaminate_matches_short_items_whole_and_ignores_shorter_ones(tmp_path: Path) -> None:
    evals = _jsonl(
        tmp_path / "short.jsonl",
        [
            {"text": "the violet telescope of the old harbour keeper"},  # 8 words: matched whole
            {"text": "nineteen twelve"},  # 2 words: ignored
            {"text": "a lighthouse keeper who never slept at all in his life"},  # 11 words
        ],
    )
    batch = make_batch(
        id=["whole8", "part", "whole11", "word"],
        text=[
            "They found The Violet Telescope of the old harbour keeper, rusted.",
            "They found the violet telescope of the old harbour.",  # 7 of the 8 words
            "There lived a lighthouse keeper who never slept at all in his life, they say.",
            "It happened in nineteen twelve.",
        ],
    )

    result = run_step(Decontaminate(eval=[str(evals)], mode="flag"), [batch])

    flagged = dict(zip(result.output["id"].to_pylist(), result.output["contaminated_by"].to_pylist(), strict=True))
    assert {k for k, v in flagged.items() if v} == {"whole8", "whole11"}
    assert result.metrics["eval_items_too_short"] == 1
    stricter = run_step(Decontaminate(eval=[str(evals)], min_ngram=9, mode="flag"), [batch])
    assert stricter.metrics["contaminated"] == 1 and stricter.metrics["eval_items_too_short"] == 2


def test_decontaminate_handles_empty_null_invalid_utf8_and_huge_input(tmp_path: Path) -> None:
    evals = str(_jsonl(tmp_path / "q.jsonl", [{"text": QUESTION}]))
    empty = make_batch(id=pa.array([], pa.string()), text=pa.array([], pa.string()))
    for mode in ("drop", "flag"):
        result = run_step(Decontaminate(eval=[evals], mode=mode), [empty])
        assert result.output.num_rows == 0 and result.ledger.balanced
    assert run_step(Decontaminate(eval=[evals]), []).ledger.balanced

    raw = [b"\xff " + PLANTED.encode(), b"ok \xfe", b""]
    offsets = pa.array([0, len(raw[0]), len(raw[0]) + len(raw[1]), len(raw[0]) + len(raw[1])], pa.int32())
    bad = pa.Array.from_buffers(pa.string(), 3, [None, offsets.buffers()[1], pa.py_buffer(b"".join(raw))])
    batch = pa.record_batch({"id": ["bad", "ok", "empty"], "text": bad})
    nulls = make_batch(id=["n"], text=pa.array([None], pa.string()))
    result = run_step(Decontaminate(eval=[evals]), [batch, nulls])
    assert result.output["id"].to_pylist() == ["ok", "empty", "n"]
    assert result.ledger.dropped == {"contaminated": 1} and result.ledger.balanced

    book = "".join(row["text"] + "\n" for row in corpus_rows(400))
    huge = (book * (5_000_000 // len(book) + 1))[:5_000_000]
    big = make_batch(id=["big", "leaky"], text=[huge, _plant(huge, PLANTED)])
    result = run_step(Decontaminate(eval=[evals], mode="flag"), [big])
    assert result.output["contaminated_by"].to_pylist() == [[], [evals]]


def test_decontaminate_rejects_bad_configs() -> None:
    with pytest.raises(ConfigError, match=r"`min_ngram` \(14\) must not be more than `ngram` \(13\)"):
        Decontaminate(eval=["x"], min_ngram=14)
    with pytest.raises(ConfigError, match=r"`eval`.*'a'.*more than once"):
        Decontaminate(eval=["a", "a"])
    with pytest.raises(ConfigError, match=r"`eval`"):
        Decontaminate(eval=[])


def test_decontaminate_says_when_an_eval_set_cannot_be_read(tmp_path: Path, ws: Workspace) -> None:
    evals = _jsonl(tmp_path / "e.jsonl", [{"prompt": QUESTION}])
    batch, _ = _training()
    with pytest.raises(SchemaError, match=r"none of the columns 'text'.*it has .*prompt"):
        run_step(Decontaminate(eval=[str(evals)]), [batch])
    from datamill.store.workspace import using_workspace

    with using_workspace(ws), pytest.raises(NotFoundError, match=r"'nosuch@2' is neither a file"):
        run_step(Decontaminate(eval=["nosuch@2"]), [batch])


def test_contamination_report_names_the_leaking_sets_with_examples(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", [{"text": "A question nobody asked."}, {"text": QUESTION}])
    b = _jsonl(tmp_path / "b.jsonl", [{"text": "Something else entirely, and long enough to be an item."}])
    step = Decontaminate(eval=[str(a), str(b)], mode="flag")
    batch, ids = _training()

    result = run_step(step, [batch])
    flagged = _flagged(result.output)
    report = contamination_report(step, result.metrics, result.ledger.rows_in, flagged)

    assert [(r.eval, r.documents, r.leaked) for r in report] == [(str(a), 2, True), (str(b), 0, False)]
    assert report[0].share == pytest.approx(2 / 40)
    example = report[0].examples[0]
    assert (example.id, example.item, example.ngram) == (ids[3], QUESTION, PLANTED)
    assert report[0].to_dict()["examples"][1]["id"] == ids[25]
    dropped = run_step(Decontaminate(eval=[str(a)]), [batch])
    from_ledger = contamination_report(step, dropped.metrics, 40, dropped.ledger.examples["contaminated"])
    assert from_ledger[0].documents == 2


def _pipeline(eval_entry: str, mode: str = "drop") -> dict[str, Any]:
    return {
        "name": "clean",
        "steps": [
            {"id": "raw", "uses": "read.jsonl", "with": {"paths": ["train/"]}},
            {
                "id": "decon",
                "uses": "dedup.decontaminate",
                "input": "raw",
                "with": {"eval": [eval_entry], "eval_text_columns": ["question", "answer"], "mode": mode},
            },
            {"id": "out", "uses": "write.dataset", "input": "decon"},
        ],
        "outputs": {"train": "out"},
    }


def _write_training(folder: Path) -> None:
    docs = corpus_rows(30, offset=900)
    for part in range(3):
        rows = []
        for i, doc in enumerate(docs[part::3]):
            text = _plant(doc["text"], PLANTED) if i == 2 else doc["text"]
            rows.append({"text": text})
        _jsonl(folder / f"part{part}.jsonl", rows)


def test_decontaminate_reads_an_eval_dataset_version_and_reruns_when_it_changes(tmp_path: Path) -> None:
    _write_training(tmp_path / "train")
    ws = Workspace.init(tmp_path)
    try:
        ws.write("quiz", pa.table({"question": ["What is the capital of a country far away?"], "answer": ["Paris"]}))
        first = Pipeline.from_dict(_pipeline("quiz"), base_dir=tmp_path).run(ws)
        assert first.step("decon").dropped == {}
        again = Pipeline.from_dict(_pipeline("quiz"), base_dir=tmp_path).run(ws)
        assert again.step("decon").status == "cached"

        ws.write("quiz", pa.table({"question": [QUESTION], "answer": ["Paris"]}))
        leaked = Pipeline.from_dict(_pipeline("quiz"), base_dir=tmp_path).run(ws)
        decon = leaked.step("decon")
        assert decon.status == "ran" and decon.dropped == {"contaminated": 3}
        assert decon.metrics["leaked:quiz"] == 3 and decon.rows_in == 30
        pinned = Pipeline.from_dict(_pipeline("quiz@1"), base_dir=tmp_path).run(ws)
        assert pinned.step("decon").dropped == {}
    finally:
        ws.close()


def test_decontaminate_reruns_when_the_eval_file_changes_and_resolves_it_next_to_the_pipeline(
    tmp_path: Path,
) -> None:
    _write_training(tmp_path / "train")
    evals = _jsonl(tmp_path / "evals" / "quiz.jsonl", [{"question": "Nothing in the books, surely, at all."}])
    ws = Workspace.init(tmp_path / "ws")
    try:
        first = Pipeline.from_dict(_pipeline("evals/quiz.jsonl"), base_dir=tmp_path).run(ws)
        assert first.step("decon").dropped == {}
        assert (
            Pipeline.from_dict(_pipeline("evals/quiz.jsonl"), base_dir=tmp_path).run(ws).step("decon").status
            == "cached"
        )

        _jsonl(evals, [{"question": QUESTION, "answer": "x"}])
        second = Pipeline.from_dict(_pipeline("evals/quiz.jsonl"), base_dir=tmp_path).run(ws)
        assert second.step("decon").status == "ran"
        assert second.step("decon").dropped == {"contaminated": 3}
    finally:
        ws.close()


def test_decontaminate_stops_when_the_eval_file_changes_during_the_run(tmp_path: Path) -> None:
    evals = _jsonl(tmp_path / "q.jsonl", [{"text": QUESTION}])
    step = Decontaminate(eval=[str(evals)])
    model = step.finalize(None)
    _jsonl(evals, [{"text": "changed"}])
    batch, _ = _training()

    with pytest.raises(PipelineError, match=r"changed while the run was going on"):
        step.apply(batch, model, StepContext("decon"))


@pytest.mark.parametrize("mode", ["drop", "flag"])
def test_decontaminate_in_a_pipeline_gives_the_same_version_with_one_or_two_workers(tmp_path: Path, mode: str) -> None:
    _write_training(tmp_path / "train")
    versions = []
    for name in ("one", "two"):
        ws = Workspace.init(tmp_path / name)
        try:
            ws.write("quiz", pa.table({"question": [QUESTION], "answer": ["a"]}))
            result = Pipeline.from_dict(_pipeline("quiz", mode), base_dir=tmp_path).run(
                ws, workers=1 if name == "one" else 2
            )
            decon = result.step("decon")
            assert decon.metrics["leaked:quiz"] == 3
            assert decon.rows_in == 30 and decon.rows_in == decon.rows_out + sum(decon.dropped.values())
            versions.append(result.outputs)
        finally:
            ws.close()
    assert versions[0] == versions[1]


def test_decontaminate_docs_example_runs(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(docs_example("Decontamination"))
    _write_training(tmp_path / "crawl")
    _jsonl(tmp_path / "evals" / "arc.jsonl", [{"question": QUESTION, "answer": "a"}])
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.write("squad", pa.table({"question": ["Where is it?"], "answer": ["Here"]}))
        result = Pipeline.from_yaml(tmp_path / "pipeline.yaml").run(ws)

        assert result.step("decon").metrics["leaked:evals/arc.jsonl"] == 3
        assert result.step("decon").metrics["leaked:squad@1"] == 0
    finally:
        ws.close()


def test_decontaminate_output_does_not_depend_on_partitioning(tmp_path: Path) -> None:
    evals = _jsonl(
        tmp_path / "q.jsonl", [{"text": QUESTION}, {"text": "the violet telescope of the old harbour keeper"}]
    )
    batch, _ = _training()
    step = Decontaminate(eval=[str(evals)], mode="flag")

    whole = run_step(step, [batch])
    split = run_step(step, partitions=[[batch.slice(30)], [batch.slice(0, 11), batch.slice(11, 19)]])

    assert sorted(split.output.to_pylist(), key=lambda r: r["id"]) == sorted(
        whole.output.to_pylist(), key=lambda r: r["id"]
    )
    assert split.metrics[f"leaked:{evals}"] == whole.metrics[f"leaked:{evals}"] == 2
    assert split.metrics["eval_items"] == whole.metrics["eval_items"] == 2
    assert split.ledger.balanced
