"""``chunk.text``: recursive chunking with exact offsets, in characters and in tokens."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from datamill import Pipeline
from datamill.clean.chunk import DEFAULT_SEPARATORS, ChunkText, chunk_spans
from datamill.core.errors import ConfigError, SchemaError
from datamill.ingest._documents import document_batch
from datamill.store import Workspace
from datamill.testing import make_batch, run_step
from tests.conftest import SHARED_DATA

CORPUS = SHARED_DATA / "corpus"
WORDS = " ".join(f"word{i}" for i in range(40))  # 40 words of 5-6 characters


def corpus_texts(n: int) -> list[str]:
    with (CORPUS / "docs.jsonl").open(encoding="utf-8") as lines:
        return [json.loads(line)["text"] for _, line in zip(range(n), lines, strict=False)]


@pytest.fixture(scope="module")
def tokenizer_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE tokenizer trained here on the corpus (nothing downloaded)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus_texts(200), trainer)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


def check_chunks(parents: dict[str, str], output: pa.Table) -> None:
    """Every chunk is its parent's text at its offsets, numbered in order, named after its parent."""
    rows = output.to_pylist()
    for row in rows:
        assert parents[row["parent_id"]][row["start"]:row["end"]] == row["text"]
        assert row["id"] == f"{row['parent_id']}#{row['chunk_index']}"
    by_parent: dict[str, list[int]] = {}
    for row in rows:
        by_parent.setdefault(row["parent_id"], []).append(row["chunk_index"])
    assert all(idx == list(range(len(idx))) for idx in by_parent.values())


def test_chunk_text_keeps_parent_columns_and_exact_offsets() -> None:
    text = "First paragraph here.\n\nSecond paragraph, a bit longer than the first one.\n\nThird."
    batch = document_batch([{"id": "doc", "text": text, "source": "a.txt", "page": 2, "mime": "text/plain",
                             "sha256": "ff", "meta": {"title": "A"}}])

    result = run_step(ChunkText(size=60, overlap=0), [batch])

    out = result.output
    assert out["text"].to_pylist() == ["First paragraph here.",
                                       "Second paragraph, a bit longer than the first one.\n\nThird."]
    assert out["id"].to_pylist() == ["doc#0", "doc#1"]
    assert set(out["source"].to_pylist()) == {"a.txt"} and set(out["page"].to_pylist()) == {2}
    assert set(out["meta"].to_pylist()) == {'{"title": "A"}'}
    assert out.column_names == [*batch.schema.names, "parent_id", "chunk_index", "start", "end"]
    assert out.schema.field("start").type == pa.int64() and out.schema.field("chunk_index").type == pa.int32()
    check_chunks({"doc": text}, out)
    assert result.ledger.created == 1 and result.ledger.balanced


def test_chunk_text_overlaps_by_whole_words_up_to_the_limit() -> None:
    result = run_step(ChunkText(size=40, overlap=15), [make_batch(text=[WORDS])])

    rows = result.output.to_pylist()
    assert all(len(r["text"]) <= 40 for r in rows)
    shared = [prev["end"] - nxt["start"] for prev, nxt in itertools.pairwise(rows)]
    assert all(0 < s <= 15 for s in shared)
    assert rows[0]["text"].endswith(rows[1]["text"][: shared[0]].strip())
    assert rows[-1]["end"] == len(WORDS)
    assert result.ledger.balanced


def test_chunk_text_drops_null_empty_and_blank_text_as_empty_text() -> None:
    batch = make_batch(text=["some words", None, "", " \n\t "])

    result = run_step(ChunkText(size=50, overlap=5), [batch])

    assert result.output["id"].to_pylist() == ["0#0"]
    assert result.ledger.dropped == {"empty_text": 3}
    assert result.ledger.balanced


def test_chunk_text_quarantines_rows_without_an_id() -> None:
    batch = pa.record_batch({"id": pa.array(["a", None, None], pa.string()), "text": ["x y", "z", None]})

    result = run_step(ChunkText(size=50, overlap=5), [batch])

    assert result.output["id"].to_pylist() == ["a#0"]
    assert result.ledger.quarantined == {"missing_id": 2}
    assert result.quarantine["reason"].to_pylist() == ["missing_id", "missing_id"]
    assert "no id" in result.quarantine["error"][0].as_py()
    assert result.ledger.balanced


def test_chunk_text_cuts_an_unsplittable_run_hard_with_the_overlap() -> None:
    text = "x" * 2500  # one "word": no separator splits it

    result = run_step(ChunkText(size=1000, overlap=100), [make_batch(text=[text])])

    spans = list(zip(result.output["start"].to_pylist(), result.output["end"].to_pylist(), strict=True))
    assert spans == [(0, 1000), (900, 1900), (1800, 2500)]
    assert result.metrics["oversize_chunks"] == 0


