"""Engine overhead: datamill's identity pipeline against a plain pyarrow copy of the same data.

What is compared, in one invocation and on the same cached input (~105 bytes/row of zstd
Parquet: 20M rows ≈ 2.1 GB in 20 files of 1M rows, row groups of 250k rows; see
``datagen.py``):

* **pyarrow** (the baseline) — a child Python process that runs::

      dataset = pyarrow.dataset.dataset(files, format="parquet")
      pyarrow.dataset.write_dataset(
          dataset.to_batches(),                    # default scan: 128k-row batches, threads on
          out_dir, schema=dataset.schema, format="parquet",
          file_options=ParquetFileFormat().make_write_options(
              compression="zstd", compression_level=1),   # the codec/level datamill writes
          max_rows_per_file=1_000_000,             # the same shard size as write.dataset
          max_rows_per_group=1_000_000)            # must be <= max_rows_per_file

  i.e. read, decode, re-encode and write every row, with Arrow's own thread pool, in one
  process. (The writer flushes each incoming scan batch as a row group: ~31k rows each.)
* **datamill** — a child process that runs the real engine on a fresh workspace:
  the identity pipeline ``read.parquet → write.dataset {profile: false}`` (no column statistics,
  which the copy does not compute either) with ``workers=N`` (the process
  pool), through the CLI (``datamill run pipeline.yaml``) when it exists, else through
  ``Pipeline.from_dict(...).run(ws, workers=N)``. This includes everything a user pays on a
  first run: hashing the input files for the cache key, planning, the pool start, hashing
  the shards as they are written, manifests and catalog rows.

Each side is timed as the wall time of its whole child process (interpreter start and imports
included on both sides) and also by the child itself (work only). Peak memory is the maximum
over 50 ms samples of the RSS summed over the child and all its descendants (forkserver and
workers included); the anonymous part (heaps, Arrow buffers) is shown separately. Sides
alternate (A B, B A, ...) and the median is reported; also printed are the median of each
rep's paired ratio and CPU seconds (user + system over the tree), both steadier than wall
time on a shared machine. Targets: datamill throughput ≥ 70% of
pyarrow's, and datamill peak RSS < 1 GB.

    .venv/bin/python benchmarks/bench_engine_overhead.py              # 20M rows, 2 workers
    .venv/bin/python benchmarks/bench_engine_overhead.py --quick      # 1M rows smoke check
    .venv/bin/python benchmarks/bench_engine_overhead.py --json
    # experiments (datamill side only):
    .venv/bin/python benchmarks/bench_engine_overhead.py --reps 2 \
        --read-options '{"partition_rows": 250000}' \
        --datamill-env ARROW_DEFAULT_MEMORY_POOL=jemalloc

The input page cache is warmed before the first measurement, so both sides read from memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import DATA_DIR, ensure_dataset, total_bytes, warm_page_cache
from memwatch import run_measured

ROOT = Path(__file__).resolve().parents[1]
CLI_MAIN = ROOT / "src" / "datamill" / "cli" / "main.py"
TARGET_RATIO = 0.70
TARGET_RSS = 1_000_000_000  # 1 GB


# ----------------------------------------------------------------------------- children
def child_baseline(files: list[str], out: str) -> dict[str, Any]:
    """The plain pyarrow copy (see the module docstring)."""
    started = time.monotonic()
    import pyarrow.dataset as ds

    imported = time.monotonic()
    dataset = ds.dataset(files, format="parquet")
    fmt = ds.ParquetFileFormat()
    ds.write_dataset(
        dataset.to_batches(), out, schema=dataset.schema, format=fmt,
        file_options=fmt.make_write_options(compression="zstd", compression_level=1),
        max_rows_per_file=1_000_000, max_rows_per_group=1_000_000,
    )
    done = time.monotonic()
    return {"import_s": imported - started, "work_s": done - imported}


def pipeline_dict(files: list[str], read_options: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    """The identity pipeline (``read_options`` are extra ``with:`` options of read.parquet)."""
    return {
        "name": "bench",
        "steps": [
            {"id": "raw", "uses": "read.parquet",
             "with": {"paths": files, **(read_options or {})}},
            # The statistics write.dataset computes by default have no counterpart in a plain
            # copy; bench_write_profile.py measures what they cost.
            {"id": "out", "uses": "write.dataset", "input": "raw", "with": {"profile": False}},
        ],
        "outputs": {"bench_out": "out"},
    }


def child_datamill(files: list[str], ws_dir: str, workers: int,
                   read_options: dict[str, Any]) -> dict[str, Any]:
    """The identity pipeline through the Python API, in a fresh workspace."""
    started = time.monotonic()
    from datamill.pipeline.runner import Pipeline
    from datamill.store import Workspace

    imported = time.monotonic()
    ws = Workspace.init(ws_dir)
    result = Pipeline.from_dict(pipeline_dict(files, read_options), base_dir=Path(ws_dir)).run(
        ws, workers=workers)
    done = time.monotonic()
    return {"import_s": imported - started, "work_s": done - imported,
            "result": result.to_dict()}


# ----------------------------------------------------------------------------- parent
def _stats_of(paths: list[Path]) -> dict[str, Any]:
    rows = groups = 0
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        rows += meta.num_rows
        groups += meta.num_row_groups
    return {"rows": rows, "files": len(paths), "row_groups": groups,
            "bytes": sum(p.stat().st_size for p in paths)}


def _child_json(stdout: str) -> dict[str, Any]:
    start = stdout.find("{")
    if start >= 0:
        try:
            return dict(json.loads(stdout[start:]))
        except json.JSONDecodeError:
            pass
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    return {}


def run_side(side: str, files: list[Path], workers: int, via: str, scratch: Path,
             read_options: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one side in a child process; measure it; remove its output."""
    work = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=scratch))
    names = [str(f) for f in files]
    try:
        if side == "pyarrow":
            out = work / "out"
            cmd = [sys.executable, __file__, "--child", "baseline", "--out", str(out), *names]
        elif via == "cli":
            import yaml

            from datamill.store import Workspace

            Workspace.init(work).close()  # `datamill init`: not part of the run
            (work / "pipeline.yaml").write_text(
                yaml.safe_dump(pipeline_dict(names, read_options)))
            exe = Path(sys.executable).with_name("datamill")
            cmd = [str(exe), "run", "pipeline.yaml", "--workers", str(workers), "--json",
                   "--no-progress"]
        else:
            cmd = [sys.executable, __file__, "--child", "datamill", "--ws", str(work),
                   "--workers", str(workers), "--read-options", json.dumps(read_options),
                   *names]
        child_env = {**os.environ, **env} if side == "datamill" else None
        wall, peak, code, stdout, stderr = run_measured(cmd, cwd=str(work), env=child_env)
        if code != 0:
            raise SystemExit(f"{side} failed (exit {code}):\n{stdout[-3000:]}\n{stderr[-3000:]}")
        info = _child_json(stdout)
        if side == "pyarrow":
            stats = _stats_of(sorted((work / "out").rglob("*.parquet")))
        else:
            from datamill.store import Workspace

            ws = Workspace.find(work)
            dataset = ws.open("bench_out")
            stats = _stats_of([Path(ws.objects.path(s["path"])) for s in dataset.shards])
            ws.close()
            if "steps" in info and "result" not in info:  # the CLI's --json
                info = {"result": info, "work_s": info.get("seconds")}
        return {"side": side, "wall_s": wall, "peak_rss": peak.rss, "peak_anon": peak.anon,
                "cpu_s": peak.cpu, "procs": peak.procs, "samples": peak.samples, "child": info, "output": stats}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--files", type=int, default=None, help="input files (default: auto)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3, help="runs of each side (alternating)")
    parser.add_argument("--quick", action="store_true", help="1M rows, 2 reps: a smoke check")
    parser.add_argument("--via", choices=["auto", "api", "cli"], default="auto",
                        help="how datamill runs (auto: the CLI when it exists)")
    parser.add_argument("--read-options", default="{}", metavar="JSON",
                        help="extra read.parquet options for the datamill side, e.g. "
                        "'{\"partition_rows\": 250000}' (for experiments)")
    parser.add_argument("--datamill-env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment of the datamill side only, e.g. "
                        "ARROW_DEFAULT_MEMORY_POOL=jemalloc (for experiments)")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument("--child", choices=["baseline", "datamill"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--ws", help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child == "baseline":
        print(json.dumps(child_baseline(args.inputs, args.out)))
        return
    if args.child == "datamill":
        print(json.dumps(child_datamill(args.inputs, args.ws, args.workers,
                                        json.loads(args.read_options))))
        return

    if args.quick:
        args.rows, args.reps = 1_000_000, 2
    via = args.via
    if via == "auto":
        via = "cli" if CLI_MAIN.exists() else "api"

    print(f"input: {args.rows:,} rows (generated once under {DATA_DIR})", flush=True)
    files = ensure_dataset(args.rows, args.files)
    in_bytes = total_bytes(files)
    print(f"input: {len(files)} files, {in_bytes / 1e9:.2f} GB; warming the page cache ... ",
          end="", flush=True)
    print(f"{warm_page_cache(files):.1f} s", flush=True)
    scratch = DATA_DIR / "_scratch"
    scratch.mkdir(parents=True, exist_ok=True)

    read_options = json.loads(args.read_options)
    env = dict(item.split("=", 1) for item in args.datamill_env)
    if read_options or env:
        print(f"datamill side: read.parquet options {read_options}, environment {env}")
    runs: dict[str, list[dict[str, Any]]] = {"pyarrow": [], "datamill": []}
    for rep in range(args.reps):
        order = ["pyarrow", "datamill"] if rep % 2 == 0 else ["datamill", "pyarrow"]
        for side in order:
            run = run_side(side, files, args.workers, via, scratch, read_options, env)
            runs[side].append(run)
            print(f"  rep {rep + 1} {side:<8} {run['wall_s']:7.2f} s  "
                  f"peak RSS {run['peak_rss'] / 1e6:7.0f} MB "
                  f"(anon {run['peak_anon'] / 1e6:5.0f} MB, {run['procs']} procs)  "
                  f"CPU {run['cpu_s']:6.1f} s  "
                  f"child work {run['child'].get('work_s') or float('nan'):6.2f} s", flush=True)

    summary: dict[str, Any] = {"read_options": read_options, "datamill_env": env,
                               "rows": args.rows, "input_files": len(files),
                               "input_bytes": in_bytes, "workers": args.workers, "via": via,
                               "reps": args.reps, "sides": {}}
    for side, side_runs in runs.items():
        wall = _median(side_runs, "wall_s")
        work = statistics.median(r["child"].get("work_s", r["wall_s"]) for r in side_runs)
        out = side_runs[0]["output"]
        if out["rows"] != args.rows:
            raise SystemExit(f"{side} wrote {out['rows']:,} rows, expected {args.rows:,}")
        summary["sides"][side] = {
            "wall_s": wall, "work_s": work, "cpu_s": _median(side_runs, "cpu_s"), "rows_per_s": args.rows / wall,
            "mb_per_s": in_bytes / 1e6 / wall, "peak_rss": max(r["peak_rss"] for r in side_runs),
            "peak_anon": max(r["peak_anon"] for r in side_runs), "output": out,
            "runs": [{k: r[k] for k in ("wall_s", "cpu_s", "peak_rss", "peak_anon", "procs")}
                     | {"work_s": r["child"].get("work_s")} for r in side_runs],
        }
    steps = runs["datamill"][0]["child"].get("result", {}).get("steps", [])
    summary["datamill_steps"] = [{k: s.get(k) for k in ("id", "status", "rows_out", "seconds")}
                                 for s in steps]
    pa_side, dm_side = summary["sides"]["pyarrow"], summary["sides"]["datamill"]
    ratio = dm_side["rows_per_s"] / pa_side["rows_per_s"]
    work_ratio = pa_side["work_s"] / dm_side["work_s"]
    cpu_ratio = pa_side["cpu_s"] / dm_side["cpu_s"]
    # Each rep's two runs were adjacent in time: their ratio cancels slow drifts in the load.
    paired = statistics.median(p["wall_s"] / d["wall_s"]
                               for p, d in zip(runs["pyarrow"], runs["datamill"], strict=True))
    ok = ratio >= TARGET_RATIO and dm_side["peak_rss"] < TARGET_RSS
    summary.update(throughput_ratio=ratio, paired_ratio=paired, work_ratio=work_ratio,
                   cpu_ratio=cpu_ratio, passed=ok)

    print()
    print(f"{'side':<9}{'wall s':>8}{'work s':>8}{'CPU s':>7}{'Mrows/s':>9}{'MB/s':>7}"
          f"{'peak RSS':>10}"
          f"{'anon':>8}{'out files':>10}{'row grps':>9}{'out MB':>8}")
    for side in ("pyarrow", "datamill"):
        s = summary["sides"][side]
        print(f"{side:<9}{s['wall_s']:8.2f}{s['work_s']:8.2f}{s['cpu_s']:7.1f}"
              f"{s['rows_per_s'] / 1e6:9.2f}"
              f"{s['mb_per_s']:7.0f}{s['peak_rss'] / 1e6:8.0f}MB{s['peak_anon'] / 1e6:6.0f}MB"
              f"{s['output']['files']:10d}{s['output']['row_groups']:9d}"
              f"{s['output']['bytes'] / 1e6:8.0f}")
    print(f"(medians of {args.reps}; MB/s = input Parquet bytes / wall s; datamill via {via}, "
          f"workers={args.workers})")
    print(f"datamill throughput / pyarrow throughput = {ratio:.2f} (medians of wall time)")
    print(f"  same, median of per-rep paired ratios = {paired:.2f}; work only (no interpreter "
          f"start/imports) = {work_ratio:.2f}; CPU seconds pyarrow/datamill = {cpu_ratio:.2f}")
    print(f"datamill peak RSS = {dm_side['peak_rss'] / 1e6:.0f} MB "
          f"(anonymous {dm_side['peak_anon'] / 1e6:.0f} MB)")
    print(f"{'PASS' if ok else 'FAIL'}: throughput ratio {ratio:.2f} "
          f"{'>=' if ratio >= TARGET_RATIO else '<'} {TARGET_RATIO:.2f}, peak RSS "
          f"{dm_side['peak_rss'] / 1e9:.2f} GB "
          f"{'<' if dm_side['peak_rss'] < TARGET_RSS else '>='} 1 GB"
          + (" (--quick is a smoke check: fixed start-up costs dominate 1M rows; the targets "
             "are for the 20M-row run)" if args.quick else ""))
    if args.json:
        print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
