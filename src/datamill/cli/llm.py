"""``datamill tokenize`` and ``datamill stream-check``: a text version to token shards, and proof
that the streaming loader reads each sequence once over ranks and workers.

``tokenize`` runs a recorded pipeline (``read.dataset`` → ``llm.tokenize`` → ``llm.pack``), so
the token version has lineage back to the text and the tokenizer, and a second call is a cache
hit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, pipeline_name, workspace
from datamill.cli.render import console, human_bytes, print_json, run_table, table
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["stream_check", "tokenize", "tokenize_spec", "train_tokenizer"]

# End-of-document tokens of common tokenizers, tried in this order when --eos is not given.
EOS_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]")


def _default_eos(tokenizer_path: str) -> str | None:
    from datamill.llm.tokenizers import load_tokenizer

    vocab = load_tokenizer(tokenizer_path, "datamill tokenize")[0].get_vocab()
    return next((t for t in EOS_CANDIDATES if t in vocab), None)


def tokenize_spec(ref: str, tokenizer: str, *, out: str | None, strategy: str, block: int,
                  eos: str | None, bos: str | None = None, text_column: str = "text") -> dict[str, Any]:
    """The pipeline ``datamill tokenize`` runs (a dict for ``Pipeline.from_dict``)."""
    tokenize: dict[str, Any] = {"tokenizer": tokenizer, "text_column": text_column, "eos_token": eos}
    if bos:
        tokenize["bos_token"] = bos
    return {"name": pipeline_name("tokenize", ref), "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
        {"id": "tokens", "uses": "llm.tokenize", "input": "input", "with": tokenize},
        {"id": "packed", "uses": "llm.pack", "input": "tokens", "with": {"strategy": strategy, "block": block}},
    ], "outputs": {out or f"{ref.split('@', 1)[0]}.tokens": "packed"}}


def tokenize(
    ref: Annotated[str, typer.Argument(help="The text dataset: name, name@3 or name@<hash>.")],
    tokenizer: Annotated[str, typer.Option(help="A tokenizer.json, or a model folder holding one.")],
    pack: Annotated[int | None, typer.Option(
        "--pack", min=2, help="Pack into blocks of this many tokens (concatenate and cut; see --bfd).")] = None,
    bfd: Annotated[bool, typer.Option(
        "--bfd", help="With --pack: best-fit decreasing, never splitting a document shorter than the block.")] = False,
    bucket: Annotated[bool, typer.Option(
        "--bucket", help="Keep one sequence per document, for length-bucketed batches.")] = False,
    eos: Annotated[str | None, typer.Option(help="The end-of-document token (default: the tokenizer's own, "
                                                 f"one of {', '.join(EOS_CANDIDATES)}).")] = None,
    bos: Annotated[str | None, typer.Option(help="A token put before every document.")] = None,
    text_column: Annotated[str, typer.Option("--text-column", help="The column of text.")] = "text",
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size the padding figure assumes.")] = 8,
    out: Annotated[str | None, typer.Option("--out", help="Name of the token dataset (default NAME.tokens).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (tokenizers already uses every core "
                                                     "inside one).")] = 1,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Tokenize a text dataset into token shards, packed for training; report tokens and padding.

    --pack N concatenates documents (EOS between them) and cuts N-token blocks; add --bfd to pack
    whole documents instead. --bucket keeps one sequence per document and reports the padding of
    length-bucketed batches. The --json report has tokens, sequences, pad_fraction and
    truncated_fraction.
    """
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    try:
        if pack is not None and bucket:
            raise ConfigError("give --pack N or --bucket, not both")
        if bfd and pack is None:
            raise ConfigError("--bfd packs into blocks: give --pack N too (e.g. --pack 2048 --bfd)")
        strategy = "none" if pack is None else ("bfd" if bfd else "chunk")
        path = str(Path(tokenizer).expanduser().resolve())
        eos = eos or _default_eos(path)
        if eos is None and strategy != "none":
            raise ConfigError(f"the tokenizer has none of {', '.join(EOS_CANDIDATES)}; give --eos TOKEN so packed "
                              "documents stay apart")
        ws = workspace()
        spec = tokenize_spec(ref, path, out=out, strategy=strategy, block=pack or 2048, eos=eos, bos=bos,
                             text_column=text_column)
        started = time.perf_counter()
        result = Pipeline.from_dict(spec).run(ws, workers=workers, reporter=make_reporter(progress)).to_dict()
        seconds = time.perf_counter() - started
        report = {"input": ref, **tokenize_report(ws, result, strategy=strategy, block=pack,
                                                  batch_size=batch_size, seconds=seconds)}
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    console.print(run_table(report["run"]))
    blocks = "" if report["block"] is None else f", {report['block']}-token blocks"
    console.print(
        f"{report['documents']:,} documents → {report['tokens']:,} tokens in {report['sequences']:,} sequences "
        f"({report['strategy']}{blocks}) · "
        f"{report['shards']} shard(s), {human_bytes(report['bytes'])} · pad {report['pad_fraction']:.2%} · "
        f"truncated {report['truncated_fraction']:.2%} · {report['output']}", markup=False)