def test_chunk_text_handles_a_huge_document() -> None:
    text = ("A sentence of prose. " * 40 + "\n\n") * 3000  # about 2.5 million characters

    result = run_step(ChunkText(size=500, overlap=50), [make_batch(text=[text])])

    out = result.output
    assert max(len(t) for t in out["text"].to_pylist()) <= 500
    assert out["end"][-1].as_py() == len(text.rstrip())
    assert result.ledger.created == out.num_rows - 1 and result.ledger.balanced


def test_chunk_text_matches_langchain_with_separators_kept_at_the_start() -> None:
    splitters = pytest.importorskip("langchain_text_splitters")
    texts = corpus_texts(300)
    langchain = splitters.RecursiveCharacterTextSplitter(chunk_size=300, chunk_overlap=30,
                                                         separators=list(DEFAULT_SEPARATORS))

    for text in texts:
        spans = chunk_spans(text, size=300, overlap=30, keep_separator="start")
        assert [text[s:e] for s, e in spans] == langchain.split_text(text)


def test_chunk_text_on_the_corpus_keeps_every_word() -> None:
    texts = corpus_texts(100)
    batch = make_batch(text=texts)

    result = run_step(ChunkText(size=400, overlap=40), [batch])

    check_chunks({str(i): t for i, t in enumerate(texts)}, result.output)
    for i, text in enumerate(texts):
        covered = bytearray(len(text))
        for row in result.output.filter(pa.compute.equal(result.output["parent_id"], str(i))).to_pylist():
            covered[row["start"]:row["end"]] = b"\x01" * (row["end"] - row["start"])
        assert all(covered[j] or text[j].isspace() for j in range(len(text)))
    assert result.ledger.balanced


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(st.one_of(st.none(), st.text(max_size=300),
                             st.text(alphabet=st.sampled_from("ab .\n\t\u00e9\u65e5\U0001f600"), max_size=300)),
                   max_size=8),
    size=st.integers(1, 60),
    overlap_share=st.floats(0, 0.99),
    keep=st.sampled_from(["end", "start"]),
)
def test_chunk_text_offsets_sizes_and_ledger_hold_on_any_text(texts: list[str | None], size: int,
                                                              overlap_share: float, keep: str) -> None:
    overlap = int(size * overlap_share)
    batch = make_batch(text=pa.array(texts, pa.string()))

    result = run_step(ChunkText(size=size, overlap=overlap, keep_separator=keep), [batch])

    parents = {str(i): t or "" for i, t in enumerate(texts)}
    check_chunks(parents, result.output)
    rows = result.output.to_pylist()
    assert all(0 < len(r["text"]) <= size and r["text"] == r["text"].strip() for r in rows)
    for prev, nxt in itertools.pairwise(rows):
        if prev["parent_id"] == nxt["parent_id"]:
            assert prev["start"] < nxt["start"] and prev["end"] - nxt["start"] <= overlap
    for key, text in parents.items():
        covered = set()
        for r in rows:
            if r["parent_id"] == key:
                covered.update(range(r["start"], r["end"]))
        assert all(j in covered for j, ch in enumerate(text) if not ch.isspace())
    empty = sum(1 for t in texts if not (t or "").strip())
    assert result.ledger.dropped == ({"empty_text": empty} if empty else {})
    assert result.ledger.balanced


def test_chunk_text_in_tokens_never_exceeds_the_size(tokenizer_file: Path) -> None:
    tok = Tokenizer.from_file(str(tokenizer_file))
    texts = corpus_texts(60)

    result = run_step(ChunkText(size=48, overlap=8, unit="tokens", tokenizer=str(tokenizer_file)),
                      [make_batch(text=texts)])

    check_chunks({str(i): t for i, t in enumerate(texts)}, result.output)
    counts = [len(tok.encode(t, add_special_tokens=False).ids) for t in result.output["text"].to_pylist()]
    assert max(counts) == 48  # packed up to the limit, never past it
    assert sum(counts) > 0.6 * 48 * len(counts)
    assert result.metrics["oversize_chunks"] == 0
    assert result.ledger.balanced


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=400), size=st.integers(1, 24), share=st.floats(0, 0.9))
@example(text=" A\u0800\U00010000\U0001000000", size=12, share=0.5)  # re-cut chunks once fell inside others
def test_chunk_text_in_tokens_holds_on_any_unicode(tokenizer_file: Path, text: str, size: int, share: float) -> None:
    tok = Tokenizer.from_file(str(tokenizer_file))
    step = ChunkText(size=size, overlap=int(size * share), unit="tokens", tokenizer=str(tokenizer_file))

    result = run_step(step, [make_batch(text=[text])])

    check_chunks({"0": text}, result.output)
    rows = result.output.to_pylist()
    for row in rows:
        # Only a single character may be over: byte-level BPE can need several tokens for one.
        assert len(tok.encode(row["text"], add_special_tokens=False).ids) <= size or len(row["text"]) == 1
    assert all(a["start"] < b["start"] and a["end"] < b["end"] for a, b in itertools.pairwise(rows))
    covered = {j for r in rows for j in range(r["start"], r["end"])}
    assert all(j in covered for j, ch in enumerate(text) if not ch.isspace())
    assert result.metrics["oversize_chunks"] == sum(
        len(tok.encode(r["text"], add_special_tokens=False).ids) > size for r in rows)
    assert result.ledger.balanced


