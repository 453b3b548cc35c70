"""Synthetic Parquet inputs for the benchmarks, generated once and cached under ``_data/``.

Each row is a document-like record::

    id     string   "doc-0000000042" (unique, in file order)
    text   string   40-50 words drawn from a 30,000-word made-up vocabulary with Zipf
                    frequencies (so it compresses like prose, ~2.5x with zstd)
    n      int32    uniform in [0, 1000)  (for filters)
    score  float32  uniform in [0, 1)

About 105 bytes per row on disk with zstd (20M rows ≈ 2.1 GB). Files hold at most
1,000,000 rows in row groups of 250,000 rows, like a typical export; they are generated
batch by batch (bounded memory) into ``<dir>.partial`` and renamed when complete, so an
interrupted generation is never used. File ``i`` uses its own seed, so the data depends
only on (rows, files).
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATA_DIR = Path(__file__).resolve().parent / "_data"
ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 250_000
BATCH_ROWS = 125_000
VOCAB_SIZE = 30_000
WORDS = (40, 50)

SCHEMA = pa.schema([
    pa.field("id", pa.string()),
    pa.field("text", pa.string()),
    pa.field("n", pa.int32()),
    pa.field("score", pa.float32()),
])


def _vocabulary(seed: int = 7) -> tuple[pa.Array, np.ndarray]:
    rng = np.random.default_rng(seed)
    syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "ch", "st", "tr"]
    lengths = rng.integers(1, 4, VOCAB_SIZE)
    words = ["".join(rng.choice(syllables, k)) for k in lengths]
    weights = 1.0 / np.arange(1, VOCAB_SIZE + 1)
    cdf = np.cumsum(weights / weights.sum())
    return pa.array(words, pa.string()), cdf


def _batch(rng: np.random.Generator, vocab: pa.Array, cdf: np.ndarray, start: int,
           rows: int) -> pa.RecordBatch:
    counts = rng.integers(WORDS[0], WORDS[1] + 1, rows)
    offsets = np.zeros(rows + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    word_ids = np.searchsorted(cdf, rng.random(int(offsets[-1])))
    np.minimum(word_ids, VOCAB_SIZE - 1, out=word_ids)
    words = pa.ListArray.from_arrays(pa.array(offsets), vocab.take(pa.array(word_ids)))
    text = pc.binary_join(words, " ")
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(start, start + rows)), pa.string()), 10, "0")
    ids = pc.binary_join_element_wise("doc-", digits, "")
    return pa.record_batch([
        ids, text,
        pa.array(rng.integers(0, 1000, rows, dtype=np.int32)),
        pa.array(rng.random(rows, dtype=np.float32)),
    ], schema=SCHEMA)


def default_files(rows: int) -> int:
    """At least 4 files (so 2 workers have work to share), at most 1M rows per file."""
    return max(4, math.ceil(rows / ROWS_PER_FILE))


def ensure_dataset(rows: int, files: int | None = None, *, verbose: bool = True) -> list[Path]:
    """The Parquet files of a ``rows``-row input, generating them first if needed."""
    files = files or default_files(rows)
    target = DATA_DIR / f"docs_{rows}r_{files}f"
    if target.is_dir():
        return sorted(target.glob("*.parquet"))
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    vocab, cdf = _vocabulary()
    per_file = math.ceil(rows / files)
    started = time.monotonic()
    start = 0
    for index in range(files):
        count = min(per_file, rows - start)
        rng = np.random.default_rng([2024, index])
        path = partial / f"part-{index:05d}.parquet"
        with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
            done = 0
            pending: list[pa.RecordBatch] = []
            while done < count:
                take = min(BATCH_ROWS, count - done)
                pending.append(_batch(rng, vocab, cdf, start + done, take))
                done += take
                if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS or done == count:
                    writer.write_table(pa.Table.from_batches(pending),
                                       row_group_size=ROW_GROUP_ROWS)
                    pending = []
        start += count
        if verbose:
            print(f"  generated {path.name}: {count:,} rows, {path.stat().st_size / 1e6:.0f} MB "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
    partial.rename(target)
    return sorted(target.glob("*.parquet"))


def total_bytes(paths: list[Path]) -> int:
    """The on-disk size of ``paths``."""
    return sum(p.stat().st_size for p in paths)


def warm_page_cache(paths: list[Path]) -> float:
    """Read every file once so both sides of a comparison start with the input cached."""
    started = time.monotonic()
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(16 << 20):
                pass
    return time.monotonic() - started
