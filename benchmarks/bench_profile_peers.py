"""datamill's `profile` against Great Expectations, whylogs, Evidently and ydata-profiling (issue 11).

The table is bench_profile.py's (seeded, Parquet under ``benchmarks/_data/``): 8 float, 4 int,
5 categorical (cardinality 5 to 100k), 2 free-text and 1 timestamp column. Every side runs in a
fresh process, reads the file itself (reading is in its time, imports are not) and reports its
time and peak RSS (``VmHWM``); this driver also samples the process tree's RSS, kills it past
``--max-rss`` GiB or ``--timeout`` seconds, and keeps the larger of the two peaks:

- datamill: `datamill.validate.profile` streaming the file (``bench_profile.py --only datamill``);
- polars: bench_profile's one-``select`` pass (``--only polars``);
- the peers, in their own venv (``benchmarks/requirements-validate.txt``), one per process
  (``benchmarks/profile_peers.py``): GE 1.x validating a 121-expectation suite, whylogs
  ``why.log``, Evidently 0.7 ``DataSummaryPreset``, ydata-profiling ``minimal=True``; each on a
  pandas dataframe read from the file.

Bars (issue 11): at 1M rows datamill >= 10x faster than ydata-profiling; at 5M rows >= 3x faster
than GE, whylogs and Evidently, and datamill's peak RSS < 1.5 GB. ydata-profiling runs at 5M only
if its 1M run (kept in ``benchmarks/_data/profile_peers_1000000.json``) peaked under 10 GiB.

    .venv/bin/python benchmarks/bench_profile_peers.py                    # 1M rows, all peers
    .venv/bin/python benchmarks/bench_profile_peers.py --rows 5000000
    .venv/bin/python benchmarks/bench_profile_peers.py --peers ge,ge-sets --rows 20000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
import psutil  # dev dependency
import pyarrow.parquet as pq
from bench_profile import DATA, data_file  # benchmarks/ is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
PEERS_PYTHON = DATA / "venv-validate" / "bin" / "python"
PEERS = ("ge", "whylogs", "evidently", "ydata")
EXTRA_PEERS = ("ge-sets",)  # GE with literal 10k/100k value sets (profile_peers.ge_suite)
GIB = 2**30
# Issue 11's peer figures (seconds; its machine) and bars: (rows, peer) -> at least this many times datamill's time.
ISSUE_SECONDS = {("polars", 1_000_000): 2.1, ("polars", 5_000_000): 12.4, ("ge", 1_000_000): 19.6,
                 ("ge", 5_000_000): 154.0, ("whylogs", 1_000_000): 24.0, ("whylogs", 5_000_000): 136.0,
                 ("evidently", 1_000_000): 39.0, ("evidently", 5_000_000): 179.0, ("ydata", 1_000_000): 214.0}
BARS = {(1_000_000, "ydata"): 10.0, (5_000_000, "ge"): 3.0, (5_000_000, "whylogs"): 3.0,
        (5_000_000, "evidently"): 3.0}
RSS_BAR_ROWS, RSS_BAR_BYTES = 5_000_000, 1.5e9
YDATA_5M_LIMIT = 10 * GIB


def tree_rss(proc: psutil.Process) -> int:
    """RSS of a process and its descendants, in bytes (0 once it is gone)."""
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def kill_tree(proc: psutil.Process) -> None:
    """Kill the child and whatever it started (a peer may run a pool)."""
    try:
        procs = [*proc.children(recursive=True), proc]
    except psutil.Error:
        procs = [proc]
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def watch(cmd: list[str], timeout: float, max_rss: float) -> dict[str, Any]:
    """Run ``cmd``, sampling its tree's RSS every 0.1 s; kill it past ``timeout`` s or ``max_rss`` bytes.

    Returns the child's JSON line (its own seconds and ``peak_mib``) with ``status`` (ok, killed,
    timeout, error), ``wall`` seconds (imports included) and ``peak_mib`` raised to the sampled peak.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        popen = subprocess.Popen(cmd, stdout=out, stderr=err)
        proc = psutil.Process(popen.pid)
        peak, status = 0, "ok"
        while popen.poll() is None:
            peak = max(peak, tree_rss(proc))
            elapsed = time.perf_counter() - started
            if peak > max_rss or elapsed > timeout:
                status = "killed" if peak > max_rss else "timeout"
                kill_tree(proc)
                popen.wait()
                break
            time.sleep(0.1)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    result: dict[str, Any] = {"status": status, "wall": wall, "sampled_peak_mib": peak / 2**20}
    if status == "ok" and popen.returncode != 0:
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        result.update(status="error", error=lines[-1] if lines else f"exit code {popen.returncode}")
    elif status == "ok":
        result.update(json.loads(stdout.strip().splitlines()[-1]))
    result["peak_mib"] = max(result.get("peak_mib", 0.0), peak / 2**20)
    result.setdefault("seconds", wall)
    return result


def side_command(side: str, rows: int, path: Path) -> list[str]:
    if side in ("datamill", "polars"):
        return [sys.executable, str(HERE / "bench_profile.py"), "--rows", str(rows), "--only", side]
    return [str(PEERS_PYTHON), str(HERE / "profile_peers.py"), side, str(path)]


