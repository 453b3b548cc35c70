"""llm.pack and token shards: every token kept, documents whole where promised, the format
readable as documented, the objects owned by the version (kept by gc, checked by verify)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

import datamill as dm
from datamill.llm.packing import ChunkPacker, best_fit_decreasing, bucket_batches, split_long
from datamill.llm.shards import TokenShard, read_index
from datamill.store.gc import collect_garbage
from tests.llm.conftest import EOS, pack_spec, write_corpus


def shards_of(ws: dm.Workspace, ref: str) -> list[TokenShard]:
    return [TokenShard.open(ws.objects, row) for row in ws.open(ref).to_arrow().to_pylist()]


def corpus_ids(folder: Path) -> list[list[int]]:
    """Each document's ids as llm.tokenize gives them (EOS after each), in file order."""
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    eos = tokenizer.token_to_id(EOS)
    out = []
    for path in sorted(folder.glob("docs*.jsonl")):
        import json

        for line in path.read_text(encoding="utf-8").splitlines():
            out.append([*tokenizer.encode(json.loads(line)["text"], add_special_tokens=False).ids, eos])
    return out


def sequences(shards: list[TokenShard]) -> list[np.ndarray]:
    return [np.asarray(s.tokens[s.offsets[i]:s.offsets[i + 1]]) for s in shards for i in range(s.num_sequences)]


def test_chunk_keeps_every_token_in_whole_blocks_across_partitions(packed: tuple[dm.Workspace, Path]) -> None:
    ws, folder = packed
    docs = corpus_ids(folder)
    seqs = sequences(shards_of(ws, "tok_chunk.packed"))
    lengths = [len(s) for s in seqs]
    assert lengths[:-1] == [64] * (len(seqs) - 1) and 0 < lengths[-1] <= 64  # only the very last is short
    # Nothing lost and nothing added: the same multiset of tokens, EOS included.
    every = np.concatenate(seqs)
    assert len(every) == sum(len(d) for d in docs)
    assert np.array_equal(np.sort(every), np.sort(np.concatenate([np.array(d) for d in docs])))


def test_chunk_in_one_partition_is_the_group_texts_stream(tmp_path: Path, bpe_file: Path) -> None:
    (tmp_path / "tokenizer.json").write_bytes(bpe_file.read_bytes())
    write_corpus(tmp_path, docs=40, files=1)
    ws = dm.Workspace.init(tmp_path / "ws")
    try:
        result = dm.Pipeline.from_dict(pack_spec("chunk", 100, files=1), base_dir=tmp_path).run(ws)
        stream = np.concatenate([np.array(d) for d in corpus_ids(tmp_path)])
        shards = shards_of(ws, "tok_chunk.packed")
        assert np.array_equal(np.concatenate(sequences(shards)), stream)
        # Document starts are where each non-empty document begins in the stream.
        starts = np.concatenate([s.doc_starts + sum(len(t.tokens) for t in shards[:i]) for i, s in enumerate(shards)])
        lengths = [len(d) for d in corpus_ids(tmp_path)]
        assert starts.tolist() == np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
        step = result.step("packed")
        assert step.metrics["pad_tokens"] == 100 - len(stream) % 100
        assert step.rows_in == 41 and step.merged == 41 and step.created == step.rows_out == len(shards)
    finally:
        ws.close()


def test_bfd_never_splits_a_document_shorter_than_the_block(packed: tuple[dm.Workspace, Path]) -> None:
    ws, folder = packed
    docs = corpus_ids(folder)
    shards = shards_of(ws, "tok_bfd.packed")
    seqs = sequences(shards)
    assert max(len(s) for s in seqs) <= 512
    found = 0
    for shard in shards:
        for i in range(shard.num_sequences):
            lo, hi = shard.offsets[i], shard.offsets[i + 1]
            inside = shard.doc_starts[(shard.doc_starts >= lo) & (shard.doc_starts < hi)]
            found += len(inside)
    whole = {tuple(d) for d in docs if len(d) <= 512}
    as_text = [tuple(s.tolist()) for s in seqs]
    # Every short document is a contiguous run inside one sequence.
    for doc in list(whole)[:60]:
        assert any(_contains(seq, doc) for seq in as_text)
    assert found == sum(1 for d in docs if d)
    pad = sum(512 - len(s) for s in seqs) / (512 * len(seqs))
    assert pad < 0.10


def _contains(seq: tuple[int, ...], doc: tuple[int, ...]) -> bool:
    n = len(doc)
    return any(seq[i:i + n] == doc for i in range(len(seq) - n + 1))


def test_none_keeps_one_sequence_per_document(packed: tuple[dm.Workspace, Path]) -> None:
    ws, folder = packed
    docs = corpus_ids(folder)
    seqs = sequences(shards_of(ws, "tok_none.packed"))
    assert sorted(tuple(s.tolist()) for s in seqs) == sorted(tuple(d) for d in docs)


