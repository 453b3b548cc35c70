"""Peer sides of the issue-10 benchmarks: tokenize, pack, shard and stream LLM training data.

Nothing here imports datamill. Each function is what a user of the peer library would write,
following that library's own tutorial or reference script (named in a comment at each peer),
measured the same way, on the public-domain corpus in ``../shared/data/corpus/docs.jsonl`` and
a byte-level BPE tokenizer trained here on it (cached under ``benchmarks/_data/llm/``; nothing is
downloaded). The datamill sides live in the benchmark scripts that import this module.

Part 1, tokenize and pack into ``block``-token rows written to disk:
    ``recipe_hf``   the HF course / ``run_clm.py`` recipe: ``Dataset.map(tokenize)``,
                    ``.map(group_texts)``, ``save_to_disk``;
    ``bare_encode`` the floor: ``encode_batch`` + EOS + ``np.concatenate`` + one ``.bin`` file.
Part 2, padding: ``padding_baselines`` (pad-to-max and random dynamic padding).
Part 3, reading ``batch_size`` x ``block`` batches through a ``torch.utils.data.DataLoader``:
    ``prepare_<peer>`` writes the peer's format from one uint16 token stream (``bare_encode``'s
    ``tokens.bin``) and ``loader_<peer>`` times the loader, for ``bare_memmap``,
    ``hf_datasets``, ``webdataset`` and ``mosaic_streaming``.

Peers that are not datamill dependencies come from ``benchmarks/requirements-llm.txt``; a peer
that cannot be imported or run raises ``PeerUnavailable``. The self-test runs everything once:

    .venv/bin/python benchmarks/llm_peers.py            # whole corpus, two reps of part 1
    .venv/bin/python benchmarks/llm_peers.py --quick    # one rep, at most 100 batches per loader

Its part 3 runs in a fresh child process, so DataLoader workers fork from a small parent. From
the repository root the functions import as ``from benchmarks.llm_peers import recipe_hf, ...``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np
import psutil
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

# DATAMILL_CORPUS points elsewhere where ../shared is not beside the checkout (a lent GPU machine).
CORPUS = Path(os.environ.get("DATAMILL_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "data" / "corpus" / "docs.jsonl")
DATA = Path(__file__).resolve().parent / "_data" / "llm"
EOS = "<|endoftext|>"
PAD = "<pad>"
SEED = 0


class PeerUnavailable(RuntimeError):
    """A peer library that is not installed here, or cannot run here."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


# --------------------------------------------------------------------------- data and tokenizer


def load_docs(path: str | Path = CORPUS, copies: int = 1) -> list[str]:
    """The ``text`` of every line of a JSONL corpus, the whole list repeated ``copies`` times."""
    with Path(path).open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
    return texts * copies


def train_bpe(docs: list[str], vocab_size: int = 32000, path: str | Path | None = None) -> str:
    """Train a byte-level BPE on ``docs`` with HF ``tokenizers`` and save it as ``tokenizer.json``.

    The file is cached: by default at ``benchmarks/_data/llm/bpe-<vocab_size>/tokenizer.json``,
    keyed by vocabulary size only, so the first call decides which documents it is trained on.
    Special tokens: ``<|endoftext|>`` (id 0, the EOS every side appends) and ``<pad>``.
    Returns the path of the file.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size > np.iinfo(np.uint16).max + 1:
        raise ValueError(f"vocab_size {vocab_size} does not fit the uint16 token files")
    target = Path(path) if path is not None else DATA / f"bpe-{vocab_size}" / "tokenizer.json"
    if target.exists():
        return str(target)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(docs, trainer=trainer, length=len(docs))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    tokenizer.save(str(partial))
    partial.replace(target)  # another process reading the cache never sees half a file
    return str(target)


def token_lengths(texts: list[str], tokenizer_path: str) -> np.ndarray:
    """Tokens per text (no EOS added), as int64."""
    from tokenizers import Tokenizer

    encodings = Tokenizer.from_file(tokenizer_path).encode_batch(texts)
    return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))


def paragraphs(docs: Iterable[str]) -> list[str]:
    """The non-empty paragraphs of ``docs``, split on blank lines (``"\\n\\n"``)."""
    return [p for doc in docs for p in doc.split("\n\n") if p.strip()]


def dir_bytes(path: str | Path) -> int:
    """Total size in bytes of the files under ``path``."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def peak_rss_mb() -> dict[str, float]:
    """Memory of this process and its children, in MiB.

    ``self_peak``: this process's peak RSS (``VmHWM`` of ``/proc/self/status``, which a fresh
    ``exec`` resets; elsewhere ``getrusage(RUSAGE_SELF)``, which on Linux carries the parent's
    peak across ``exec``). ``children_peak``: the largest peak RSS among children that have
    exited and been waited for (``getrusage(RUSAGE_CHILDREN)``: DataLoader workers once shut
    down; a forked worker's RSS counts the pages it shares with its parent). ``self_now`` and
    ``children_now``: current RSS of this process and the sum over its live descendants (psutil).
    """
    unit = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # ru_maxrss: bytes on macOS, KiB on Linux
    self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / unit
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                self_peak = int(line.split()[1]) / 1024.0
    proc = psutil.Process()
    children_now = 0
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children_now += child.memory_info().rss
    return {
        "self_peak": self_peak,
        "children_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / unit,
        "self_now": proc.memory_info().rss / 2**20,
        "children_now": children_now / 2**20,
    }


