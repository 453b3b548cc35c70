"""``label.apply`` and ``apply_lfs``: votes as a column, LF names kept, errors quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, NotFoundError, PipelineError, SchemaError
from datamill.label import KeywordLF, LengthLF, apply_lfs, labeling_function, load_lfs, votes_matrix
from datamill.label.apply import LF_NAMES_KEY, LabelApply
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.testing import make_batch, run_step

LF_FILE = '''
from datamill.label import KeywordLF, LengthLF, labeling_function

LABELS = ["ham", "spam"]

subscribe = KeywordLF("subscribe", ["subscribe"], "spam")
short = LengthLF("short", "ham", max_words=3)


@labeling_function
def fragile(x):
    if "boom" in (x.text or ""):
        raise ValueError("no parse")
    return "spam" if (x.text or "").count("!") > 2 else None
'''


@pytest.fixture
def lf_file(tmp_path: Path) -> Path:
    path = tmp_path / "lfs.py"
    path.write_text(LF_FILE, encoding="utf-8")
    return path


def test_label_apply_adds_one_vote_per_lf_and_names_them(lf_file: Path) -> None:
    batch = make_batch(text=["Subscribe!!! now", "so cute", "a longer comment about nothing"])

    result = run_step(LabelApply(lfs=str(lf_file)), [batch])

    votes = result.output.column("votes")
    assert votes.type == pa.list_(pa.int8(), 3)
    assert votes.to_pylist() == [[1, 0, 1], [-1, 0, -1], [-1, -1, -1]]
    meta = result.output.schema.field("votes").metadata
    assert json.loads(meta[LF_NAMES_KEY.encode()]) == ["subscribe", "short", "fragile"]
    assert json.loads(meta[b"datamill.label_classes"]) == ["ham", "spam"]
    assert result.metrics["covered"] == 2 and result.metrics["votes.short"] == 2
    assert result.ledger.balanced


def test_label_apply_quarantines_the_row_an_lf_raised_on(lf_file: Path) -> None:
    batch = make_batch(text=["fine", "boom goes the parser", "subscribe"])

    result = run_step(LabelApply(lfs=str(lf_file)), [batch])

    assert result.output["id"].to_pylist() == ["0", "2"]
    assert result.ledger.quarantined == {"lf_error": 1}
    assert result.ledger.balanced
    row = result.quarantine.to_pylist()[0]
    assert row["id"] == "1" and row["reason"] == "lf_error"
    assert row["error"] == "fragile: ValueError: no parse"
    assert "boom goes the parser" in row["row"]


def test_label_apply_handles_empty_null_and_invalid_utf8(lf_file: Path) -> None:
    parts = [b"subscribe \xff", b"", b"ok"]
    offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int32)
    bad = pa.Array.from_buffers(pa.string(), 3, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(parts))])
    schema = pa.schema([pa.field("id", pa.string()), pa.field("text", pa.string())])
    batches = [pa.record_batch([pa.array([], pa.string()), pa.array([], pa.string())], schema=schema),
               pa.record_batch({"id": ["a", "b", "c"], "text": bad}),
               pa.record_batch([pa.array(["n"]), pa.array([None], pa.string())], schema=schema)]

    result = run_step(LabelApply(lfs=str(lf_file)), batches)

    assert result.output["votes"].to_pylist() == [[1, 0, -1], [-1, 0, -1], [-1, 0, -1], [-1, -1, -1]]
    assert result.ledger.rows_in == 4 and result.ledger.balanced


@pytest.fixture(scope="module")
def module_lf_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lfs") / "lfs.py"
    path.write_text(LF_FILE, encoding="utf-8")
    return path


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=30)), max_size=30))
def test_label_apply_accounts_for_every_row(module_lf_file: Path, texts: list[str | None]) -> None:
    batch = make_batch(text=pa.array(texts, pa.string()))

    result = run_step(LabelApply(lfs=str(module_lf_file)), [batch])

    assert result.ledger.rows_in == len(texts)
    assert result.ledger.balanced
    assert result.output.num_rows + sum(result.ledger.quarantined.values()) == len(texts)


def test_label_apply_cache_key_is_the_lf_file(lf_file: Path) -> None:
    before = LabelApply(lfs=str(lf_file)).code_hashes()
    lf_file.write_text(LF_FILE.replace("max_words=3", "max_words=4"), encoding="utf-8")
    after = LabelApply(lfs=str(lf_file)).code_hashes()

    assert before != after and len(after) == 1


def test_label_apply_clear_errors(tmp_path: Path, lf_file: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        LabelApply(lfs=str(tmp_path / "missing.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="defines no labelling function"):
        LabelApply(lfs=str(empty))
    twice = tmp_path / "twice.py"
    twice.write_text("from datamill.label import KeywordLF\n"
                     "a = KeywordLF('k', ['x'], 1)\nb = KeywordLF('k', ['y'], 1)\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="two LFs are named 'k'"):
        LabelApply(lfs=str(twice))
    with pytest.raises(SchemaError, match="reads the column `text`"):
        run_step(LabelApply(lfs=str(lf_file)), [make_batch(body=["x"])])


def test_label_apply_runs_in_the_process_pool_like_one_process(tmp_path: Path, lf_file: Path) -> None:
    rows = [{"id": f"r{i:03d}", "text": t} for i, t in enumerate(
        ["subscribe now!!!", "nice", "boom", "a long comment that goes on", None, "wow!!! subscribe"] * 20)]
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.write("comments", pa.Table.from_pylist(rows))
        spec = {"name": "lf", "steps": [
            {"id": "input", "uses": "read.dataset", "with": {"ref": "comments", "batch_rows": 25}},
            {"id": "votes", "uses": "label.apply", "input": "input", "with": {"lfs": lf_file.name}}],
            "outputs": {"comments.votes": "votes"}}
        one = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, workers=1).to_dict()
        (tmp_path / "ws2").mkdir()
        ws2 = Workspace.init(tmp_path / "ws2")
        ws2.write("comments", pa.Table.from_pylist(rows))
        two = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws2, workers=2).to_dict()
        step = next(s for s in two["steps"] if s["id"] == "votes")
        assert step["quarantined"] == {"lf_error": 20}
        assert step["rows_in"] == step["rows_out"] + 20
        assert one["outputs"]["comments.votes"].split("@")[1] == two["outputs"]["comments.votes"].split("@")[1]
        matrix = votes_matrix(ws2.open("comments.votes").to_arrow())
        assert matrix.source_names == ("subscribe", "short", "fragile") and matrix.class_names == ("ham", "spam")
        assert matrix.n_items == 100
        again = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws2, workers=2).to_dict()
        assert [s["status"] for s in again["steps"]] == ["cached", "cached"]
        ws2.close()
    finally:
        ws.close()


def test_apply_lfs_returns_the_label_matrix_and_refuses_errors(lf_file: Path) -> None:
    lfset = load_lfs(lf_file)

    matrix = apply_lfs(lfset, pa.table({"text": ["subscribe", "hi there", None]}))

    assert matrix.to_dense().tolist() == [[1, 0, -1], [-1, 0, -1], [-1, -1, -1]]
    assert matrix.class_names == ("ham", "spam")
    with pytest.raises(PipelineError, match=r"row 1: fragile: ValueError: no parse.*label.apply"):
        apply_lfs(lfset, [{"text": "fine"}, {"text": "boom"}])


def test_apply_lfs_takes_polars_and_checks_the_schema() -> None:
    import polars as pl

    @labeling_function(labels=("neg", "pos"))
    def positive(text: str) -> str | None:
        return "pos" if "good" in text else None

    frame = pl.DataFrame({"text": ["good", "bad"]})
    assert apply_lfs([positive, KeywordLF("bad", ["bad"], "neg")], frame).to_dense().tolist() == [[1, -1], [-1, 0]]
    with pytest.raises(ConfigError, match="uses the classes"):
        apply_lfs([positive, LengthLF("l", "ham", max_words=1, labels=("ham", "spam"))], frame)
