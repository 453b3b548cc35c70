"""Where the identity pipeline's time goes: its pieces timed one by one on one partition.

Companion of ``bench_engine_overhead.py``. In this one process (no pool), on one input file
of the cached 20M-row dataset (1M rows, ~105 MB; ``--rows`` picks another cached size), each
piece is run ``--reps`` times and the median wall and CPU (all threads) seconds are printed:

  read.pyarrow     ``pq.ParquetFile(path).iter_batches(65536)``: decode only
  read.datamill    ``ParquetReader.read`` (the same decode + id check + ``source`` column)
  write.pyarrow    ``pq.ParquetWriter(local path, zstd 1)``, one ``write_batch`` per batch
  write.+source    the same, with datamill's batches (the extra ``source`` column)
  write.shard      ``ShardWriter`` (the hashing file wrapper over fsspec, row-group stats)
  write.shard-nohash  ``ShardWriter`` with the sha256 update stubbed out
  write.rg=1M      ``pq.ParquetWriter`` with batches concatenated into 1M-row row groups
  sha256           hashing the output bytes alone (hashlib, 8 MiB chunks)
  task             ``execute_task`` of the fused read.parquet → write.dataset partition
  parent.hash      sha256 of all input files: what ``Workspace.file_hash`` does in the parent
                   before a first run (the cache key), in one thread
  pool.start       the forkserver pool: first ``map`` of two no-op tasks

``--cprofile`` also prints the top functions of one ``execute_task`` under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import DATA_DIR, ensure_dataset, warm_page_cache


def timed(fn: Callable[[], Any], reps: int) -> tuple[float, float, Any]:
    """Median (wall, CPU) seconds of ``fn`` over ``reps`` runs, and its last result."""
    walls, cpus = [], []
    out = None
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    return statistics.median(walls), statistics.median(cpus), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--cprofile", action="store_true")
    args = parser.parse_args()

    from datamill.core.fingerprint import sha256_file
    from datamill.pipeline.executors.local import LocalExecutor
    from datamill.pipeline.registry import resolve_step
    from datamill.pipeline.step import StepContext
    from datamill.pipeline.task import StepRef, Task, execute_task
    from datamill.store import ObjectStore, ShardWriter
    from datamill.store import objects as objects_module

    files = ensure_dataset(args.rows)
    path = files[0]
    warm_page_cache(files)
    scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=DATA_DIR))
    store = ObjectStore(str(scratch / "store"))
    reader_cls = resolve_step("read.parquet")
    reader = reader_cls(paths=[str(path)])
    partition = reader.partitions()[0]
    rows = pq.ParquetFile(path).metadata.num_rows
    results: list[tuple[str, float, float]] = []

    def record(name: str, fn: Callable[[], Any]) -> Any:
        wall, cpu, out = timed(fn, args.reps)
        results.append((name, wall, cpu))
        print(f"  {name:<20}{wall:8.3f} s wall{cpu:8.3f} s CPU", flush=True)
        return out

    print(f"one partition: {path.name}, {rows:,} rows, {path.stat().st_size / 1e6:.0f} MB; "
          f"median of {args.reps}; arrow threads {pa.cpu_count()}", flush=True)
    plain = record("read.pyarrow", lambda: list(pq.ParquetFile(path).iter_batches(65_536)))
    dm = record("read.datamill",
                lambda: list(reader.read(partition, StepContext(step_id="raw"))))

    def write_plain(batches: list[pa.RecordBatch], group: int | None = None) -> int:
        out = scratch / "plain.parquet"
        with pq.ParquetWriter(out, batches[0].schema, compression="zstd",
                              compression_level=1, write_page_index=False) as writer:
            if group is None:
                for batch in batches:
                    writer.write_batch(batch)
            else:
                writer.write_table(pa.Table.from_batches(batches), row_group_size=group)
        return out.stat().st_size

    def write_shard(batches: list[pa.RecordBatch]) -> list[Any]:
        writer = ShardWriter(store, batches[0].schema)
        for batch in batches:
            writer.write(batch)
        return writer.close()

    record("write.pyarrow", lambda: write_plain(plain))
    record("write.+source", lambda: write_plain(dm))
    record("write.rg=1M", lambda: write_plain(dm, 1_000_000))
    shards = record("write.shard", lambda: write_shard(dm))

    class _NoHash:
        def update(self, data: Any) -> None:
            pass

        def hexdigest(self) -> str:
            return "0" * 64

    original = objects_module.hashlib
    objects_module.hashlib = type("H", (), {"sha256": staticmethod(_NoHash)})  # type: ignore[assignment]
    try:
        record("write.shard-nohash", lambda: write_shard(dm))
    finally:
        objects_module.hashlib = original
    data = Path(store.path(shards[0].path)).read_bytes()

    def sha() -> str:
        digest = hashlib.sha256()
        view = memoryview(data)
        for i in range(0, len(view), 8 << 20):
            digest.update(view[i:i + (8 << 20)])
        return digest.hexdigest()

    record("sha256", sha)
    task = Task(step=StepRef("out", "write.dataset", {"profile": False}, str(scratch)), mode="stream", part=0,
                num_parts=1, seed=0, store_url=store.url, storage_options={},
                source=StepRef("raw", "read.parquet", reader.config.model_dump(mode="json"),
                               str(scratch)),
                source_partition=partition, input_schemas=[pa.schema([])],
                write={"rows_per_shard": 1_000_000, "compression": "zstd",
                       "compression_level": 1})
    record("task", lambda: execute_task(task))

    fs = store.fs
    record("parent.hash", lambda: [sha256_file(fs, str(f)) for f in files])

    def pool_start() -> None:
        executor = LocalExecutor(2)
        noop = Task(step=StepRef("s", "select", {"columns": ["id"]}, str(scratch)),
                    mode="stream", part=0, num_parts=2, seed=0, store_url=store.url,
                    storage_options={}, shard_keys=[], input_schemas=[pa.schema([])])
        list(executor.map([noop, Task(**{**noop.__dict__, "part": 1})]))
        executor.close()

    record("pool.start", pool_start)

    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        execute_task(task)
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(18)
        print(text.getvalue())
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