@contextlib.contextmanager
def _datasets_quiet() -> Iterator[None]:
    """Hide datasets' progress bars for the duration (they are restored afterwards)."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


# --------------------------------------------------------------------------- part 1: tokenize and pack


def recipe_hf(
    docs: list[str],
    tokenizer_path: str,
    out_dir: str,
    block: int = 2048,
    *,
    concat: Literal["sum", "chain"] = "chain",
) -> dict[str, Any]:
    """The tokenize-and-group recipe of the HF course and ``run_clm.py``, saved with ``save_to_disk``.

    ``Dataset.from_dict`` -> ``.map(tokenize_fn, batched=True, remove_columns=["text"])`` ->
    ``.map(group_texts, batched=True)`` -> ``save_to_disk(out_dir)``, default map batch size
    (1000), one process, no EOS (the recipe adds none). ``group_texts`` concatenates each map
    batch, drops the batch's remainder past the last whole block, and copies ``input_ids`` to
    ``labels``. ``concat="sum"`` concatenates with ``sum(lists, [])`` as the HF course and the
    ``language_modeling`` notebook do; ``concat="chain"`` with ``list(chain(*lists))`` as
    ``examples/pytorch/language-modeling/run_clm.py`` does (linear instead of quadratic).

    Returns ``seconds`` (wall, all of it), ``cpu_seconds`` (CPU time of the process, all its
    threads: steadier than wall time on a shared machine), ``tokens_total`` (tokens of all documents),
    ``tokens_kept`` (tokens in the saved blocks), ``tokens_dropped``, ``blocks``,
    ``bytes_written``, ``eos_between_docs`` (False) and ``columns`` (name -> Arrow type).
    """
    import datasets
    import pyarrow.compute as pc
    from tokenizers import Tokenizer

    def concatenate(lists: list[list[int]]) -> list[int]:
        if concat == "sum":
            return sum(lists, [])  # noqa: RUF017 - quadratic, but it is what the course teaches
        return list(chain(*lists))

    with _datasets_quiet():
        started, cpu_started = time.perf_counter(), time.process_time()
        # Recipe: HF LLM course ch. 7 ("Training a causal language model from scratch" and
        # "Fine-tuning a masked language model": tokenize_function / group_texts) and
        # transformers' examples/pytorch/language-modeling/run_clm.py. The tokenizer is the
        # `tokenizers` object an AutoTokenizer wraps; tokenize_fn returns what it returns.
        tokenizer = Tokenizer.from_file(tokenizer_path)

        def tokenize_fn(examples: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
            encodings = tokenizer.encode_batch(examples["text"])
            return {
                "input_ids": [e.ids for e in encodings],
                "attention_mask": [e.attention_mask for e in encodings],
            }

        def group_texts(examples: dict[str, list[Any]]) -> dict[str, list[list[int]]]:
            concatenated = {k: concatenate(examples[k]) for k in examples}
            total_length = len(concatenated["input_ids"])
            total_length = total_length // block * block
            result = {k: [t[i : i + block] for i in range(0, total_length, block)] for k, t in concatenated.items()}
            result["labels"] = result["input_ids"].copy()
            return result

        raw = datasets.Dataset.from_dict({"text": docs})
        # load_from_cache_file=False: an in-memory dataset has no cache files anyway, but this
        # makes sure a repeated run redoes the work instead of reading an earlier result.
        tokenized = raw.map(tokenize_fn, batched=True, remove_columns=["text"], load_from_cache_file=False)
        lm_dataset = tokenized.map(group_texts, batched=True, load_from_cache_file=False)
        lm_dataset.save_to_disk(out_dir)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started

    # Counted after the clock stopped, from the Arrow columns, so counting costs the recipe nothing.
    tokens_total = int(pc.sum(pc.list_value_length(tokenized.data.column("input_ids"))).as_py() or 0)
    tokens_kept = len(lm_dataset) * block
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "tokens_total": tokens_total,
        "tokens_kept": tokens_kept,
        "tokens_dropped": tokens_total - tokens_kept,
        "blocks": len(lm_dataset),
        "bytes_written": dir_bytes(out_dir),
        "eos_between_docs": False,
        "columns": {f.name: str(f.type) for f in lm_dataset.data.schema},
        "in_memory_map": not raw.cache_files and not tokenized.cache_files,
    }


def bare_encode(docs: list[str], tokenizer_path: str, out_dir: str, block: int = 2048) -> dict[str, Any]:
    """The floor: ``encode_batch`` over all documents, EOS after each, uint16, one ``tokens.bin``.

    No datasets, no datamill: ``Tokenizer.encode_batch`` (parallel in Rust), the EOS id appended
    to each document, ``np.concatenate`` to uint16 and ``ndarray.tofile(out_dir/tokens.bin)``.
    All tokens are written; the file is read as ``len // block`` whole blocks plus a remainder.

    Returns ``seconds``, ``cpu_seconds`` (as in ``recipe_hf``), ``tokens_total`` (=
    ``tokens_kept``: EOS included, nothing dropped), ``blocks``, ``remainder_tokens``,
    ``bytes_written``, ``eos_between_docs`` (True) and ``path``.
    """
    from tokenizers import Tokenizer

    started, cpu_started = time.perf_counter(), time.process_time()
    tokenizer = Tokenizer.from_file(tokenizer_path)
    eos = tokenizer.token_to_id(EOS)
    if tokenizer.get_vocab_size() > np.iinfo(np.uint16).max + 1:
        raise ValueError("vocabulary does not fit uint16")
    encodings = tokenizer.encode_batch(docs)
    eos_array = np.array([eos], dtype=np.uint16)
    parts: list[np.ndarray] = []
    for encoding in encodings:
        parts.append(np.asarray(encoding.ids, dtype=np.uint16))
        parts.append(eos_array)
    tokens = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint16)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tokens.bin"
    tokens.tofile(path)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "tokens_total": int(tokens.size),
        "tokens_kept": int(tokens.size),
        "tokens_dropped": 0,
        "blocks": int(tokens.size // block),
        "remainder_tokens": int(tokens.size % block),
        "bytes_written": dir_bytes(out),
        "eos_between_docs": True,
        "path": str(path),
    }


# --------------------------------------------------------------------------- part 2: padding


def padding_baselines(
    lengths: np.ndarray, block: int = 2048, batch_size: int = 8, seed: int = SEED
) -> dict[str, float]:
    """Pad fractions of two ways of batching unpacked sequences of the given token lengths.

    Each length is first truncated to ``block``. ``pad_to_max``: every sequence padded to
    ``block``. ``random_dynamic``: sequences shuffled (``numpy.random.default_rng(seed)``), cut
    into batches of ``batch_size`` (the last may be smaller) and padded to the batch's longest.
    A pad fraction is pad tokens / all tokens in the batches (pad included).
    ``truncated_fraction``: tokens past ``block`` / all tokens before truncation.
    """
    raw = np.asarray(lengths, dtype=np.int64)
    if raw.size == 0:
        return {"pad_to_max": 0.0, "random_dynamic": 0.0, "truncated_fraction": 0.0, "sequences": 0}
    kept = np.minimum(raw, block)
    real = int(kept.sum())
    pad_to_max = 1.0 - real / (kept.size * block)

    shuffled = kept[np.random.default_rng(seed).permutation(kept.size)]
    starts = np.arange(0, shuffled.size, batch_size)
    batch_max = np.maximum.reduceat(shuffled, starts)
    batch_len = np.diff(np.append(starts, shuffled.size))
    padded = int((batch_max * batch_len).sum())
    random_dynamic = 1.0 - real / padded if padded else 0.0
    total = int(raw.sum())
    return {
        "pad_to_max": pad_to_max,
        "random_dynamic": random_dynamic,
        "truncated_fraction": (total - real) / total if total else 0.0,
        "sequences": int(raw.size),
        "mean_length": float(raw.mean()),
    }


# --------------------------------------------------------------------------- part 3: loaders


def _token_stream(tokens: str | Path | np.ndarray) -> np.ndarray:
    """A uint16 token array: the array itself, or a read-only memmap of a ``.bin`` file."""
    if isinstance(tokens, np.ndarray):
        if tokens.dtype != np.uint16:
            raise ValueError(f"expected a uint16 token array, got {tokens.dtype}")
        return tokens
    return np.memmap(tokens, dtype=np.uint16, mode="r")


def _blocks(tokens: str | Path | np.ndarray, block: int) -> np.ndarray:
    """The stream as a (rows, block) view; the remainder past the last whole block is left out."""
    stream = _token_stream(tokens)
    rows = stream.size // block
    return stream[: rows * block].reshape(rows, block)


def _consume(
    make_loader: Callable[[], Iterable[Any]],
    max_batches: int,
    epochs: int,
    get_ids: Callable[[Any], torch.Tensor],
) -> dict[str, Any]:
    """Time a training-side consumer that touches every batch.

    The clock starts before ``iter(loader)`` (so worker start-up counts) and stops at the last
    batch. Each batch's ``input_ids`` is converted to int64 (a no-op when it already is) and
    summed, so a lazy loader cannot skip work. Each further epoch makes a new iterator, as a
    training loop does; iteration stops after ``max_batches`` batches in all.
    """
    loader = make_loader()
    batches = tokens = 0
    checksum = 0
    first_batch_s: float | None = None
    shapes: set[tuple[int, ...]] = set()
    started = time.perf_counter()
    last = started
    for _ in range(epochs):
        iterator = iter(loader)
        for batch in iterator:
            ids = get_ids(batch)
            checksum += int(ids.to(torch.int64).sum())
            tokens += ids.numel()
            batches += 1
            last = time.perf_counter()
            if first_batch_s is None:
                first_batch_s = last - started
                shapes.add(tuple(ids.shape))
            if batches >= max_batches:
                break
        del iterator  # shuts the workers down; counted, as the next epoch would pay it too
        if batches >= max_batches:
            break
    seconds = last - started
    return {
        "tokens_per_s": tokens / seconds if seconds > 0 else float("nan"),
        "batches": batches,
        "tokens": tokens,
        "seconds": seconds,
        "first_batch_s": first_batch_s if first_batch_s is not None else float("nan"),
        "first_batch_shape": sorted(shapes)[0] if shapes else None,
        "checksum": checksum,
    }


def _import_peer(module: str, peer: str) -> Any:
    """The peer's module, or `PeerUnavailable` saying why it cannot be imported."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise PeerUnavailable(peer, f"{type(exc).__name__}: {exc}") from exc