def tokenize_report(ws: Any, result: dict[str, Any], *, strategy: str, block: int | None, batch_size: int,
                    seconds: float) -> dict[str, Any]:
    """Tokens, sequences, padding and truncation of a ``tokenize`` run (the --json form)."""
    import numpy as np

    from datamill.llm.packing import bucket_batches, pad_fraction
    from datamill.llm.shards import TokenShard

    step = next(s for s in result["steps"] if s["id"] == "packed")
    rows = ws.open(step["output"]).to_arrow().to_pylist()
    sequences = sum(r["sequences"] for r in rows)
    tokens = sum(r["tokens"] for r in rows)
    if strategy == "none":
        # Padding is decided when batches are made: report what length bucketing gives.
        lengths = np.concatenate([TokenShard.open(ws.objects, r).lengths() for r in rows]) if rows else np.zeros(0)
        batches = bucket_batches(lengths, batch_size=batch_size)
        widths = np.array([lengths[b].max() * len(b) for b in batches]) if batches else np.zeros(0)
        pad = pad_fraction(lengths, widths)
    else:
        assert block is not None
        pad = float(step["metrics"].get("pad_tokens", 0)) / max(1, sequences * block)
    return {
        "output": next(iter(result["outputs"].values()), None),
        "strategy": strategy, "block": block, "documents": int(step["metrics"].get("documents", 0)),
        "tokens": tokens, "sequences": sequences, "shards": len(rows), "bytes": sum(r["bytes"] for r in rows),
        "pad_fraction": pad, "truncated_fraction": 0.0, "seconds": seconds,
        "tokenizer_sha256": rows[0]["tokenizer_sha256"] if rows else None, "run": result,
    }


