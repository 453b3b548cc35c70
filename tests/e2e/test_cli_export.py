"""``datamill export`` end to end, and the library it calls (``datamill.clean.export``): files,
LangChain documents and LlamaIndex nodes."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import yaml

from datamill.clean.chunk import ChunkText
from datamill.clean.export import export_dataset, to_langchain_documents, to_llamaindex_nodes
from datamill.core.errors import SchemaError
from datamill.ingest._documents import document_batch
from datamill.store import Workspace
from datamill.testing import run_step
from tests.conftest import SHARED_DATA
from tests.e2e.cli import cli, cli_json

POEMS = SHARED_DATA / "corpus" / "gutenberg-nltk-blake-poems.txt"


@pytest.fixture
def chunks() -> pa.Table:
    """Chunks of two documents, one of them with a page and metadata."""
    batch = document_batch([
        {"id": "poems", "text": POEMS.read_text(encoding="utf-8")[:3000], "source": str(POEMS), "mime": "text/plain",
         "meta": {"title": "Poems"}},
        {"id": "note", "text": "Ein kurzer Text über Äpfel.", "source": "note.pdf", "page": 3},
    ])
    result = run_step(ChunkText(size=400, overlap=50), [batch])
    assert result.ledger.balanced
    return result.output


def test_export_cli_writes_chunks_of_a_pipeline_as_jsonl(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "poems.txt").write_bytes(POEMS.read_bytes())
    (tmp_path / "docs" / "greek.txt").write_text("Καλημέρα κόσμε.\n\nΚαληνύχτα.", encoding="utf-8")
    (tmp_path / "rag.yaml").write_text(yaml.safe_dump({"name": "rag", "steps": [
        {"id": "docs", "uses": "read.text", "with": {"paths": ["docs/"]}},
        {"id": "chunks", "uses": "chunk.text", "input": "docs", "with": {"size": 500, "overlap": 50}}],
        "outputs": {"chunks": "chunks"}}))
    run = cli_json(tmp_path, "run", "rag.yaml")
    made = next(s for s in run["steps"] if s["id"] == "chunks")["rows_out"]

    done = cli_json(tmp_path, "export", "chunks", "--to", "chunks.jsonl")

    assert done["rows"] == made and done["format"] == "jsonl" and done["ref"] == "chunks@1"
    raw = (tmp_path / "chunks.jsonl").read_bytes()
    assert "Καλημέρα κόσμε.".encode() in raw  # UTF-8, not \\u escapes
    rows = [json.loads(line) for line in raw.decode("utf-8").splitlines()]
    assert len(rows) == made and done["bytes"] == len(raw)
    texts = {Path(r["source"]).name: Path(r["source"]).read_text(encoding="utf-8") for r in rows}
    for row in rows:
        assert texts[Path(row["source"]).name][row["start"]:row["end"]] == row["text"]
    assert {"id", "text", "source", "parent_id", "chunk_index", "start", "end", "meta"} <= set(rows[0])
    plain = cli(tmp_path, "export", "chunks@1", "--to", "again.jsonl").stdout
    assert f"{made:,} rows" in plain and (tmp_path / "again.jsonl").read_bytes() == raw


def test_export_cli_writes_parquet_and_csv_with_chosen_columns(tmp_path: Path, ws: Workspace) -> None:
    table = pa.table({"id": ["a", "b", "c"], "text": ["x, \"quoted\"\nline", None, "é"], "n": [1, 2, None]})
    ws.write("small", table)

    parquet = cli_json(tmp_path, "export", "small", "--to", "small.parquet", "--columns", "text,id")
    csv = cli_json(tmp_path, "export", "small", "--to", "out.data", "--format", "csv", "-c", "id", "-c", "n")

    assert parquet["columns"] == ["text", "id"]
    assert pq.read_table(tmp_path / "small.parquet").equals(table.select(["text", "id"]))
    assert csv["format"] == "csv" and csv["rows"] == 3
    read = pcsv.read_csv(tmp_path / "out.data")
    assert read["id"].to_pylist() == ["a", "b", "c"] and read["n"].to_pylist() == [1, 2, None]


def test_export_cli_refuses_bad_input_with_exit_2_and_writes_nothing(tmp_path: Path, ws: Workspace) -> None:
    ws.write("nested", pa.table({"id": ["a"], "tags": [["x"]], "raw": [b"\xff"]}))

    unknown = cli(tmp_path, "export", "nestd", "--to", "o.jsonl", code=2)
    column = cli_json(tmp_path, "export", "nested", "--to", "o.jsonl", "--columns", "tag", code=2)
    csv = cli(tmp_path, "export", "nested", "--to", "o.csv", code=2)
    binary = cli(tmp_path, "export", "nested", "--to", "o.csv", "-c", "id,raw", code=2)
    suffix = cli(tmp_path, "export", "nested", "--to", "o.txt", code=2)
    folder = cli(tmp_path, "export", "nested", "--to", "no/such/o.jsonl", code=2)
    directory = cli(tmp_path, "export", "nested", "--to", ".", "--format", "jsonl", code=2)

    assert "Did you mean 'nested'?" in unknown.stderr
    assert column["type"] == "SchemaError" and "no column 'tag'; it has id, tags, raw" in column["error"]
    assert "'tags' hold nested values" in csv.stderr and "--format jsonl" in csv.stderr
    assert "'raw' hold binary values" in binary.stderr
    assert "--format jsonl|parquet|csv" in suffix.stderr
    assert "does not exist; create it first" in folder.stderr
    assert "is a directory; give a file name, e.g. 'data.jsonl'" in directory.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".datamill"]


def test_export_streams_every_shard_in_order(tmp_path: Path, ws: Workspace) -> None:
    ids = [f"r{i:05d}" for i in range(25_000)]
    ds = ws.write("many", pa.table({"id": ids, "n": list(range(25_000))}), rows_per_shard=4_000)
    assert len(ds.shards) == 7

    result = export_dataset(ds, tmp_path / "many.jsonl", batch_size=1_000)

    lines = (tmp_path / "many.jsonl").read_text(encoding="utf-8").splitlines()
    assert result.rows == len(lines) == 25_000
    assert [json.loads(line)["id"] for line in lines] == ids


def test_export_jsonl_writes_every_type_as_json(tmp_path: Path, ws: Workspace) -> None:
    when = dt.datetime(2024, 5, 1, 12, 30)
    ds = ws.write("types", pa.table({
        "id": ["a", "b"],
        "at": pa.array([when, None], pa.timestamp("us")),
        "day": pa.array([dt.date(2024, 5, 1), None], pa.date32()),
        "x": [float("nan"), float("inf")],
        "blob": pa.array([b"\x00\xff", None], pa.binary()),
        "price": pa.array([decimal.Decimal("1.10"), None], pa.decimal128(5, 2)),
        "tags": [["ü"], []],
    }))

    export_dataset(ds, tmp_path / "types.jsonl")

    first, second = (json.loads(line) for line in (tmp_path / "types.jsonl").read_text("utf-8").splitlines())
    assert first == {"id": "a", "at": "2024-05-01T12:30:00", "day": "2024-05-01", "x": None,
                     "blob": base64.b64encode(b"\x00\xff").decode(), "price": "1.10", "tags": ["ü"]}
    assert second["x"] is None and second["blob"] is None


def test_a_failed_export_leaves_the_old_file_and_no_partial_one(tmp_path: Path, ws: Workspace) -> None:
    ds = ws.write("gone", pa.table({"id": [str(i) for i in range(10)]}), rows_per_shard=5)
    (tmp_path / "out.jsonl").write_text("previous export\n")
    ws.objects.fs.rm(ws.objects.path(ds.shards[1]["path"]))  # the second shard is lost

    with pytest.raises(FileNotFoundError):
        export_dataset(ds, tmp_path / "out.jsonl")

    assert (tmp_path / "out.jsonl").read_text() == "previous export\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".datamill", "out.jsonl"]


def test_to_langchain_documents_carries_text_ids_and_metadata(chunks: pa.Table, ws: Workspace) -> None:
    ds = ws.write("chunks", chunks)

    docs = to_langchain_documents(ds)

    assert len(docs) == chunks.num_rows
    rows = chunks.to_pylist()
    for doc, row in zip(docs, rows, strict=True):
        assert doc.page_content == row["text"] and doc.id == row["id"]
        assert doc.metadata["start"] == row["start"] and doc.metadata["end"] == row["end"]
        assert doc.metadata["parent_id"] == row["parent_id"] and "text" not in doc.metadata
    note = next(d for d in docs if d.metadata["parent_id"] == "note")
    assert note.metadata["page"] == 3 and note.metadata["source"] == "note.pdf"
    poem = docs[0]
    assert "page" not in poem.metadata  # nulls are left out: vector stores refuse them
    assert json.loads(poem.metadata["meta"]) == {"title": "Poems"}
    picked = to_langchain_documents(chunks.to_batches(), metadata_columns=["source"])
    assert picked[0].metadata == {"source": str(POEMS)}


def test_to_llamaindex_nodes_sets_offsets_ids_and_the_source_document(chunks: pa.Table) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import MetadataMode

    nodes = to_llamaindex_nodes(chunks)

    rows = chunks.to_pylist()
    assert [n.node_id for n in nodes] == [r["id"] for r in rows]
    assert [(n.start_char_idx, n.end_char_idx) for n in nodes] == [(r["start"], r["end"]) for r in rows]
    assert [n.ref_doc_id for n in nodes] == [r["parent_id"] for r in rows]
    assert nodes[0].text == rows[0]["text"] and nodes[0].metadata["source"] == str(POEMS)
    embedded = nodes[0].get_content(metadata_mode=MetadataMode.EMBED)
    assert str(POEMS) in embedded and "chunk_index" not in embedded and rows[0]["text"] in embedded


def test_conversions_say_which_package_is_missing(chunks: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "langchain_core.documents", None)
    monkeypatch.setitem(sys.modules, "llama_index.core.schema", None)

    with pytest.raises(ImportError, match="pip install langchain-core"):
        to_langchain_documents(chunks)
    with pytest.raises(ImportError, match="pip install llama-index-core"):
        to_llamaindex_nodes(chunks)


def test_conversions_refuse_rows_without_text(chunks: pa.Table) -> None:
    with pytest.raises(SchemaError, match=r"no text column 'body'.*text_column="):
        to_langchain_documents(chunks, text_column="body")
    blank = pa.table({"id": ["x"], "text": pa.array([None], pa.string())})
    with pytest.raises(SchemaError, match="row 'x' has no text"):
        to_langchain_documents(blank)
    with pytest.raises(SchemaError, match="`metadata_columns` names 'nope'"):
        to_langchain_documents(chunks, metadata_columns=["nope"])
