"""From a text dataset to training batches, with a checkpoint to resume from (docs/llm.md).

Run inside a datamill workspace that holds a text dataset::

    python docs/examples/llm_training.py corpus tokenizer.json
"""

from __future__ import annotations

import sys
from typing import Any

import datamill as dm
from datamill.llm import StreamingDataset


def tokenize(ws: dm.Workspace, text_ref: str, tokenizer: str, block: int = 2048) -> str:
    """Tokenize and pack ``text_ref`` into ``block``-token shards; return the token version's name."""
    pipeline = dm.Pipeline.from_dict({"name": "tokens", "steps": [
        {"id": "text", "uses": "read.dataset", "with": {"ref": text_ref}},
        {"id": "ids", "uses": "llm.tokenize", "input": "text",
         "with": {"tokenizer": tokenizer, "eos_token": "<|endoftext|>"}},
        {"id": "blocks", "uses": "llm.pack", "input": "ids", "with": {"block": block}},
    ]})
    pipeline.run(ws)
    return "tokens.blocks"


def train(ws: dm.Workspace, tokens: str, steps: int, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``steps`` training steps (here: count tokens); return the loader's state to resume from."""
    dataset = StreamingDataset(tokens, workspace=ws, batch_size=8, seed=0)
    if state is not None:
        dataset.load_state_dict(state)
    loader = dataset.loader(num_workers=2)
    for step, batch in enumerate(loader):
        assert batch["input_ids"].shape == batch["labels"].shape == batch["position_ids"].shape
        if step + 1 == steps:
            break
    return loader.state_dict()


if __name__ == "__main__":
    workspace = dm.Workspace.find()
    name = tokenize(workspace, sys.argv[1], sys.argv[2])
    checkpoint = train(workspace, name, steps=10)
    print("resume from", checkpoint)
    train(workspace, name, steps=10, state=checkpoint)
