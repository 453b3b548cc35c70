from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import datamill as dm
from datamill.core.errors import PipelineError
from datamill.dedup import _kernels as k
from datamill.dedup.lsh import candidate_probability, optimal_bands
from datamill.dedup.minhash import MinHashDedup, _as_text_array, _buffers, near_duplicates, signatures
from datamill.dedup.shingles import char_shingles, hashed_shingles, jaccard, shingles
from datamill.testing import make_batch, run_step
from tests.dedup.common import near_copies, near_dedup_10k_spec, write_10k_near_copies

# Words, separators of every class the rules name, and characters around their edges.
_ALPHABET = st.sampled_from([*"abcXYZ019 \t\n.,;'\"-_", "é", "É", "ß", "\u00a0", "«", "»", "—", "’", "“",
                             "\u2070", "中", "文", "😀", "\u00bf", "\u00c0", "\u1fff", "\u2000", "\u206f"])


@settings(max_examples=300, deadline=None)
@given(st.text(_ALPHABET, max_size=80), st.integers(1, 6))
def test_compiled_shingles_follow_the_reference_rules(text: str, n: int) -> None:
    array = _as_text_array([text])
    data, offsets, _ = _buffers(array)
    assert len(k.doc_shingles(data, int(offsets[0]), int(offsets[1]), n)) == len(shingles(text, n))


@settings(max_examples=300, deadline=None)
@given(st.text(_ALPHABET, max_size=80), st.integers(1, 8))
def test_compiled_character_shingles_follow_the_reference_rules(text: str, n: int) -> None:
    hashes, _ = hashed_shingles([text], n, unit="char")
    assert len(np.unique(hashes)) == len(char_shingles(text, n))


def test_character_shingles_catch_copies_that_word_shingles_miss() -> None:
    # Short texts with one word changed: few word 5-grams survive, most character 5-grams do.
    a = "the quick brown fox jumps over the lazy dog near the river bank"
    b = "the quick brown fox jumped over the lazy dog near the river bank"
    assert jaccard(shingles(a), shingles(b)) < 0.6 < 0.8 <= jaccard(char_shingles(a), char_shingles(b))
    assert near_duplicates([a, b], unit="char", verify="exact").duplicates.tolist() == [1]
    assert near_duplicates([a, b], verify="exact").duplicates.tolist() == []
    result = run_step(MinHashDedup(shingle="char"), [make_batch(id=["a", "b"], text=[a, b])])
    assert result.output["id"].to_pylist() == ["a"]


@settings(max_examples=100, deadline=None)
@given(st.text(_ALPHABET, max_size=60), st.text(_ALPHABET, max_size=60))
def test_equal_shingle_sets_give_equal_signatures(a: str, b: str) -> None:
    sig, counts = signatures([a, b, a + " " + b], num_perm=16)
    if shingles(a) == shingles(b):
        assert (sig[0] == sig[1]).all()
    assert (counts > 0).tolist() == [bool(shingles(t)) for t in (a, b, a + " " + b)]


def test_signature_estimates_jaccard_without_bias() -> None:
    texts = near_copies(200)
    rng = random.Random(1)
    errors = []
    for text in texts[:150]:
        words = text.split()
        copy = " ".join(w if rng.random() > 0.05 else "zzz" for w in words)
        sig, _ = signatures([text, copy])
        errors.append(float((sig[0] == sig[1]).mean()) - jaccard(shingles(text), shingles(copy)))
    assert abs(np.mean(errors)) < 0.01  # unbiased
    assert np.std(errors) < 0.06  # sqrt(J(1-J)/128) is at most 0.044


def test_null_invalid_utf8_and_wordless_texts_never_match() -> None:
    bad = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(np.array([0, 2], np.int32).tobytes()),
                                                 pa.py_buffer(b"a\xff")])
    texts = pa.concat_arrays([pa.array([None, "", "...", None, "!!"], pa.string()), bad])
    found = near_duplicates(texts)
    assert found.cluster.tolist() == list(range(6))
    assert len(found.pairs) == 0