def _timed_loader(peer: str, make: Callable[[], Iterable[Any]], max_batches: int, epochs: int,
                  num_workers: int, shuffle: bool) -> dict[str, Any]:
    """Build a peer's loader (timed apart as ``setup_s``), then time reading it with `_consume`."""
    setup = time.perf_counter()
    loader = make()
    setup_s = time.perf_counter() - setup
    result = _consume(lambda: loader, max_batches, epochs, _ids_from_dict)
    return {**result, "peer": peer, "num_workers": num_workers, "shuffle": shuffle, "setup_s": setup_s}


def _ids_from_dict(batch: dict[str, Any]) -> torch.Tensor:
    ids: torch.Tensor = batch["input_ids"]
    return ids


# bare np.memmap -----------------------------------------------------------------


def prepare_bare_memmap(tokens: str | Path | np.ndarray, out_dir: str, block: int = 2048) -> dict[str, Any]:
    """Write the token stream as ``out_dir/tokens.bin`` (raw uint16, the whole stream)."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "tokens.bin"
    if isinstance(tokens, np.ndarray):
        _token_stream(tokens).tofile(path)
    else:
        shutil.copyfile(tokens, path)
    return {
        "peer": "bare_memmap",
        "path": str(path),
        "seconds": time.perf_counter() - started,
        "bytes_written": dir_bytes(out),
        "samples": int(_token_stream(path).size // block),
    }


class MemmapBatches(IterableDataset):  # type: ignore[type-arg]
    """Whole ``(batch_size, block)`` int64 batches cut from a uint16 ``np.memmap``.

    The minimal pattern of nanoGPT-style loaders, made worker-aware: worker ``w`` of ``n`` yields
    batch indices ``b`` with ``b % n == w``, in order, so ``DataLoader(batch_size=None)`` hands
    them out round-robin in the original order. The memmap is opened in each worker.
    """

    def __init__(self, path: str, batch_size: int, block: int) -> None:
        super().__init__()
        self.path, self.batch_size, self.block = path, batch_size, block

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        stream = np.memmap(self.path, dtype=np.uint16, mode="r")
        size = self.batch_size * self.block
        for b in range(worker, stream.size // size, workers):
            chunk = stream[b * size : (b + 1) * size].astype(np.int64)
            yield {"input_ids": torch.from_numpy(chunk).view(self.batch_size, self.block)}


def loader_bare_memmap(
    prepared: dict[str, Any],
    num_workers: int,
    max_batches: int,
    batch_size: int = 8,
    block: int = 2048,
    *,
    epochs: int = 1,
) -> dict[str, Any]:
    """``MemmapBatches`` in ``DataLoader(batch_size=None)``: sequential, unshuffled, no collate."""

    def make() -> DataLoader:  # type: ignore[type-arg]
        return DataLoader(MemmapBatches(prepared["path"], batch_size, block), batch_size=None, num_workers=num_workers)

    result = _consume(make, max_batches, epochs, _ids_from_dict)
    return {**result, "peer": "bare_memmap", "num_workers": num_workers, "shuffle": False}


# HF datasets --------------------------------------------------------------------


def prepare_hf_datasets(tokens: str | Path | np.ndarray, out_dir: str, block: int = 2048) -> dict[str, Any]:
    """A ``datasets.Dataset`` of ``block``-token rows (``input_ids``: list of uint16), ``save_to_disk``.

    Built with ``Dataset.from_dict`` from the (rows, block) array. Only whole blocks; the
    loader can also be pointed at ``recipe_hf``'s output (``{"path": out_dir}``), which has the
    recipe's three columns.
    """
    import datasets

    with _datasets_quiet():
        started = time.perf_counter()
        rows = _blocks(tokens, block)
        # list<uint16>: what from_dict infers from a 2-D uint16 array, and (measured here) about
        # 1.5x faster to read through with_format("torch") than a fixed-size list or int64.
        features = datasets.Features({"input_ids": datasets.Sequence(datasets.Value("uint16"))})
        dataset = datasets.Dataset.from_dict({"input_ids": np.ascontiguousarray(rows)}, features=features)
        dataset.save_to_disk(out_dir)
        seconds = time.perf_counter() - started
    return {
        "peer": "hf_datasets",
        "path": out_dir,
        "seconds": seconds,
        "bytes_written": dir_bytes(out_dir),
        "samples": len(dataset),
    }


def loader_hf_datasets(
    prepared: dict[str, Any],
    num_workers: int,
    max_batches: int,
    batch_size: int = 8,
    block: int = 2048,
    *,
    shuffle: bool = True,
    seed: int = SEED,
    epochs: int = 1,
) -> dict[str, Any]:
    """``load_from_disk(...).with_format("torch")`` in ``DataLoader(batch_size, shuffle=True)``.

    The pattern of the datasets docs ("Use with PyTorch") and the HF course: a map-style
    dataset, PyTorch's sampler (shuffled by default here, seeded), the default collate
    (datasets supplies ``__getitems__``, so each batch is one Arrow read). All columns of the
    saved dataset are delivered; ``input_ids`` are counted and touched.
    """
    import datasets

    def make() -> DataLoader:  # type: ignore[type-arg]
        dataset = datasets.load_from_disk(prepared["path"]).with_format("torch")
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=num_workers)

    return _timed_loader("hf_datasets", make, max_batches, epochs, num_workers, shuffle)


# webdataset ---------------------------------------------------------------------


def prepare_webdataset(
    tokens: str | Path | np.ndarray, out_dir: str, block: int = 2048, *, samples_per_shard: int = 1000
) -> dict[str, Any]:
    """Tar shards of one ``input_ids.npy`` sample per ``block`` tokens, ``samples_per_shard`` each.

    Written with ``wds.ShardWriter(pattern, maxcount=...)`` as in the webdataset docs
    ("Creating a WebDataset"); each sample is ``{"__key__", "input_ids.npy": uint16 array}``.
    """
    wds = _import_peer("webdataset", "webdataset")
    started = time.perf_counter()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    rows = _blocks(tokens, block)
    pattern = str(Path(out_dir) / "shard-%06d.tar")
    with wds.ShardWriter(pattern, maxcount=samples_per_shard, verbose=0) as sink:
        for i, row in enumerate(rows):
            sink.write({"__key__": f"{i:09d}", "input_ids.npy": np.asarray(row)})
    shards = sorted(str(p) for p in Path(out_dir).glob("shard-*.tar"))
    return {
        "peer": "webdataset",
        "path": out_dir,
        "shards": shards,
        "seconds": time.perf_counter() - started,
        "bytes_written": dir_bytes(out_dir),
        "samples": int(rows.shape[0]),
    }


def _wds_batch(sample: tuple[np.ndarray]) -> dict[str, torch.Tensor]:
    """The batched ``(uint16 array,)`` tuple as the loaders' ``{"input_ids": int64 tensor}``."""
    return {"input_ids": torch.from_numpy(sample[0].astype(np.int64))}