def test_the_version_table_and_index_follow_the_documented_format(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    version = ws.open("tok_chunk.packed")
    rows = version.to_arrow().to_pylist()
    assert len(rows) >= 2  # 20,000 tokens per shard, plus the joined tails
    tokenizer = ws.open("tok_chunk.tokens").schema.field("tokens").metadata
    for row in rows:
        assert row["dtype"] == "uint16" and row["strategy"] == "chunk" and row["block"] == 64
        assert row["tokenizer_sha256"] == tokenizer[b"datamill.tokenizer_sha256"].decode()
        raw = Path(ws.objects.path(row["tokens_path"])).read_bytes()
        assert len(raw) == 2 * row["tokens"]
        dtype, offsets, starts = read_index(Path(ws.objects.path(row["index_path"])).read_bytes())
        assert dtype == "uint16" and offsets[-1] == row["tokens"] and len(starts) == row["documents"]
        assert np.array_equal(np.frombuffer(raw, "<u2")[: 64], np.memmap(ws.objects.path(row["tokens_path"]),
                                                                      np.uint16, mode="r")[:64])
    manifest = ws.manifest(version.id)
    assert {f["path"] for f in manifest["files"]} == {r[k] for r in rows for k in ("tokens_path", "index_path")}


def test_gc_keeps_the_shards_and_verify_notices_one_missing(packed: tuple[dm.Workspace, Path],
                                                              tmp_path: Path) -> None:
    ws, _ = packed
    result = collect_garbage(ws, older_than_s=0, dry_run=True)
    assert not any(p.endswith((".bin", ".idx")) for p in result["files"]["shards"])
    version = ws.open("tok_none.packed")
    row = version.to_arrow().to_pylist()[0]
    path = ws.objects.path(row["index_path"])
    saved = Path(path).read_bytes()
    os.remove(path)
    try:
        assert "missing" in (ws.verify(version.id) or "")
    finally:
        Path(path).write_bytes(saved)
    assert ws.verify(version.id) is None


def test_same_version_with_one_and_two_workers(tmp_path: Path, bpe_file: Path) -> None:
    (tmp_path / "tokenizer.json").write_bytes(bpe_file.read_bytes())
    write_corpus(tmp_path, docs=60)
    ids = []
    for workers in (1, 2):
        ws = dm.Workspace.init(tmp_path / f"ws{workers}")
        try:
            for strategy in ("chunk", "bfd"):
                run = dm.Pipeline.from_dict(pack_spec(strategy, 128), base_dir=tmp_path).run(ws, workers=workers)
                ids.append((strategy, run.step("packed").output))
        finally:
            ws.close()
    assert ids[:2] == ids[2:]


def test_null_ids_are_dropped_and_bad_columns_are_clear_errors(tmp_path: Path) -> None:
    ws = dm.Workspace.init(tmp_path / "ws")
    try:
        tokens = pa.array([[1, 2, 3], None, [4, 5]], pa.list_(pa.uint32()))
        ws.write("toks", pa.table({"id": ["a", "b", "c"], "tokens": tokens}))
        spec = {"name": "p", "steps": [
            {"id": "in", "uses": "read.dataset", "with": {"ref": "toks"}},
            {"id": "packed", "uses": "llm.pack", "input": "in", "with": {"block": 4}}]}
        step = dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws).step("packed")
        assert step.dropped == {"no_tokens": 1} and step.rows_in == 3
        row = ws.open("p.packed").to_arrow().to_pylist()
        assert [r["dtype"] for r in row] == ["uint32", "uint32"] and sum(r["tokens"] for r in row) == 5
        ws.write("texts", pa.table({"id": ["a"], "tokens": ["not ids"]}))
        spec["steps"][0]["with"]["ref"] = "texts"
        with pytest.raises(dm.ConfigError, match="not a list of token ids"):
            dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)
    finally:
        ws.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=30), st.integers(1, 16), st.integers(1, 4))
def test_chunk_packer_streams_like_one_cut(lengths: list[int], block: int, parts: int) -> None:
    tokens = np.arange(sum(lengths))
    packer = ChunkPacker(block)
    out = []
    bounds = np.linspace(0, len(lengths), parts + 1).astype(int)
    pos = 0
    for lo, hi in itertools.pairwise(bounds):
        chunk = np.array(lengths[lo:hi], np.int64)
        got, seq, _ = packer.feed(tokens[pos:pos + chunk.sum()], chunk)
        assert (seq == block).all()
        out.append(got)
        pos += int(chunk.sum())
    out.append(packer.finish()[0])
    assert np.array_equal(np.concatenate(out), tokens)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 70), min_size=1, max_size=60), st.integers(8, 64))
def test_best_fit_decreasing_fills_bins_without_overflow(lengths: list[int], block: int) -> None:
    doc, _offset, piece = split_long(np.array(lengths), block)
    assert np.bincount(doc, weights=piece).astype(int).tolist() == lengths
    bins = best_fit_decreasing(piece, block)
    fill = np.bincount(bins, weights=piece)
    assert (fill <= block).all()
    # Best fit never opens a bin that an item could have gone in: at most one bin is half empty.
    assert (fill <= block / 2).sum() <= 1


def test_bucket_batches_respect_the_token_budget_and_cover_everything() -> None:
    lengths = np.random.default_rng(0).integers(1, 500, 1000)
    batches = bucket_batches(lengths, batch_size=16, max_tokens=2048, pad_multiple=8, window=10)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    for b in batches:
        assert len(b) == 1 or (-(-lengths[b].max() // 8) * 8) * len(b) <= 2048
