"""tokenize.train and the CLI's tokenizer, tokenize and stream-check on real text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pytest
from tokenizers import Tokenizer
from typer.testing import CliRunner

import datamill as dm
from datamill.cli.main import app
from datamill.llm.train import train_tokenizer
from tests.dedup.common import corpus_rows

runner = CliRunner()


@pytest.mark.parametrize("model", ["bpe", "unigram"])
def test_trained_tokenizers_round_trip_text(model: str) -> None:
    texts = [r["text"] for r in corpus_rows(150)]
    tokenizer = train_tokenizer(texts, model=model, vocab_size=1500)
    assert 1000 <= tokenizer.get_vocab_size() <= 1500
    assert tokenizer.token_to_id("<|endoftext|>") == 0
    sample = texts[3][:500]
    decoded = tokenizer.decode(tokenizer.encode(sample).ids)
    assert decoded.split() == sample.split()


def test_bad_model_is_a_clear_error() -> None:
    with pytest.raises(dm.ConfigError, match="bpe"):
        train_tokenizer(["x"], model="wordpiece")


@pytest.fixture
def cli_workspace(tmp_path: Path) -> Path:
    rows = corpus_rows(120, offset=2000)
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert runner.invoke(app, ["init", "."]).exit_code == 0
        assert runner.invoke(app, ["ingest", "docs.jsonl", "--to", "docs"]).exit_code == 0
        yield tmp_path
    finally:
        os.chdir(old)


def invoke_json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_train_tokenize_and_stream_check_end_to_end(cli_workspace: Path) -> None:
    trained = invoke_json(["train-tokenizer", "docs", "--vocab-size", "1200", "-o", "tok.json", "--no-progress"])
    assert trained["vocab_size"] == 1200 and Path("tok.json").is_file()
    assert Tokenizer.from_file("tok.json").token_to_id("<|endoftext|>") == 0
    report = invoke_json(["tokenize", "docs", "--tokenizer", "tok.json", "--pack", "256", "--no-progress"])
    assert report["strategy"] == "chunk" and report["documents"] == 120
    assert report["sequences"] == -(-report["tokens"] // 256)
    assert report["pad_fraction"] < 256 / report["tokens"] and report["truncated_fraction"] == 0.0
    check = invoke_json(["stream-check", "docs.tokens", "--world-size", "3", "--workers", "0"])
    assert check["coverage"] == 1.0 and check["duplicates"] == 0 and check["tokens_per_s"] > 0
    assert sum(r["sequences"] for r in check["ranks"]) == report["sequences"]
    bucket = invoke_json(["tokenize", "docs", "--tokenizer", "tok.json", "--bucket", "--out", "docs.docs",
                          "--no-progress"])
    assert bucket["sequences"] == 120 and bucket["pad_fraction"] < 0.05
    again = invoke_json(["tokenize", "docs", "--tokenizer", "tok.json", "--pack", "256", "--no-progress"])
    assert [s["status"] for s in again["run"]["steps"]][1:] == ["cached", "cached"]


def test_cli_errors_say_what_to_do(cli_workspace: Path, tmp_path: Path) -> None:
    both = runner.invoke(app, ["tokenize", "docs", "--tokenizer", "x.json", "--pack", "8", "--bucket"])
    assert both.exit_code != 0 and "not both" in both.output
    missing = runner.invoke(app, ["tokenize", "docs", "--tokenizer", "missing.json", "--pack", "8"])
    assert missing.exit_code != 0 and "no tokenizer at" in missing.output
    from tokenizers import models

    Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]")).save("plain.json")
    no_eos = runner.invoke(app, ["tokenize", "docs", "--tokenizer", "plain.json", "--pack", "8"])
    assert no_eos.exit_code != 0 and "--eos" in no_eos.output
    ws = dm.Workspace.find(".")
    try:
        ws.write("notes", pa.table({"id": ["a"], "text": [""]}))
    finally:
        ws.close()
    empty = runner.invoke(app, ["train-tokenizer", "notes", "-o", "t.json", "--no-progress"])
    assert empty.exit_code != 0 and "no text to train on" in empty.output
    not_tokens = runner.invoke(app, ["stream-check", "docs"])
    assert not_tokens.exit_code != 0 and "not a token version" in not_tokens.output