def loader_webdataset(
    prepared: dict[str, Any],
    num_workers: int,
    max_batches: int,
    batch_size: int = 8,
    block: int = 2048,
    *,
    shuffle: bool = True,
    shuffle_buffer: int = 1000,
    seed: int = SEED,
    epochs: int = 1,
) -> dict[str, Any]:
    """``wds.WebDataset(shards)...decode().to_tuple(...).batched(8)`` in ``DataLoader(batch_size=None)``.

    The pipeline of the webdataset docs ("Getting started", "Sharding, parallel I/O and
    DataLoader"): shards split across workers with ``wds.split_by_worker``, shard shuffle and a
    sample shuffle buffer (seeded) when ``shuffle``, default decoder (``.npy`` -> numpy),
    ``.batched`` in the worker, DataLoader with ``batch_size=None``. Batches are whole
    (``partial=False``); a shard is never split, so a worker with no shard yields nothing.
    """
    wds = _import_peer("webdataset", "webdataset")
    shards = prepared["shards"]

    def make() -> DataLoader:  # type: ignore[type-arg]
        dataset = (
            wds.WebDataset(
                shards,
                shardshuffle=len(shards) if shuffle else False,
                seed=seed,
                nodesplitter=wds.single_node_only,
                workersplitter=wds.split_by_worker,
            )
            .shuffle(shuffle_buffer if shuffle else 0, seed=seed)
            .decode()
            .to_tuple("input_ids.npy")
            .batched(batch_size, partial=False)
            .map(_wds_batch)
        )
        return DataLoader(dataset, batch_size=None, num_workers=num_workers)

    return _timed_loader("webdataset", make, max_batches, epochs, num_workers, shuffle)


