"""Resume: a run killed with SIGKILL picks up its finished partitions and gives the same versions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from datamill.store import Workspace
from tests.pipeline.conftest import write_pipeline

SPEC = {
    "name": "slow",
    "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 8, "rows": 200}},
        {"id": "slow", "uses": "./steps.py:Slow", "input": "gen"},
        {"id": "out", "uses": "write.dataset", "input": "slow"},
    ],
    "outputs": {"slow_out": "out"},
}


def _cli(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "datamill", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "DATAMILL_HOME": str(cwd)})


def _checkpoints(ws: Workspace) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM checkpoints")).scalar() or 0)


def _kill_after_three_checkpoints(project: Path, pipeline: Path, ws: Workspace) -> None:
    """Start ``datamill run`` and SIGKILL it once three partitions are checkpointed."""
    proc = _cli(project, "run", str(pipeline), "--json", "--no-progress")
    deadline = time.monotonic() + 60
    while _checkpoints(ws) < 3:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never checkpointed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_run_killed_mid_step_resumes_and_matches_an_uninterrupted_run(project: Path, tmp_path: Path) -> None:
    pipeline = write_pipeline(project, SPEC)
    ws = Workspace.init(project)
    _kill_after_three_checkpoints(project, pipeline, ws)
    assert ws.catalog.runs()[0]["status"] == "running"  # killed: never marked finished
    assert "slow_out" not in {d["name"] for d in ws.catalog.datasets()}

    resumed = _cli(project, "run", str(pipeline), "--json", "--resume", "--no-progress")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    result = json.loads(out)
    slow = next(s for s in result["steps"] if s["id"] == "slow")
    assert slow["metrics"]["resumed_partitions"] >= 3
    assert slow["rows_in"] == slow["rows_out"] == 8 * 200

    clean = Workspace.init(tmp_path / "clean")
    fresh = _cli(tmp_path / "clean", "run", str(pipeline), "--json", "--no-progress")
    out2, err2 = fresh.communicate(timeout=120)
    assert fresh.returncode == 0, err2
    assert json.loads(out2)["outputs"] == result["outputs"]
    assert clean.verify(clean.open("slow_out").id) is None


def _headline(report: dict[str, object]) -> list[tuple[object, ...]]:
    columns = report["columns"]
    assert isinstance(columns, list)
    return [(c["name"], c["rows"], c["count"], c["missing"], c["distinct"],
             (c["numeric"] or {}).get("min"), (c["numeric"] or {}).get("max")) for c in columns]


def test_a_resumed_write_still_stores_the_whole_versions_statistics(project: Path, tmp_path: Path) -> None:
    # The source is fused into write.dataset, so the write's own partitions are checkpointed;
    # those carry no statistics, and the runner profiles the written shards instead.
    spec = {"name": "slowwrite", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 8, "rows": 200, "sleep_s": 0.4}},
        {"id": "out", "uses": "write.dataset", "input": "gen"},
    ], "outputs": {"written": "out"}}
    pipeline = write_pipeline(project, spec, "w.yaml")
    ws = Workspace.init(project)
    _kill_after_three_checkpoints(project, pipeline, ws)
    resumed = _cli(project, "run", str(pipeline), "--json", "--resume", "--no-progress")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert next(s for s in json.loads(out)["steps"] if s["id"] == "out")["metrics"]["resumed_partitions"] >= 3

    clean = Workspace.init(tmp_path / "clean")
    fresh = _cli(tmp_path / "clean", "run", str(pipeline), "--json", "--no-progress")
    assert fresh.communicate(timeout=120)[0] and fresh.returncode == 0
    after_resume, uninterrupted = ws.open("written"), clean.open("written")
    assert after_resume.id == uninterrupted.id
    assert after_resume.profile is not None and uninterrupted.profile is not None
    assert after_resume.profile["rows"] == 8 * 200
    assert _headline(after_resume.profile) == _headline(uninterrupted.profile)