def status_text(result: dict[str, Any]) -> str:
    if result["status"] == "ok":
        return "ok"
    if result["status"] == "killed":
        return f"killed at {result['sampled_peak_mib'] / 1024:.1f} GiB after {result['wall']:.0f} s"
    if result["status"] == "timeout":
        return f"timed out after {result['wall']:.0f} s (RSS reached {result['sampled_peak_mib'] / 1024:.1f} GiB)"
    if result["status"] == "skipped":
        return f"not run: {result['why']}"
    return f"failed: {result['error'][:120]}"


def ydata_5m_verdict(max_rss: float) -> str | None:
    """Why ydata-profiling is not run past 1M rows, or None to run it."""
    kept = DATA / "profile_peers_1000000.json"
    if not kept.exists():
        return f"its 1M run is not recorded yet ({kept.name}): run --rows 1000000 first"
    one = json.loads(kept.read_text()).get("ydata")
    if one is None or one["status"] != "ok":
        return "its 1M run did not finish" + (f" ({status_text(one)})" if one else "")
    if one["peak_mib"] * 2**20 >= YDATA_5M_LIMIT:
        return f"its 1M run peaked at {one['peak_mib'] / 1024:.1f} GiB (>= 10 GiB)"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--peers", default=",".join(PEERS),
                        help=f"Comma-separated, of {', '.join(PEERS + EXTRA_PEERS)}.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds before a side is killed.")
    parser.add_argument("--max-rss", type=float, default=16.0, help="GiB of RSS past which a side is killed.")
    args = parser.parse_args()
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = sorted(set(peers) - set(PEERS + EXTRA_PEERS))
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS + EXTRA_PEERS)}")
    if peers and not PEERS_PYTHON.exists():
        parser.error(f"{PEERS_PYTHON} is missing: make it as benchmarks/requirements-validate.txt says")
    peers.sort(key=lambda p: p == "ydata")  # ydata last: it may take the machine's memory
    path = data_file(args.rows)
    max_rss = args.max_rss * GIB
    print(f"table: {args.rows:,} rows x 20 columns, {path.stat().st_size / 2**20:,.0f} MiB Parquet "
          f"({pq.ParquetFile(path).num_row_groups} row groups); {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().available / GIB:.1f} GiB available at start; "
          f"limits {args.timeout:.0f} s, {args.max_rss:g} GiB", flush=True)
    versions = {"datamill": version("datamill"), "polars": pl.__version__}
    results: dict[str, dict[str, Any]] = {}
    for side in ["datamill", "polars", *peers]:
        why = ydata_5m_verdict(max_rss) if side == "ydata" and args.rows > 1_000_000 else None
        if why:
            results[side] = {"status": "skipped", "why": why, "seconds": 0.0, "peak_mib": 0.0}
        else:
            results[side] = watch(side_command(side, args.rows, path), args.timeout, max_rss)
        result = results[side]
        versions.setdefault(side, result.get("version", ""))
        print(f"  ... {side}: {status_text(result)} ({result['seconds']:.1f} s)", file=sys.stderr, flush=True)
    # Merged into what earlier runs kept, so that a run of a few peers keeps ydata's 1M record.
    kept = DATA / f"profile_peers_{args.rows}.json"
    kept.write_text(json.dumps({**(json.loads(kept.read_text()) if kept.exists() else {}), **results}, indent=1))

    print(f"{'side':10} {'version':9} {'seconds':>8} {'read s':>7} {'peak RSS MiB':>13}  status")
    for side, result in results.items():
        done = result["status"] == "ok"
        seconds = f"{result['seconds']:8.2f}" if done else f"{'>' + format(result['wall'], '.0f'):>8}" \
            if result["status"] in ("killed", "timeout") else f"{'-':>8}"
        read = f"{result['read_seconds']:7.2f}" if "read_seconds" in result else f"{'':7}"
        peak = f"{result['peak_mib']:13,.0f}" if result["status"] != "skipped" else f"{'-':>13}"
        print(f"{side:10} {versions[side]:9} {seconds} {read} {peak}  {status_text(result)}")

    base = results["datamill"]
    if base["status"] != "ok":
        print(f"datamill did not finish: {status_text(base)}")
        sys.exit(1)
    print("time ratio side / datamill (issue 11's bars; its figures on its machine in brackets):")
    for side, result in results.items():
        if side == "datamill" or result["status"] in ("skipped", "error"):
            continue
        done = result["status"] == "ok"
        ratio = (result["seconds"] if done else result["wall"]) / base["seconds"]
        text = f"{ratio:6.1f}x" if done else f">{ratio:5.1f}x"
        bar = BARS.get((args.rows, side))
        if bar is not None:
            verdict = "PASS" if ratio >= bar else "FAIL" if done else "n/a (did not finish)"
            text += f"  bar >= {bar:g}x  {verdict}"
        issue = ISSUE_SECONDS.get((side, args.rows))
        if issue:
            text += f"  [issue: {issue:g} s]"
        print(f"  {side:10} {text}")
    peak = base["peak_mib"] * 2**20
    if args.rows == RSS_BAR_ROWS:
        print(f"datamill peak RSS {peak / 1e9:.2f} GB ({base['peak_mib']:,.0f} MiB), bar < 1.5 GB: "
              f"{'PASS' if peak < RSS_BAR_BYTES else 'FAIL'}")
    else:
        print(f"datamill peak RSS {peak / 1e9:.2f} GB ({base['peak_mib']:,.0f} MiB) (the 1.5 GB bar is at 5M rows)")


if __name__ == "__main__":
    main()