# mosaicml-streaming -------------------------------------------------------------


def prepare_mosaic_streaming(tokens: str | Path | np.ndarray, out_dir: str, block: int = 2048) -> dict[str, Any]:
    """MDS shards written with ``streaming.MDSWriter``, column ``input_ids: ndarray:uint16:<block>``.

    As in the streaming docs' quick start and "Dataset Format" pages: one ``write`` per sample,
    the writer's default shard size limit, no compression (tokens do not compress much).
    """
    streaming = _import_peer("streaming", "mosaicml-streaming")
    started = time.perf_counter()
    rows = _blocks(tokens, block)
    columns = {"input_ids": f"ndarray:uint16:{block}"}
    with streaming.MDSWriter(out=out_dir, columns=columns) as writer:
        for row in rows:
            writer.write({"input_ids": np.asarray(row)})
    return {
        "peer": "mosaic_streaming",
        "path": out_dir,
        "seconds": time.perf_counter() - started,
        "bytes_written": dir_bytes(out_dir),
        "samples": int(rows.shape[0]),
    }


def loader_mosaic_streaming(
    prepared: dict[str, Any],
    num_workers: int,
    max_batches: int,
    batch_size: int = 8,
    block: int = 2048,
    *,
    shuffle: bool = True,
    seed: int = SEED,
    epochs: int = 1,
) -> dict[str, Any]:
    """``streaming.StreamingDataset(local=..., batch_size=8, shuffle=True)`` in ``DataLoader(batch_size=8)``.

    The quick-start pattern of the streaming docs, on a local directory only (``remote=None``:
    nothing is downloaded, no network). Stale shared memory left by an earlier run in this
    process is cleaned first with ``streaming.base.util.clean_stale_shared_memory``.
    """
    streaming = _import_peer("streaming", "mosaicml-streaming")
    from streaming.base.util import clean_stale_shared_memory

    clean_stale_shared_memory()
    setup = time.perf_counter()
    try:
        dataset = streaming.StreamingDataset(
            local=prepared["path"], remote=None, batch_size=batch_size, shuffle=shuffle, shuffle_seed=seed
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise PeerUnavailable("mosaicml-streaming", f"{type(exc).__name__}: {exc}") from exc
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    setup_s = time.perf_counter() - setup
    result = _consume(lambda: loader, max_batches, epochs, _ids_from_dict)
    return {**result, "peer": "mosaic_streaming", "num_workers": num_workers, "shuffle": shuffle, "setup_s": setup_s}


PEERS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]]] = {
    "bare_memmap": (prepare_bare_memmap, loader_bare_memmap),
    "hf_datasets": (prepare_hf_datasets, loader_hf_datasets),
    "webdataset": (prepare_webdataset, loader_webdataset),
    "mosaic_streaming": (prepare_mosaic_streaming, loader_mosaic_streaming),
}


