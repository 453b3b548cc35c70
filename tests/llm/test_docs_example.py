"""docs/examples/llm_training.py runs as docs/llm.md shows it: tokenize, train, resume."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pyarrow as pa

import datamill as dm
from tests.dedup.common import corpus_rows

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "llm_training.py"


def test_the_docs_example_tokenizes_trains_and_resumes(tmp_path: Path, bpe_file: Path) -> None:
    spec = importlib.util.spec_from_file_location("llm_training", EXAMPLE)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ws = dm.Workspace.init(tmp_path)
    try:
        rows = corpus_rows(60)
        ws.write("corpus", pa.table({"id": [r["id"] for r in rows], "text": [r["text"] for r in rows]}))
        name = example.tokenize(ws, "corpus", str(bpe_file), block=128)
        state = example.train(ws, name, steps=5)
        assert state["next_batch"] == 5 and state["epoch"] == 0
        assert example.train(ws, name, steps=3, state=state)["next_batch"] == 8
    finally:
        ws.close()
