"""datamill's `profile` against a polars pass, on issue 11's 20-column table, in one process.

The table (seeded): 8 float, 4 int, 5 categorical (cardinality 5, 100, 1k, 10k, 100k), 2 free-text
and 1 timestamp column, about 2% nulls in half of them, written once as Parquet under
``benchmarks/_data/`` (git-ignored). Both sides read the file themselves.

- polars: one lazy ``select`` computing per column count, nulls, min, max, mean, std, approximate
  distinct and 5 quantiles (mean/std/quantiles only where they mean something: numbers, and the
  timestamp's mean);
- datamill: `datamill.validate.profile` streaming the file batch by batch (opened as datamill's
  store opens a shard), computing the same
  plus 20-bin histograms, 7 KLL quantiles, top-10 values and string lengths, in mergeable sketches.

Runs alternate (polars, datamill, polars, ...) in one process and the median time of each is
compared. Peak RSS is measured apart, in a fresh child process per side (``--only``), since one
process's peak mixes both (and Arrow's and polars' allocators keep what they freed): the child
prints its peak RSS (``VmHWM``) after imports and after the pass. Bar (issue 11): datamill within 2x of
polars' time.

    .venv/bin/python benchmarks/bench_profile.py            # 1M rows, 3 runs each
    .venv/bin/python benchmarks/bench_profile.py --rows 5000000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import psutil  # dev dependency
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DATA = Path(__file__).resolve().parent / "_data"
CARDINALITIES = (5, 100, 1_000, 10_000, 100_000)
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BATCH_ROWS = 131_072


def make_table(rows: int, seed: int = 11) -> pa.Table:
    """The issue's 20-column table."""
    rng = np.random.default_rng(seed)

    def with_nulls(values: pa.Array) -> pa.Array:
        mask = pa.array(rng.random(rows) < 0.02)
        return pc.if_else(mask, pa.scalar(None, values.type), values)

    columns: dict[str, pa.Array] = {}
    for i in range(8):
        values = rng.normal(i * 10, 1 + i, rows) if i % 2 == 0 else rng.lognormal(i / 4, 1.0, rows)
        columns[f"f{i}"] = with_nulls(pa.array(values)) if i % 2 == 0 else pa.array(values)
    for i in range(4):
        values = rng.integers(0, 10 ** (i + 2), rows)
        columns[f"i{i}"] = with_nulls(pa.array(values)) if i % 2 == 0 else pa.array(values)
    for i, cardinality in enumerate(CARDINALITIES):
        codes = pa.array(np.minimum(rng.zipf(1.2, rows), cardinality) - 1 if i % 2 else rng.integers(0, cardinality,
                                                                                                      rows))
        values = pc.binary_join_element_wise(f"c{i}_", codes.cast(pa.string()), "")
        columns[f"c{i}"] = with_nulls(values) if i % 2 == 0 else values
    vocabulary = pa.array([f"w{k}" for k in range(20_000)])
    for i in range(2):
        lengths = rng.integers(3, 40, rows)
        offsets = np.zeros(rows + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        words = vocabulary.take(pa.array(np.minimum(rng.zipf(1.1, int(offsets[-1])), 20_000) - 1))
        text = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), words), " ")
        columns[f"text{i}"] = with_nulls(text) if i == 0 else text
    start = np.datetime64("2024-01-01T00:00:00", "us").astype(np.int64)
    stamps = start + np.sort(rng.integers(0, 365 * 86_400 * 10**6, rows))
    columns["ts"] = pa.array(stamps, pa.int64()).cast(pa.timestamp("us"))
    return pa.table(columns)