# --------------------------------------------------------------------------- self-test


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def _part1(docs: list[str], tokenizer_path: str, scratch: Path, block: int, reps: int) -> str:
    """Self-test part 1; returns the path of the bare side's ``tokens.bin`` (kept in ``scratch``)."""
    print(f"\n== part 1: tokenize + pack into {block}-token blocks, written to disk (best of {reps}) ==")
    runs: dict[str, dict[str, Any]] = {}
    sides: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("bare_encode", lambda out: bare_encode(docs, tokenizer_path, out, block)),
        ("recipe_hf[chain]", lambda out: recipe_hf(docs, tokenizer_path, out, block, concat="chain")),
        ("recipe_hf[sum]", lambda out: recipe_hf(docs, tokenizer_path, out, block, concat="sum")),
    ]
    for rep in range(reps):
        for name, fn in sides:  # interleaved, so load on the machine hits every side alike
            out = scratch / f"p1-{name}-{rep}"
            result = fn(str(out))
            times = [*runs.get(name, {}).get("times", []), result["seconds"]]
            if name not in runs or result["seconds"] < runs[name]["seconds"]:
                runs[name] = result
            runs[name]["times"] = times
            if name != "bare_encode" or rep != reps - 1:
                shutil.rmtree(out)
    floor = runs["bare_encode"]["seconds"]
    for name, r in runs.items():
        times_text = ", ".join(f"{t:.2f}" for t in r["times"])
        print(
            f"{name:18s} {r['seconds']:6.2f} s (runs: {times_text}; cpu {r['cpu_seconds']:.2f} s)  "
            f"x{r['seconds'] / floor:4.2f} of bare  "
            f"tokens_total {r['tokens_total']:,}  kept {r['tokens_kept']:,}  dropped {r['tokens_dropped']:,}  "
            f"blocks {r['blocks']:,}  written {_mib(r['bytes_written'])}  eos {r['eos_between_docs']}"
        )
    print(f"recipe columns: {runs['recipe_hf[chain]']['columns']}")
    return str(scratch / f"p1-bare_encode-{reps - 1}" / "tokens.bin")  # the run kept; every run writes the same


