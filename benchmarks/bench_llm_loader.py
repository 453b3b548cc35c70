"""Streaming token batches into PyTorch (issue 10): datamill's StreamingDataset against a bare
np.memmap IterableDataset, HF datasets, webdataset and mosaicml-streaming.

Data: the corpus of ``../shared/data/corpus/docs.jsonl`` (public-domain books and speeches; see
its README) tokenized once with a 32,000-token BPE (``benchmarks/llm_peers``), EOS after each
document, cut into 2048-token blocks: every side reads the same token stream, each in its own
format (written beforehand, not timed). Peers come from ``benchmarks/requirements-llm.txt``; a
peer that does not install is reported as such.

Each measurement runs in a fresh child process (DataLoader workers then fork from a small
parent), reads one epoch of 8 x 2048 batches and touches each (``input_ids.sum()``); tokens/s
runs from ``iter(loader)`` to the last batch, so worker start-up counts. Sides alternate order
over ``--reps`` reps; the median is reported. datamill delivers ``input_ids``, ``labels``,
``position_ids`` and ``attention_mask`` (shuffled); the bare side only ``input_ids`` (in order).

Bars (issue 10), at 0 and 2 workers: datamill >= HF datasets, webdataset and mosaicml-streaming,
and >= 0.5x the bare memmap; peak RSS the same (+-50 MB) for the corpus and 4 copies of it; the
first batch within 1 s of starting an epoch.

    .venv/bin/python benchmarks/bench_llm_loader.py              # 3 reps (about 3 minutes)

Exit status 1 when a bar measured fails.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.llm_peers import (  # noqa: E402
    PEERS,
    PeerUnavailable,
    _consume,
    bare_encode,
    load_docs,
    peak_rss_mb,
    train_bpe,
)

BLOCK, BATCH = 2048, 8
SIDES = ["datamill", *PEERS]


def prepare(scratch: Path, copies: int) -> dict[str, Any]:
    """Every side's files from one token stream; datamill's token version ``corpus.chunk`` through
    `datamill tokenize`'s pipeline (llm.tokenize → llm.pack)."""
    from benchmarks.bench_llm_tokenize import pack_run, store_texts

    import datamill as dm

    docs = load_docs(copies=copies)
    tokenizer = train_bpe(load_docs(), 32_000)
    bare = bare_encode(docs, tokenizer, str(scratch / "bare"), BLOCK)
    prepared: dict[str, Any] = {"copies": copies, "tokens": int(np.memmap(bare["path"], np.uint16, mode="r").size)}
    for name, (make, _) in PEERS.items():
        try:
            prepared[name] = make(bare["path"], str(scratch / name), BLOCK)
        except PeerUnavailable as err:
            prepared[name] = {"unavailable": err.why}
    ws = dm.Workspace.init(scratch / "datamill")
    try:
        store_texts(ws, "corpus", docs)
        pack_run(ws, "corpus", tokenizer, "chunk", BLOCK)
    finally:
        ws.close()
    prepared["datamill"] = {"path": str(scratch / "datamill")}
    return prepared


def child(side: str, workers: int, prepared: dict[str, Any]) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    if side == "datamill":
        import datamill as dm
        from datamill.llm import StreamingDataset

        ws = dm.Workspace.find(prepared["datamill"]["path"])
        dataset = StreamingDataset("corpus.chunk", workspace=ws, batch_size=BATCH, seed=0)
        ws.close()
        result = _consume(lambda: dataset.loader(num_workers=workers), 10**12, 1, lambda b: b["input_ids"])
    else:
        result = PEERS[side][1](prepared[side], workers, 10**12, BATCH, BLOCK)
    memory = peak_rss_mb()
    return {"tokens_per_s": result["tokens_per_s"], "first_batch_s": result["first_batch_s"],
            "batches": result["batches"], "rss_mb": memory["self_peak"], "children_rss_mb": memory["children_peak"]}


def measure(side: str, workers: int, prepared: dict[str, Any]) -> dict[str, Any]:
    if "unavailable" in prepared.get(side, {}):
        return {"unavailable": prepared[side]["unavailable"]}
    out = subprocess.run([sys.executable, __file__, "--child", side, "--workers", str(workers)],
                         input=json.dumps(prepared), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"unavailable": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, int(args.workers), json.loads(sys.stdin.read()))))
        return 0
    scratch = Path(tempfile.mkdtemp(prefix="bench_llm_loader_"))
    failures: list[str] = []
    try:
        prepared = prepare(scratch / "x1", 1)
        print(f"token stream: {prepared['tokens']:,} tokens → {prepared['tokens'] // BLOCK:,} blocks of {BLOCK}; "
              f"batches of {BATCH}")
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        worker_counts = [int(w) for w in args.workers.split(",")]
        for rep in range(args.reps):
            order = SIDES[rep % len(SIDES):] + SIDES[:rep % len(SIDES)]
            for workers in worker_counts:
                for side in order:
                    runs.setdefault((side, workers), []).append(measure(side, workers, prepared))
            print(f"  rep {rep + 1} done", flush=True)
        print(f"\n{'side':18s} {'workers':>7s} {'M tokens/s':>11s} {'first batch':>12s} {'peak RSS':>9s} "
              f"{'workers RSS':>12s}")
        medians: dict[tuple[str, int], float] = {}
        for (side, workers), results in runs.items():
            if any("unavailable" in r for r in results):
                print(f"{side:18s} {workers:7d}  did not run: {results[0]['unavailable']}")
                continue
            medians[side, workers] = statistics.median(r["tokens_per_s"] for r in results)
            first = max(r["first_batch_s"] for r in results)
            print(f"{side:18s} {workers:7d} {medians[side, workers] / 1e6:11.1f} {first * 1e3:9.0f} ms "
                  f"{max(r['rss_mb'] for r in results):6.0f} MB {max(r['children_rss_mb'] for r in results):9.0f} MB")
            if side == "datamill" and first > 1.0:
                failures.append(f"first batch {first:.2f} s at {workers} workers")
        print()
        for workers in worker_counts:
            ours = medians.get(("datamill", workers))
            if ours is None:
                continue
            for side in PEERS:
                theirs = medians.get((side, workers))
                if theirs is None:
                    continue
                bar = 0.5 if side == "bare_memmap" else 1.0
                verdict = "PASS" if ours / theirs >= bar else "FAIL"
                print(f"workers {workers}: datamill / {side}: {ours / theirs:.2f} (bar >= {bar}) {verdict}")
                if verdict == "FAIL":
                    failures.append(f"{side} at {workers} workers")
        big = prepare(scratch / "x4", 4)
        rss = {}
        for copies, prep in ((1, prepared), (4, big)):
            result = measure("datamill", 2, prep)
            rss[copies] = result["rss_mb"] + result["children_rss_mb"]
            print(f"datamill, 2 workers, corpus x{copies} ({prep['tokens']:,} tokens): peak RSS "
                  f"{result['rss_mb']:.0f} MB + workers {result['children_rss_mb']:.0f} MB")
        grew = rss[4] - rss[1]
        print(f"peak RSS grew by {grew:+.0f} MB for 4x the corpus (bar: within +-50 MB) "
              f"{'PASS' if abs(grew) <= 50 else 'FAIL'}")
        if abs(grew) > 50:
            failures.append("RSS grows with the corpus")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\n" + ("FAILED: " + "; ".join(failures) if failures else "every bar measured holds"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