def stream_check(
    ref: Annotated[str, typer.Argument(help="A token dataset (from `datamill tokenize`).")],
    world_size: Annotated[int, typer.Option("--world-size", min=1, help="Ranks to simulate.")] = 1,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader workers per rank.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Sequences per batch.")] = 8,
    bucket: Annotated[bool, typer.Option(help="Length-bucketed batches.")] = False,
    seed: Annotated[int, typer.Option(help="Shuffle seed.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Read one epoch as every rank would, check each sequence comes exactly once, and time it.

    The --json report has coverage (1.0 when every sequence was seen), duplicates (0) and
    tokens_per_s (real tokens delivered to the training loop per second, all ranks).
    """
    try:
        report = check_stream(workspace(), ref, world_size=world_size, workers=workers, batch_size=batch_size,
                              bucket=bucket, seed=seed)
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
    else:
        console.print(table(["rank", "batches", "sequences", "tokens", "first batch s"],
                            [[r["rank"], f"{r['batches']:,}", f"{r['sequences']:,}", f"{r['tokens']:,}",
                              f"{r['first_batch_s']:.3f}"] for r in report["ranks"]]))
        console.print(f"coverage {report['coverage']:.4f} · duplicates {report['duplicates']:,} · "
                      f"{report['tokens_per_s'] / 1e6:,.1f} M tokens/s · pad {report['pad_fraction']:.2%}",
                      markup=False)
    if report["coverage"] != 1.0 or report["duplicates"]:
        raise typer.Exit(1)


def check_stream(ws: Any, ref: str, *, world_size: int, workers: int, batch_size: int, bucket: bool = False,
                 seed: int = 0) -> dict[str, Any]:
    """Coverage, duplicates and throughput of one epoch over ``world_size`` ranks × ``workers``."""
    try:
        from datamill.llm.stream import StreamingDataset
    except ImportError as err:
        raise ConfigError("stream-check needs PyTorch: pip install 'datamill[torch]'") from err
    import numpy as np

    seen: list[Any] = []
    ranks = []
    real = padded = 0
    started = time.perf_counter()
    total = 0
    for rank in range(world_size):
        ds = StreamingDataset(ref, workspace=ws, batch_size=batch_size, bucket=bucket, seed=seed, rank=rank,
                              world_size=world_size, sample_ids=True)
        total = sum(r["sequences"] for r in ds.rows)
        t0 = time.perf_counter()
        first = None
        batches = tokens = sequences = 0
        for batch in ds.loader(num_workers=workers):
            if first is None:
                first = time.perf_counter() - t0
            ids = batch["sample_ids"].numpy()
            seen.append(ids)
            mask = int(batch["attention_mask"].sum())
            batches, sequences, tokens = batches + 1, sequences + len(ids), tokens + mask
            real, padded = real + mask, padded + batch["input_ids"].numel()
        ranks.append({"rank": rank, "batches": batches, "sequences": sequences, "tokens": tokens,
                      "first_batch_s": first or 0.0})
    seconds = time.perf_counter() - started
    every = np.concatenate(seen) if seen else np.zeros(0, np.int64)
    distinct = len(np.unique(every))
    return {"input": ref, "world_size": world_size, "workers": workers, "batch_size": batch_size,
            "sequences": total, "coverage": distinct / total if total else 1.0,
            "duplicates": int(len(every) - distinct), "tokens_per_s": real / seconds if seconds else 0.0,
            "pad_fraction": 1 - real / padded if padded else 0.0, "seconds": seconds, "ranks": ranks}


def train_tokenizer(
    ref: Annotated[str, typer.Argument(help="The text dataset to train on.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write tokenizer.json.")],
    vocab_size: Annotated[int, typer.Option("--vocab-size", min=64, help="Vocabulary size.")] = 32_000,
    model: Annotated[str, typer.Option(help="bpe (byte-level, GPT-2 style) or unigram.")] = "bpe",
    special: Annotated[list[str] | None, typer.Option(
        "--special", help="A special token (repeat); default <|endoftext|> and <pad>.")] = None,
    text_column: Annotated[str, typer.Option("--text-column", help="The column of text.")] = "text",
    max_chars: Annotated[int, typer.Option("--max-chars", min=1, help="Characters sampled to train on.")] = 200_000_000,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Train a tokenizer on a dataset (a recorded `tokenize.train` run) and write its tokenizer.json.

    The tokenizer is also kept in the store as the run's output, with lineage to the text.
    """
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    try:
        config: dict[str, Any] = {"model": model, "vocab_size": vocab_size, "text_column": text_column,
                                  "max_chars": max_chars}
        if special:
            config["special_tokens"] = list(special)
        spec = {"name": pipeline_name("tokenizer", ref), "steps": [
            {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
            {"id": "tokenizer", "uses": "tokenize.train", "input": "input", "with": config}]}
        ws = workspace()
        result = Pipeline.from_dict(spec).run(ws, reporter=make_reporter(progress)).to_dict()
        step = next(s for s in result["steps"] if s["id"] == "tokenizer")
        row = ws.open(step["output"]).to_arrow().to_pylist()[0]
        output.write_text(row.pop("tokenizer_json"), encoding="utf-8")
        report = {"input": ref, "output": str(output), "version": step["output"], **row}
    except DatamillError as err:
        fail(err, as_json)
    except OSError as err:
        fail(ConfigError(f"cannot write {str(output)!r}: {err}"), as_json)
    if as_json:
        print_json(report)
        return
    console.print(f"{report['model']} tokenizer, {report['vocab_size']:,} tokens, trained on "
                  f"{report['trained_on_texts']:,} texts ({report['trained_on_chars']:,} characters) → "
                  f"{report['output']} (kept as {report['version']})", markup=False)