def test_chunk_text_rejects_bad_configs_with_a_fix() -> None:
    with pytest.raises(ConfigError, match=r"`overlap` \(100\) must be smaller than `size` \(100\)"):
        ChunkText(size=100, overlap=100)
    with pytest.raises(ConfigError, match=r"needs `tokenizer: path/to/tokenizer\.json`"):
        ChunkText(unit="tokens")
    with pytest.raises(ConfigError, match="only used with `unit: tokens`"):
        ChunkText(tokenizer="t.json")
    with pytest.raises(ConfigError, match=r"no option `sise`\. Did you mean `size`\?"):
        ChunkText(sise=10)
    with pytest.raises(ConfigError, match="no tokenizer at"):
        ChunkText(unit="tokens", tokenizer="/nonexistent/tokenizer.json")


def test_chunk_text_rejects_a_file_that_is_not_a_tokenizer(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"not": "a tokenizer"}')

    with pytest.raises(ConfigError, match="is not a tokenizers JSON file"):
        ChunkText(unit="tokens", tokenizer=str(tmp_path / "tokenizer.json"))


def test_chunk_text_needs_a_text_column_of_strings() -> None:
    with pytest.raises(SchemaError, match=r"needs a column 'body'.*text_column"):
        run_step(ChunkText(text_column="body"), [make_batch(text=["a"])])
    with pytest.raises(SchemaError, match="holds int64, not text"):
        run_step(ChunkText(text_column="n"), [make_batch(n=[1, 2])])


def test_chunk_text_rechunks_chunks_and_keeps_large_strings() -> None:
    batch = pa.record_batch({"id": ["d"], "body": pa.array([WORDS], pa.large_string())})

    first = run_step(ChunkText(size=100, overlap=0, text_column="body"), [batch])
    second = run_step(ChunkText(size=30, overlap=0, text_column="body"), first.output.to_batches())

    assert first.output.schema.field("body").type == pa.large_string()
    assert second.output["parent_id"].to_pylist()[:2] == ["d#0", "d#0"]
    assert second.output["id"][0].as_py() == "d#0#0"
    assert second.output.num_columns == first.output.num_columns
    assert second.ledger.balanced


def test_chunk_text_in_a_pipeline_reads_files_and_records_created_rows(tmp_path: Path, ws: Workspace) -> None:
    (tmp_path / "docs").mkdir()
    for name in ("gutenberg-nltk-blake-poems.txt", "gutenberg-nltk-shakespeare-macbeth.txt"):
        (tmp_path / "docs" / name).write_bytes((CORPUS / name).read_bytes())
    (tmp_path / "empty.txt").write_text(" \n")
    spec = {"name": "rag", "steps": [
        {"id": "docs", "uses": "read.text", "with": {"paths": ["docs/", "empty.txt"]}},
        {"id": "chunks", "uses": "chunk.text", "input": "docs", "with": {"size": 800, "overlap": 100}}],
        "outputs": {"chunks": "chunks"}}

    result = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    step = result.step("chunks")
    assert step.rows_in == 3 and step.dropped == {"empty_text": 1}
    assert step.rows_out == step.rows_in + step.created - 1 > 200
    chunks = ws.open("chunks").to_arrow()
    docs = {r["parent_id"]: Path(r["source"]).read_text(encoding="utf-8") for r in chunks.to_pylist()}
    check_chunks(docs, chunks)
    assert set(chunks["source"].to_pylist()) == {str(tmp_path / "docs" / n) for n in
                                                 ("gutenberg-nltk-blake-poems.txt",
                                                  "gutenberg-nltk-shakespeare-macbeth.txt")}


def test_chunk_spans_is_the_splitter_alone() -> None:
    text = "a\n\nb c d e f g"

    # A separator ends the piece before it, so "b " weighs 2 and the window "b c d " would be 6.
    assert [text[s:e] for s, e in chunk_spans(text, size=5, overlap=2)] == ["a", "b c", "c d", "d e", "e f g"]
    with pytest.raises(ConfigError, match="`overlap`"):
        chunk_spans(text, size=5, overlap=5)


def test_the_pipelines_in_the_docs_are_valid(tmp_path: Path, tokenizer_file: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "chunking.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", docs, flags=re.DOTALL)
    (tmp_path / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())

    planned = [Pipeline.from_dict(yaml.safe_load(block), base_dir=tmp_path).validate() for block in blocks]

    uses = {p.spec.uses for steps in planned for p in steps}
    assert len(blocks) == 3 and {"chunk.text", "table.to_text"} <= uses


def test_chunk_text_on_an_empty_batch_gives_the_chunk_schema() -> None:
    empty = document_batch([])

    result = run_step(ChunkText(), [empty])

    assert result.output.num_rows == 0
    assert result.output.column_names == [*empty.schema.names, "parent_id", "chunk_index", "start", "end"]
    assert result.ledger.rows_in == 0 and result.ledger.balanced