def test_optimal_bands_matches_datasketch_and_favours_recall_when_verified() -> None:
    assert optimal_bands(0.8, 128) == (9, 13)  # datasketch 2.0 picks 9 x 13 for this
    bands, rows = optimal_bands(0.8, 128, 0.05, 0.95)
    assert candidate_probability(0.85, bands, rows) > 0.99


def test_near_duplicates_finds_copies_and_keeps_the_lowest_rank() -> None:
    texts = near_copies(300)
    found = near_duplicates(texts, verify="exact")
    for i, j in found.pairs:
        assert jaccard(shingles(texts[i]), shingles(texts[j])) >= 0.8
        assert found.cluster[i] == found.cluster[j]
    assert len(found.duplicates) >= 60
    assert all(found.cluster[i] < i for i in found.duplicates)  # the survivor is the first
    reverse = near_duplicates(texts, verify="exact", rank=np.arange(len(texts))[::-1].copy())
    assert set(reverse.duplicates) != set(found.duplicates)
    assert (reverse.sizes == found.sizes).all()


def test_threads_give_the_same_signatures() -> None:
    texts = near_copies(300) * 20
    one, _ = signatures(texts)
    two, _ = signatures(texts, workers=2)
    assert (one == two).all()


def _batch(texts: list[str]) -> pa.RecordBatch:
    return make_batch(id=[f"doc{i:05d}" for i in range(len(texts))], text=texts)


@pytest.mark.parametrize("verify", ["signature", "exact", "none"])
def test_step_drops_duplicates_the_same_whatever_the_partitioning(verify: str) -> None:
    batch = _batch(near_copies(400))
    step = MinHashDedup(verify=verify)
    whole = run_step(step, [batch])
    parts = run_step(step, partitions=[[batch.slice(0, 97)], [batch.slice(97, 150), batch.slice(247)]])
    assert whole.ledger.balanced and parts.ledger.balanced
    assert whole.ledger.rows_in == 400 == whole.output.num_rows + whole.ledger.dropped["near_duplicate"]
    assert sorted(whole.output["id"].to_pylist()) == sorted(parts.output["id"].to_pylist())
    assert whole.side is not None and parts.side is not None
    assert whole.side.sort_by("id").equals(parts.side.sort_by("id"))
    removed = set(whole.side["id"].to_pylist())
    assert removed.isdisjoint(whole.output["id"].to_pylist())
    assert set(whole.side["duplicate_of"].to_pylist()) <= set(whole.output["id"].to_pylist())
    assert set(whole.side["reason"].to_pylist()) == {"near_duplicate"}


def test_keep_longest_and_best_choose_the_survivor() -> None:
    base = "the quick brown fox jumps over the lazy dog near the river bank today"
    batch = make_batch(id=["a", "b", "c"], text=[base, base + " and again", base + " and again!"],
                       score=[0.1, 0.9, 0.5])
    longest = run_step(MinHashDedup(keep="longest", threshold=0.7, verify="exact"), [batch])
    assert longest.output["id"].to_pylist() == ["b"]  # b and c tie on length: the smaller id wins
    best = run_step(MinHashDedup(keep="best", score_column="score", threshold=0.7, verify="exact"), [batch])
    assert best.output["id"].to_pylist() == ["b"]
    first = run_step(MinHashDedup(threshold=0.7, verify="exact"), [batch])
    assert first.output["id"].to_pylist() == ["a"]
    assert first.side is not None and first.side["duplicate_of"].to_pylist() == ["a", "a"]


def test_annotate_keeps_every_row_and_names_its_cluster() -> None:
    texts = ["one two three four five six", "one two three four five six", "seven eight nine ten eleven"]
    result = run_step(MinHashDedup(mode="annotate"), [make_batch(id=["x", "y", "z"], text=texts)])
    rows = {r["id"]: r for r in result.output.to_pylist()}
    assert result.ledger.rows_out == 3
    assert rows["y"]["duplicate_of"] == "x" and rows["x"]["duplicate_of"] is None
    assert rows["x"]["cluster_id"] == rows["y"]["cluster_id"] == "x" and rows["x"]["cluster_size"] == 2
    assert rows["z"]["cluster_id"] == "z" and rows["z"]["cluster_size"] == 1


