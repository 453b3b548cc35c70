"""datamill's `drift` against a scipy loop and Evidently 0.7's DataDriftPreset, on issue 11's table.

The table is bench_profile.py's (seeded): 8 float, 4 int, 5 categorical (cardinality 5 to 100k),
2 free-text and 1 timestamp column, as Parquet under ``benchmarks/_data/``. It is cut two ways:

- ``halves``: the first half of the rows against the second (the timestamps are sorted, so
  ``ts`` moved; every other column is drawn i.i.d., so nothing else did);
- ``random``: shuffled, then halved: nothing moved, and a test that flags a column is wrong.

Each side runs in a fresh process that reads the two Parquet files itself; the time is taken
inside it (imports excluded), peak RSS is sampled from outside (the process tree):

- datamill: `datamill.validate.drift` over the 20 columns (one column read at a time);
- scipy: a loop, KS for numbers and times, chi-squared on the value counts for strings;
- Evidently: ``Report([DataDriftPreset()])`` with its defaults, in its own venv
  (``benchmarks/requirements-evidently.txt``), killed after ``--timeout`` seconds.

    .venv/bin/python benchmarks/bench_drift.py                 # 1M rows
    .venv/bin/python benchmarks/bench_drift.py --rows 5000000 --skip-evidently
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
EVIDENTLY_PYTHON = DATA / "venv-evidently" / "bin" / "python"


# ------------------------------------------------------------------------------------ the data
def split_files(rows: int) -> dict[str, tuple[Path, Path]]:
    """The two cuts of the table, as Parquet pairs (made once)."""
    import numpy as np
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from bench_profile import BATCH_ROWS, data_file

    pairs = {cut: (DATA / f"drift_{rows}_{cut}_ref.parquet", DATA / f"drift_{rows}_{cut}_cur.parquet")
             for cut in ("halves", "random")}
    if all(p.exists() for pair in pairs.values() for p in pair):
        return pairs
    table = pq.read_table(data_file(rows))
    half = table.num_rows // 2
    shuffled = table.take(np.random.default_rng(11).permutation(table.num_rows))
    for cut, source in (("halves", table), ("random", shuffled)):
        for path, part in zip(pairs[cut], (source.slice(0, half), source.slice(half)), strict=True):
            pq.write_table(part, path.with_suffix(".tmp"), row_group_size=BATCH_ROWS)
            path.with_suffix(".tmp").rename(path)
    return pairs


# ------------------------------------------------------------------------------------ the sides (children)
def run_datamill(ref: Path, cur: Path) -> dict[str, Any]:
    from datamill.validate.drift import drift

    started = time.perf_counter()
    results = drift(ref, cur)
    seconds = time.perf_counter() - started
    verdicts = {r["column"]: {"method": r["method"], "statistic": r["statistic"], "drifted": r["drifted"]}
                for r in results}
    return {"seconds": seconds, "verdicts": verdicts}


def run_scipy(ref: Path, cur: Path) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy import stats

    started = time.perf_counter()
    verdicts = {}
    for name in pq.read_schema(ref).names:
        a, b = (pq.read_table(p, columns=[name])[name] for p in (ref, cur))
        if pa.types.is_string(a.type) or pa.types.is_large_string(a.type):
            counts = pa.table({"v": pc.value_counts(a.drop_null().combine_chunks()).field("values"),
                               "a": pc.value_counts(a.drop_null().combine_chunks()).field("counts")})
            other = pc.value_counts(b.drop_null().combine_chunks())
            joined = counts.join(pa.table({"v": other.field("values"), "b": other.field("counts")}), "v",
                                 join_type="full outer")
            table = np.vstack([pc.fill_null(joined["a"], 0).to_numpy(), pc.fill_null(joined["b"], 0).to_numpy()])
            statistic, p = stats.chi2_contingency(table, correction=False)[:2]
            method = "chi2"
        else:
            if pa.types.is_timestamp(a.type):
                a, b = a.cast(pa.int64()), b.cast(pa.int64())
            x, y = a.drop_null().to_numpy(), b.drop_null().to_numpy()
            statistic, p = stats.ks_2samp(x, y)
            method = "ks"
        verdicts[name] = {"method": method, "statistic": float(statistic), "p_value": float(p),
                          "drifted": bool(p < 0.05)}
    return {"seconds": time.perf_counter() - started, "verdicts": verdicts}


EVIDENTLY_METHODS = {"Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensen_shannon",
                     "K-S p_value": "ks", "chi-square p_value": "chi2", "Z-test p_value": "z",
                     "Absolute text content drift": "text_domain_classifier"}


def run_evidently(ref: Path, cur: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from evidently import Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    reference, current = pq.read_table(ref).to_pandas(), pq.read_table(cur).to_pandas()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, value, threshold = config["method"], float(metric["value"]), float(config["threshold"])
        p_value = method.endswith("p_value")
        verdicts[config["column"]] = {"method": EVIDENTLY_METHODS.get(method, method), "statistic": value,
                                      "drifted": value < threshold if p_value else value >= threshold}
    return {"seconds": seconds, "verdicts": verdicts}


SIDES = {"datamill": run_datamill, "scipy": run_scipy, "evidently": run_evidently}


# ------------------------------------------------------------------------------------ the parent
def child(side: str, ref: Path, cur: Path, timeout: float) -> dict[str, Any]:
    """Run one side in a fresh process; sample the tree's RSS; kill it after ``timeout`` seconds."""
    import psutil  # dev dependency of datamill (not needed in Evidently's venv)

    python = str(EVIDENTLY_PYTHON) if side == "evidently" else sys.executable
    cmd = [python, __file__, "--child", side, str(ref), str(cur)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [watched, *watched.children(recursive=True)])
            peak = max(peak, rss)
        except psutil.Error:
            pass
        if time.perf_counter() - started > timeout:
            proc.kill()
            proc.wait()
            return {"finished": False, "seconds": time.perf_counter() - started, "peak_mib": peak / 2**20}
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {"finished": False, "seconds": time.perf_counter() - started, "peak_mib": peak / 2**20,
                "error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result.update(finished=True, peak_mib=peak / 2**20)
    return result


def describe(result: dict[str, Any]) -> str:
    if result["finished"]:
        return f"{result['seconds']:7.2f} s  peak RSS {result['peak_mib']:,.0f} MiB"
    why = result.get("error") or "timed out"
    return f"did not finish ({why}) after {result['seconds']:.0f} s, peak RSS reached {result['peak_mib']:,.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=600.0, help="Seconds before Evidently is stopped.")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "REF", "CUR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        side, ref, cur = args.child
        print(json.dumps(SIDES[side](Path(ref), Path(cur))))
        return

    pairs = split_files(args.rows)
    sides = ["datamill", "scipy"] + ([] if args.skip_evidently or not EVIDENTLY_PYTHON.exists() else ["evidently"])
    if "evidently" not in sides:
        print(f"(Evidently skipped: make {EVIDENTLY_PYTHON} with benchmarks/requirements-evidently.txt)")
    print(f"table: {args.rows:,} rows x 20 columns, halves of {args.rows // 2:,} rows each")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for cut, (ref, cur) in pairs.items():
        results[cut] = {side: child(side, ref, cur, args.timeout if side == "evidently" else 3600) for side in sides}
        print(f"\n== {cut}: " + ("first half vs second half (ts moved, nothing else)" if cut == "halves"
                                  else "shuffled, then halved (nothing moved)"))
        for side in sides:
            print(f"  {side:9} {describe(results[cut][side])}")
        dm = results[cut]["datamill"]
        for side in sides[1:]:
            other = results[cut][side]
            if dm["finished"] and other["finished"]:
                print(f"  {side} / datamill time: {other['seconds'] / dm['seconds']:.2f}x")
            elif dm["finished"]:
                print(f"  {side} / datamill time: > {other['seconds'] / dm['seconds']:.1f}x (did not finish)")
        verdict_table(results[cut], sides)
        for side in sides:
            if results[cut][side]["finished"]:
                flagged = [c for c, v in results[cut][side]["verdicts"].items() if v["drifted"]]
                print(f"  {side:9} flags: {', '.join(flagged) or 'none'}")
    dm_random = results["random"]["datamill"]
    if dm_random["finished"]:
        false_alarms = [c for c, v in dm_random["verdicts"].items() if v["drifted"]]
        print(f"\ndatamill on the random split flags {false_alarms or 'nothing'} -> "
              f"{'PASS' if not false_alarms else 'FAIL'}")
    if "evidently" in sides:
        ev, dm = results["halves"]["evidently"], results["halves"]["datamill"]
        ratio = ev["seconds"] / dm["seconds"] if dm["finished"] else float("nan")
        print(f"Evidently / datamill time (halves): {'>' if not ev['finished'] else ''}{ratio:.1f}x "
              f"(bar: >= 5x) -> {'PASS' if ratio >= 5 else 'FAIL'}")


def verdict_table(cut: dict[str, dict[str, Any]], sides: list[str]) -> None:
    """Per column: each side's method, statistic and verdict; ``=`` where datamill and Evidently used
    the same method and agree."""
    columns = list(cut["datamill"].get("verdicts", {}))
    print(f"  {'column':8}" + "".join(f" {side:>34}" for side in sides))
    for column in columns:
        cells = []
        for side in sides:
            v = cut[side].get("verdicts", {}).get(column)
            if v is None:
                cells.append(f" {'-':>34}")
                continue
            statistic = "-" if v["statistic"] is None else f"{v['statistic']:.4g}"
            cells.append(f" {v['method'] + ' ' + statistic + (' DRIFT' if v['drifted'] else ' ok'):>34}")
        ev = cut.get("evidently", {}).get("verdicts", {}).get(column)
        dm = cut["datamill"]["verdicts"][column]
        same = " =" if ev and ev["method"] == dm["method"] and ev["drifted"] == dm["drifted"] else (
            " (differs)" if ev and ev["method"] == dm["method"] else "")
        print(f"  {column:8}" + "".join(cells) + same)


if __name__ == "__main__":
    main()