def _part2(docs: list[str], tokenizer_path: str, block: int, batch_size: int) -> None:
    """Self-test part 2."""
    print(f"\n== part 2: padding at {block} tokens, batches of {batch_size} (seed {SEED}) ==")
    for unit, texts in (("documents", docs), ("paragraphs", paragraphs(docs))):
        p = padding_baselines(token_lengths(texts, tokenizer_path), block, batch_size)
        print(
            f"{unit:10s} n={p['sequences']:,}  mean {p['mean_length']:.0f} tokens  "
            f"pad_to_max {p['pad_to_max']:.1%}  random_dynamic {p['random_dynamic']:.1%}  "
            f"truncated {p['truncated_fraction']:.2%}"
        )


def _part3(args: argparse.Namespace, bin_path: str, scratch: Path) -> None:
    """Self-test part 3, in this process."""
    block, batch_size = args.block, args.batch_size
    limit = f"at most {args.max_batches:,}" if args.max_batches else "all"
    print(
        f"\n== part 3: DataLoader into {batch_size}x{block} batches ({limit} batches, {args.epochs} epoch(s); "
        f"tokens/s from iter() to the last batch) =="
    )
    print(f"token stream: {_token_stream(bin_path).size:,} tokens; process rss {peak_rss_mb()['self_now']:.0f} MiB")
    for name in args.peers.split(","):
        prepare, load = PEERS[name]
        try:
            prepared = prepare(bin_path, str(scratch / f"p3-{name}"), block)
        except PeerUnavailable as exc:
            print(f"{name:17s} did not install: {exc.why}")
            continue
        print(
            f"{name:17s} prepared {prepared['samples']:,} samples, {_mib(prepared['bytes_written'])} "
            f"in {prepared['seconds']:.2f} s"
        )
        for n in (int(w) for w in args.workers.split(",")):
            try:
                r = load(prepared, n, args.max_batches or 10**12, batch_size, block, epochs=args.epochs)
            except PeerUnavailable as exc:
                print(f"{name:17s} workers={n}: did not run: {exc.why}")
                continue
            mem = peak_rss_mb()
            print(
                f"{name:17s} workers={n}: {r['tokens_per_s'] / 1e6:7.1f} M tokens/s  "
                f"{r['batches']:,} batches {r['first_batch_shape']} in {r['seconds']:.3f} s  "
                f"first batch {r['first_batch_s'] * 1e3:.0f} ms  shuffle {r['shuffle']}  "
                f"checksum {r['checksum']:,}  peak rss self {mem['self_peak']:.0f} MiB, "
                f"children {mem['children_peak']:.0f} MiB"
            )