def test_repeated_ids_are_refused_with_a_clear_error() -> None:
    batch = make_batch(id=["a", "a"], text=["some words here today", "other words there"])
    with pytest.raises(PipelineError, match="ids must be unique"):
        run_step(MinHashDedup(), [batch])


def test_config_errors_say_what_to_set() -> None:
    with pytest.raises(dm.ConfigError, match="score_column"):
        MinHashDedup(keep="best")
    with pytest.raises(dm.ConfigError, match="both `bands` and `rows`"):
        MinHashDedup(bands=4)
    with pytest.raises(dm.ConfigError, match="num_perm"):
        MinHashDedup(bands=20, rows=10)


def test_empty_input() -> None:
    result = run_step(MinHashDedup(), [make_batch(id=[], text=[])])
    assert result.output.num_rows == 0 and result.ledger.balanced


@pytest.mark.slow
def test_pipeline_same_survivors_and_version_with_one_and_two_workers(tmp_path: Path) -> None:
    """Issue 6's determinism check on 10k documents, through the real runner and store."""
    spec = near_dedup_10k_spec(write_10k_near_copies(tmp_path / "docs.jsonl"))
    versions = []
    for workers in (1, 2):
        ws = dm.Workspace.init(tmp_path / f"ws{workers}")
        result = dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, workers=workers)
        report = result.step("near")
        assert report.explained is not None and report.explained.startswith("dd.near.removed@")
        assert report.rows_in == 10_000 == report.rows_out + report.dropped["near_duplicate"]
        assert report.dropped["near_duplicate"] > 2000
        versions.append((report.output, report.explained))
    assert versions[0] == versions[1]


def test_new_documents_are_checked_against_an_earlier_index(tmp_path: Path) -> None:
    """`save_index` keeps the survivors' signatures; `against` checks new documents with them."""
    texts = near_copies(300)
    old = [{"id": f"a{i:04d}", "text": t} for i, t in enumerate(texts[:200])]
    rng = random.Random(5)
    # New: copies of old documents (a word or two changed), copies among themselves, and new text.
    new = [{"id": f"b{i:04d}", "text": " ".join(w for w in texts[i].split() if rng.random() > 0.01)}
           for i in range(0, 40)]
    new += [{"id": f"c{i:04d}", "text": t} for i, t in enumerate(texts[200:])]
    new += [{"id": "d0000", "text": texts[250]}]
    ws = dm.Workspace.init(tmp_path / "ws")
    ws.write("old", pa.Table.from_pylist(old))
    ws.write("new", pa.Table.from_pylist(new))

    def run(ref: str, **options: object) -> dm.RunResult:
        spec = {"name": "corpus", "steps": [
            {"id": "docs", "uses": "read.dataset", "with": {"ref": ref}},
            {"id": "near", "uses": "dedup.minhash", "input": "docs", "with": {"save_index": True, **options}}]}
        return dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    first = run("old")
    index = ws.open("corpus.near.index")
    assert index.num_rows == first.step("near").rows_out  # the survivors only
    second = run("new", against="corpus.near.index")
    removed = ws.open(second.step("near").explained or "").to_arrow().to_pylist()
    by_id = {r["id"]: r["duplicate_of"] for r in removed}
    survivors_of_old = set(index.to_arrow()["id"].to_pylist())
    assert all(by_id.get(f"b{i:04d}") in survivors_of_old for i in range(40) if f"a{i:04d}" in survivors_of_old)
    assert by_id["d0000"] == "c0050"  # a copy among the new documents: the smaller id survives
    grown = ws.open("corpus.near.index")
    assert grown.num_rows == index.num_rows + second.step("near").rows_out
    # A newer index is a new input: the same step runs again instead of coming from the cache.
    # Documents it holds already (same ids) are the same documents: kept, and not indexed twice.
    third = run("new", against="corpus.near.index")
    assert third.step("near").status == "ran"
    assert third.step("near").rows_out == second.step("near").rows_out
    assert ws.open("corpus.near.index").num_rows == grown.num_rows
    with pytest.raises(dm.ConfigError, match="was built with"):
        run("new", against="corpus.near.index", num_perm=64)
