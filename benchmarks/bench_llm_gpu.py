"""A small causal LM trained on a GPU from datamill's StreamingDataset, and from the recipe's
dataset and DataLoader beside it (issue 10): the share of step time spent waiting for data, and
tokens/s into the model.

Model: a Llama-style decoder from ``transformers`` (6 layers, width 512, 8 heads, vocabulary
32,000, context 2048), bf16 autocast, fused AdamW; batches of 8 x 2048 tokens; ``--steps`` steps
per side (the first ``--warmup`` not counted). Each step synchronises the GPU at its end, so the
time spent in ``next(loader)`` is time the GPU sat idle: ``wait share = wait / step time``.

Data: the shared corpus (``../shared/data/corpus/docs.jsonl``), a 32k byte-level BPE
(``benchmarks/llm_peers.train_bpe``), 2048-token blocks.

* datamill: ``StreamingDataset`` over the token version ``datamill tokenize --pack 2048`` wrote,
  ``dataset.loader(num_workers=W, pin_memory=True)``; batches carry ``position_ids``.
* recipe: ``llm_peers.recipe_hf`` (``datasets.map`` tokenize + ``group_texts``, saved), loaded with
  ``load_from_disk(...).with_format("torch")`` into ``DataLoader(batch_size=8, shuffle=True,
  num_workers=W, pin_memory=True, drop_last=True)``.

Runs where a GPU is (the lent device machine): prepare the inputs here with ``--prepare DIR``
(the token workspace and the tokenizer; wheels for what the GPU machine lacks are carried beside
them), then on the GPU machine::

    python benchmarks/bench_llm_gpu.py --inputs DIR --steps 300 --workers 4
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(folder: Path) -> None:
    """The token workspace, the tokenizer and the documents, for the GPU machine."""
    from benchmarks.bench_llm_tokenize import pack_run, store_texts
    from benchmarks.llm_peers import CORPUS, load_docs, train_bpe

    import datamill as dm

    folder.mkdir(parents=True, exist_ok=True)
    docs = load_docs()
    tokenizer = train_bpe(docs, 32_000)
    shutil.copyfile(tokenizer, folder / "tokenizer.json")
    shutil.copyfile(CORPUS, folder / "docs.jsonl")
    ws = dm.Workspace.init(folder / "ws")
    try:
        store_texts(ws, "corpus", docs)
        pack_run(ws, "corpus", str(folder / "tokenizer.json"), "chunk", 2048)
        text = ws.open("corpus").shards
    finally:
        ws.close()
    for shard in text:  # the text is not needed on the GPU machine: only the token shards travel
        (folder / "ws" / ".datamill" / "objects" / shard["path"]).unlink()


def model(vocab: int) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=vocab, hidden_size=512, intermediate_size=1376, num_hidden_layers=6,
                         num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=2048,
                         attn_implementation="sdpa")
    torch.manual_seed(0)
    return LlamaForCausalLM(config).cuda()


def train(loader: Any, steps: int, warmup: int, keys: tuple[str, ...]) -> dict[str, Any]:
    import torch

    net = model(32_000)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-4, fused=True)
    iterator = iter(loader)
    waits, totals, tokens, losses = [], [], 0, []
    for step in range(steps):
        started = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:  # a new epoch: the iterator is made again, as a training loop does
            iterator = iter(loader)
            batch = next(iterator)
        got = time.perf_counter()
        inputs = {k: batch[k].cuda(non_blocking=True) for k in keys}
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = net(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        done = time.perf_counter()
        if step >= warmup:
            waits.append(got - started)
            totals.append(done - started)
            tokens += inputs["input_ids"].numel()
        losses.append(float(loss.detach()))
    return {"wait_share": sum(waits) / sum(totals), "tokens_per_s": tokens / sum(totals),
            "step_ms": statistics.median(totals) * 1e3, "wait_ms_median": statistics.median(waits) * 1e3,
            "wait_ms_max": max(waits) * 1e3,
            "slowest_waits_ms": sorted(((round(w * 1e3, 1), i + warmup) for i, w in enumerate(waits)),
                                       reverse=True)[:5],
            "loss_first": losses[0], "loss_last": losses[-1],
            "steps": steps, "warmup": warmup}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", type=Path, default=None)
    parser.add_argument("--inputs", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    if args.prepare:
        prepare(args.prepare)
        return 0
    import torch
    from benchmarks.llm_peers import load_docs, recipe_hf
    from torch.utils.data import DataLoader

    import datamill as dm
    from datamill.llm import StreamingDataset

    inputs = args.inputs
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}; {args.workers} DataLoader workers; "
          f"{args.steps} steps of 8 x 2048 tokens ({args.warmup} warm-up steps not counted)", flush=True)
    results = {}
    ws = dm.Workspace.find(inputs / "ws")
    dataset = StreamingDataset("corpus.chunk", workspace=ws, batch_size=8, seed=0)
    results["datamill"] = train(dataset.loader(num_workers=args.workers, pin_memory=True), args.steps,
                                args.warmup, ("input_ids", "labels", "position_ids"))
    print("datamill", json.dumps(results["datamill"]), flush=True)
    scratch = Path(tempfile.mkdtemp())
    made = recipe_hf(load_docs(inputs / "docs.jsonl"), str(inputs / "tokenizer.json"), str(scratch / "recipe"),
                     2048, concat="chain")
    import datasets

    recipe = datasets.load_from_disk(str(scratch / "recipe")).with_format("torch")
    loader = DataLoader(recipe, batch_size=8, shuffle=True, num_workers=args.workers, pin_memory=True,
                        drop_last=True, generator=torch.Generator().manual_seed(0))
    results["recipe"] = train(loader, args.steps, args.warmup, ("input_ids", "labels"))
    results["recipe"]["prepare_s"] = made["seconds"]
    print("recipe", json.dumps(results["recipe"]), flush=True)
    print(f"\n{'side':10s} {'wait share':>11s} {'M tokens/s':>11s} {'step ms':>8s} {'wait ms (median/max)':>21s} "
          f"{'loss first→last':>16s}")
    for name, r in results.items():
        print(f"{name:10s} {r['wait_share']:11.2%} {r['tokens_per_s'] / 1e6:11.3f} {r['step_ms']:8.1f} "
              f"{r['wait_ms_median']:10.2f} / {r['wait_ms_max']:8.2f} {r['loss_first']:7.2f}→{r['loss_last']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
