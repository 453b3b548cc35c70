"""Step cache: an unchanged re-run against the first run, and what a config change re-runs.

The pipeline (5 steps, over a few million generated rows; see ``datagen.py``)::

    raw    read.parquet   the generated files
    keep   filter.expr    pl.col('n') >= 100                (drops ~10%)
    feat   map.python     batch mode: adds text_len = utf8_length(text)  (a file written here)
    pick   sample         fraction 0.5, seed 0
    out    write.dataset  name bench_cache

1. First run in a fresh workspace (every step runs; ``raw`` is fused into ``keep``).
2. The same pipeline again in the same workspace: every step should be a cache hit.
   PASS when second / first < 5%. Both are timed in this process around
   ``Pipeline.from_dict(...).run(ws, workers=N)`` (the step registry is loaded before either).
3. ``pick.fraction`` 0.5 → 0.4: only ``pick`` and ``out`` should run.
4. ``keep.expr`` changed: ``keep`` and everything downstream should run.

Each run prints every step's status and ``reason`` from the run result.

    .venv/bin/python benchmarks/bench_cache.py            # 4M rows, 2 workers
    .venv/bin/python benchmarks/bench_cache.py --rows 1000000 --json
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from datagen import DATA_DIR, ensure_dataset, total_bytes, warm_page_cache

TARGET = 0.05

FUNCTION_FILE = '''"""A batch-mode map.python function for bench_cache."""

import pyarrow as pa
import pyarrow.compute as pc


def add_len(batch: pa.RecordBatch) -> pa.RecordBatch:
    return batch.append_column("text_len", pc.utf8_length(batch.column("text")))
'''


def pipeline_dict(files: list[str]) -> dict[str, Any]:
    """The 5-step pipeline."""
    return {
        "name": "bench_cache",
        "steps": [
            {"id": "raw", "uses": "read.parquet", "with": {"paths": files}},
            {"id": "keep", "uses": "filter.expr", "input": "raw",
             "with": {"expr": "pl.col('n') >= 100"}},
            {"id": "feat", "uses": "map.python", "input": "keep",
             "with": {"function": "./bench_fn.py:add_len", "mode": "batch"}},
            {"id": "pick", "uses": "sample", "input": "feat",
             "with": {"fraction": 0.5, "seed": 0}},
            {"id": "out", "uses": "write.dataset", "input": "pick",
             "with": {"name": "bench_cache"}},
        ],
        "outputs": {"bench_cache_out": "out"},
    }


def _with(data: dict[str, Any], step_id: str, **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    for step in changed["steps"]:
        if step["id"] == step_id:
            step["with"].update(changes)
    return changed


def run_once(label: str, data: dict[str, Any], ws: Any, base: Path, workers: int,
             ) -> dict[str, Any]:
    """Run the pipeline, print each step's status and reason; return the timing and steps."""
    from datamill.pipeline.runner import Pipeline

    started = time.monotonic()
    try:
        result = Pipeline.from_dict(data, base_dir=base).run(ws, workers=workers)
    except Exception as err:  # report a failing run and go on with the others
        seconds = time.monotonic() - started
        error = f"{type(err).__name__}: {err}"
        where = traceback.extract_tb(err.__traceback__)[-1]
        print(f"\n{label}: FAILED after {seconds:.3f} s: {error}\n"
              f"  (raised at {Path(where.filename).name}:{where.lineno} in {where.name})")
        return {"label": label, "seconds": seconds, "error": error, "steps": []}
    seconds = time.monotonic() - started
    print(f"\n{label}: {seconds:.3f} s  (status {result.status}, outputs {result.outputs})")
    print(f"  {'step':<6}{'uses':<15}{'status':<8}{'rows in':>11}{'rows out':>11}{'seconds':>9}"
          "  reason")
    for step in result.steps:
        print(f"  {step.id:<6}{step.uses:<15}{step.status:<8}{step.rows_in:>11,}"
              f"{step.rows_out:>11,}{step.seconds:>9.2f}  {step.reason}")
    return {"label": label, "seconds": seconds,
            "steps": [{"id": s.id, "status": s.status, "reason": s.reason,
                       "rows_out": s.rows_out, "seconds": s.seconds} for s in result.steps]}


def _expect(run: dict[str, Any], ran: set[str]) -> bool:
    """True when exactly the steps in ``ran`` ran (a fused source counts with its consumer)."""
    if run.get("error"):
        return False
    statuses = {s["id"]: s["status"] for s in run["steps"]}
    return all((statuses[s] == "ran") == (s in ran) for s in statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    from datamill.pipeline.registry import registered_steps
    from datamill.store import Workspace

    registered_steps()  # import the built-in steps before timing anything
    files = ensure_dataset(args.rows)
    print(f"input: {args.rows:,} rows in {len(files)} files, "
          f"{total_bytes(files) / 1e6:.0f} MB (under {DATA_DIR}); page cache warmed in "
          f"{warm_page_cache(files):.1f} s; workers={args.workers}")
    scratch = DATA_DIR / "_scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="cache-", dir=scratch))
    try:
        (work / "bench_fn.py").write_text(FUNCTION_FILE)
        ws = Workspace.init(work)
        data = pipeline_dict([str(f) for f in files])
        first = run_once("run 1 (first run, fresh workspace)", data, ws, work, args.workers)
        second = run_once("run 2 (unchanged)", data, ws, work, args.workers)
        sampled = run_once("run 3 (pick.fraction 0.5 -> 0.4)", _with(data, "pick", fraction=0.4),
                           ws, work, args.workers)
        filtered = run_once("run 4 (keep.expr changed)",
                            _with(_with(data, "pick", fraction=0.4), "keep",
                                  expr="pl.col('n') >= 200"), ws, work, args.workers)
        ws.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = second["seconds"] / first["seconds"]
    checks = {
        "run 2: nothing ran": _expect(second, set()),
        "run 3: only pick and out ran": _expect(sampled, {"pick", "out"}),
        "run 4: keep and downstream ran": _expect(filtered, {"raw", "keep", "feat", "pick",
                                                             "out"}),
    }
    print()
    print(f"first run {first['seconds']:.3f} s, unchanged re-run {second['seconds']:.3f} s, "
          f"ratio {ratio:.4f} ({ratio:.2%})")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    passed = ratio < TARGET
    print(f"{'PASS' if passed else 'FAIL'}: unchanged re-run / first run = {ratio:.2%} "
          f"{'<' if passed else '>='} {TARGET:.0%}")
    failed = [name for name, ok in checks.items() if not ok]
    print(f"{'FAIL' if failed else 'PASS'}: a config change re-runs only that step and its "
          f"downstream ({len(checks) - len(failed)} of {len(checks)} checks ok)")
    if args.json:
        print(json.dumps({"rows": args.rows, "workers": args.workers, "ratio": ratio,
                          "passed": passed, "rerun_checks_passed": not failed,
                          "checks": checks,
                          "runs": [first, second, sampled, filtered]}, indent=1))


if __name__ == "__main__":
    main()
