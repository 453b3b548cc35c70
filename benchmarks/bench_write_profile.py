"""What statistics cost when ``write.dataset`` computes them as it writes (issue 11, part 1).

Three ways to get a written version *and* its statistics, on issue 11's 20-column table (see
``bench_profile.py``; the Parquet file is made once under ``benchmarks/_data/``), each a fresh
workspace, in one process, runs alternating and the median taken:

- ``write``: ``read.parquet → write.dataset {profile: false}``, no statistics (the floor);
- ``write+stats``: the same pipeline with the default ``profile: true``: every column profiled in
  the writing pass and stored in the manifest (``datamill show`` then needs no scan);
- ``write, then profile``: ``profile: false``, then ``datamill.validate.profile`` over the
  written version (a second pass, as a user had to before).

Printed: each side's median time, the cost of the statistics (``write+stats / write``) and the
saving over two passes (``(write, then profile) / write+stats``). ``--rss`` also measures the peak
RSS of ``write+stats`` in a fresh process (``VmHWM``), against issue 11's 1.5 GB bar.

    .venv/bin/python benchmarks/bench_write_profile.py                 # 1M rows, 3 runs each
    .venv/bin/python benchmarks/bench_write_profile.py --rows 5000000 --repeat 1 --rss
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_profile import data_file, max_rss_mib  # benchmarks/ is on sys.path when run as a script


def pipeline(path: Path, profile: bool) -> dict[str, Any]:
    """The copy pipeline."""
    return {"name": "bench", "steps": [
        {"id": "raw", "uses": "read.parquet", "with": {"paths": [str(path)]}},
        {"id": "out", "uses": "write.dataset", "input": "raw", "with": {"profile": profile}},
    ], "outputs": {"written": "out"}}


def run_side(side: str, path: Path, workers: int) -> float:
    """Seconds one side took in a fresh workspace (removed after)."""
    from datamill.pipeline.runner import Pipeline
    from datamill.store import Workspace
    from datamill.validate import profile

    scratch = Path(tempfile.mkdtemp(prefix="bench-write-profile-"))
    try:
        ws = Workspace.init(scratch)
        started = time.perf_counter()
        Pipeline.from_dict(pipeline(path, side == "write+stats"), base_dir=scratch).run(ws, workers=workers)
        if side == "write, then profile":
            profile(ws.open("written"))
        seconds = time.perf_counter() - started
        if side == "write+stats":
            assert ws.open("written").profile is not None
        ws.close()
        return seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rss", action="store_true", help="also the peak RSS of write+stats, in a fresh process")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # one side in this process, for --rss
    args = parser.parse_args()
    path = data_file(args.rows)
    if args.only:
        seconds = run_side(args.only, path, args.workers)
        print(json.dumps({"seconds": seconds, "peak_rss_mib": max_rss_mib()}))
        return

    sides = ["write", "write+stats", "write, then profile"]
    run_side("write+stats", path, args.workers)  # warm-up: imports, numba's cache, the page cache
    times: dict[str, list[float]] = {side: [] for side in sides}
    for rep in range(args.repeat):
        for side in sides if rep % 2 == 0 else sides[::-1]:
            times[side].append(run_side(side, path, args.workers))
    median = {side: statistics.median(runs) for side, runs in times.items()}
    print(f"{args.rows:,} rows, 20 columns, workers={args.workers}, median of {args.repeat}:")
    for side in sides:
        print(f"  {side:22s} {median[side]:7.2f} s   runs: {', '.join(f'{t:.2f}' for t in times[side])}")
    print(f"statistics while writing cost {median['write+stats'] / median['write']:.2f}x the write alone "
          f"(+{median['write+stats'] - median['write']:.2f} s)")
    print(f"writing, then profiling takes {median['write, then profile'] / median['write+stats']:.2f}x "
          "as long as both in one pass")
    if args.rss:
        done = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--workers", str(args.workers),
                               "--only", "write+stats"], check=True, capture_output=True, text=True)
        peak = json.loads(done.stdout)["peak_rss_mib"]
        print(f"peak RSS of write+stats in a fresh process: {peak:,.0f} MiB "
              f"({'PASS' if peak < 1500 else 'FAIL'}: bar < 1.5 GB)")


if __name__ == "__main__":
    main()