def main(argv: list[str] | None = None) -> int:
    """Run every peer once on the corpus and print the figures (a self-test, not the benchmark).

    Part 3 runs in a fresh child process (``--parts 3 --tokens PATH``), so that DataLoader
    workers fork from a small parent rather than from one holding the corpus and part 1's
    results, which makes worker start-up slower.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="one rep of part 1, at most 100 batches per loader")
    parser.add_argument("--parts", default="1,2,3", help="comma-separated parts to run")
    parser.add_argument("--tokens", default=None, help="part 3 only: a uint16 tokens.bin to use")
    parser.add_argument("--copies", type=int, default=1, help="repeat the corpus this many times")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--block", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--reps", type=int, default=None, help="reps of part 1 (best is shown); default 2, 1 quick")
    parser.add_argument("--max-batches", type=int, default=None, help="per loader run; default all, 100 quick")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the data per loader run (max-batches caps)")
    parser.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated loader peers")
    args = parser.parse_args(argv)
    parts = {int(p) for p in args.parts.split(",")}
    if args.quick:
        args.reps = args.reps or 1
        args.max_batches = args.max_batches or 100
    # Said once per process by torch's collate on mosaic's read-only sample arrays; not a failure.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")

    scratch = Path(tempfile.mkdtemp(prefix="llm_peers_"))
    try:
        bin_path = args.tokens
        if parts & {1, 2} or bin_path is None:
            docs = load_docs(copies=args.copies)
            started = time.perf_counter()
            tokenizer_path = train_bpe(load_docs(), args.vocab)
            mib = sum(map(len, docs)) / 2**20
            print(f"corpus: {len(docs):,} documents, {mib:.1f} MiB of text (copies={args.copies})")
            print(f"tokenizer: {tokenizer_path} ({time.perf_counter() - started:.1f} s, cached after the first run)")
            if 1 in parts:
                bin_path = _part1(docs, tokenizer_path, scratch, args.block, args.reps or 2)
            elif bin_path is None:
                bin_path = bare_encode(docs, tokenizer_path, str(scratch / "tokens"), args.block)["path"]
            if 2 in parts:
                _part2(docs, tokenizer_path, args.block, args.batch_size)
            if 3 in parts:
                del docs
                sys.stdout.flush()
                child = [sys.executable, __file__, "--parts", "3", "--tokens", str(bin_path)]
                for flag in ("block", "batch_size", "max_batches", "epochs", "workers", "peers"):
                    value = getattr(args, flag)
                    if value is not None:
                        child += [f"--{flag.replace('_', '-')}", str(value)]
                return subprocess.run(child, check=False).returncode
        elif 3 in parts:
            _part3(args, bin_path, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