def data_file(rows: int) -> Path:
    """The Parquet file for ``rows`` rows (made once)."""
    path = DATA / f"profile_{rows}.parquet"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        table = make_table(rows)
        pq.write_table(table, path.with_suffix(".tmp"), row_group_size=BATCH_ROWS)
        path.with_suffix(".tmp").rename(path)
        print(f"wrote {path} ({path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    return path


def polars_pass(path: Path) -> pl.DataFrame:
    """count, nulls, min, max, mean, std, approximate distinct and 5 quantiles per column."""
    schema = pl.scan_parquet(path).collect_schema()
    exprs = []
    for name, dtype in schema.items():
        col = pl.col(name)
        exprs += [col.count().alias(f"{name}:count"), col.null_count().alias(f"{name}:nulls"),
                  col.min().alias(f"{name}:min"), col.max().alias(f"{name}:max"),
                  col.approx_n_unique().alias(f"{name}:distinct")]
        if dtype.is_numeric():
            exprs += [col.mean().alias(f"{name}:mean"), col.std().alias(f"{name}:std")]
            exprs += [col.quantile(q).alias(f"{name}:q{q}") for q in QUANTILES]
        elif dtype == pl.Datetime:
            exprs += [col.mean().alias(f"{name}:mean")]
    return pl.scan_parquet(path).select(exprs).collect()


def open_streaming(path: Path) -> pq.ParquetFile:
    """The file opened as datamill's store opens a shard: not pre-buffered, not mapped, 1 MiB reads
    (pyarrow's default pre-buffering keeps column chunks cached: 1.36 GB RSS to read 5M rows)."""
    return pq.ParquetFile(path, memory_map=False, pre_buffer=False, buffer_size=1 << 20)


def read_pass(path: Path) -> None:
    """Only read the file in the batches datamill gets (the reader's share of time and memory)."""
    for _ in open_streaming(path).iter_batches(batch_size=BATCH_ROWS):
        pass


def datamill_pass(path: Path) -> dict[str, Any]:
    """`datamill.validate.profile` over the file, streamed in row-group batches."""
    from datamill.validate import profile

    return profile(open_streaming(path).iter_batches(batch_size=BATCH_ROWS))


def measure(fn: Callable[[Path], Any], path: Path) -> float:
    """Seconds the call took."""
    started = time.perf_counter()
    fn(path)
    return time.perf_counter() - started


def max_rss_mib() -> float:
    """This process's peak resident memory so far (``VmHWM``: unlike ``ru_maxrss``, not inherited
    from the parent that started it)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rss(side: str, rows: int) -> dict[str, float]:
    """Peak RSS of one pass in a fresh process: after imports, and after the pass."""
    done = subprocess.run([sys.executable, __file__, "--rows", str(rows), "--only", side], check=True,
                          capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["polars", "datamill", "read"], help="One pass; print its peak RSS as JSON.")
    args = parser.parse_args()
    path = data_file(args.rows)
    sides: dict[str, Callable[[Path], Any]] = {"polars": polars_pass, "datamill": datamill_pass}
    if args.only:
        import datamill.validate  # noqa: F401  (imports count in the baseline, not in the pass)

        baseline = max_rss_mib()
        seconds = measure({**sides, "read": read_pass}[args.only], path)
        print(json.dumps({"baseline_mib": baseline, "peak_mib": max_rss_mib(), "seconds": seconds}))
        return
    # Warm both (numba's compiled kernels load from cache; polars' thread pool starts).
    datamill_pass(path)
    polars_pass(path)
    times: dict[str, list[float]] = {"polars": [], "datamill": []}
    for _ in range(args.repeat):
        for name, fn in sides.items():
            times[name].append(measure(fn, path))
    report = datamill_pass(path)
    rss = {name: child_rss(name, args.rows) for name in [*sides, "read"]}
    print(f"table: {args.rows:,} rows x 20 columns, {path.stat().st_size / 2**20:,.0f} MiB Parquet "
          f"({pq.ParquetFile(path).num_row_groups} row groups); {psutil.cpu_count()} cores")
    for name in times:
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        peak, base = rss[name]["peak_mib"], rss[name]["baseline_mib"]
        print(f"{name:9} median {statistics.median(times[name]):6.2f} s  (runs {runs})  "
              f"peak RSS {peak:,.0f} MiB in a fresh process ({base:,.0f} MiB after imports)")
    print(f"(reading the batches alone: {rss['read']['seconds']:.2f} s, peak RSS {rss['read']['peak_mib']:,.0f} MiB "
          "in a fresh process)")
    ratio = statistics.median(times["datamill"]) / statistics.median(times["polars"])
    print(f"datamill / polars time: {ratio:.2f}x (bar: <= 2x) -> {'PASS' if ratio <= 2 else 'FAIL'}")
    columns = {c["name"]: c for c in report["columns"]}
    print("datamill extras in the same pass: "
          f"histograms {sum(1 for c in report['columns'] if (c['numeric'] or c['temporal'] or {}).get('histogram'))}, "
          f"top-k {sum(1 for c in report['columns'] if c['top'])}, "
          f"c4 distinct ≈ {columns['c4']['distinct']:,} (HLL ±{columns['c4']['distinct_error']:.1%})")


if __name__ == "__main__":
    main()
