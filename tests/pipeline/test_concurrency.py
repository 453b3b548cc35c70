"""Two `datamill run` processes at once against one workspace (SQLite, then PostgreSQL).

Each pipeline reads its own Parquet file into a name of its own (``read.parquet`` → a user
transform → ``write.dataset``) and writes three versions of a shared name from user sources.
File barriers in the first transform and the last source make each run wait for the other,
so the runs really overlap and both reach the shared name at about the same time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml

from datamill.store import Workspace
from datamill.store.db import versions

STEPS = textwrap.dedent('''
    import time
    from pathlib import Path

    import pyarrow as pa

    from datamill.pipeline import Source, StepConfig, Transform


    def wait_at(gate: str, tag: str) -> None:
        """A barrier between the two runs: go on once both tags have reached `gate`."""
        folder = Path(gate)
        (folder / tag).touch()
        deadline = time.monotonic() + 60
        while len(list(folder.iterdir())) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {[p.name for p in folder.iterdir()]} reached {gate}")
            time.sleep(0.01)


    class GateConfig(StepConfig):
        tag: str
        gate: str
        sleep_s: float = 0.02


    class Gate(Transform[GateConfig]):
        """Passes batches through, after both runs have started; a little slowly."""

        def process(self, batch, ctx):
            wait_at(self.config.gate, self.config.tag)
            time.sleep(self.config.sleep_s)
            return batch


    class TaggedConfig(StepConfig):
        tag: str
        start: int = 0
        parts: int = 2
        rows: int = 400
        gate: str = ""


    class Tagged(Source[TaggedConfig]):
        """Rows tagged with the pipeline; with `gate`, first waits until both runs reach it."""

        def partitions(self):
            return [{"part": i} for i in range(self.config.parts)]

        def read(self, partition, ctx):
            cfg = self.config
            if cfg.gate:
                wait_at(cfg.gate, cfg.tag)
            time.sleep(0.02)
            first = cfg.start + partition["part"] * cfg.rows
            xs = list(range(first, first + cfg.rows))
            yield pa.record_batch({"id": [f"{cfg.tag}:{x}" for x in xs], "x": xs,
                                   "tag": [cfg.tag] * len(xs)})
''')

OWN_ROWS = 1200
SHARED_WRITES = 3
SHARED_ROWS = 2 * 400


def _pipeline(project: Path, tag: str) -> Path:
    """`<tag>_out` from a Parquet file through read.parquet; three writes to `shared`."""
    data = project / f"{tag}.parquet"
    xs = list(range(OWN_ROWS))
    pq.write_table(pa.table({"id": [f"{tag}:{x}" for x in xs], "x": xs, "tag": [tag] * OWN_ROWS}),
                   data, row_group_size=200)
    steps: list[dict[str, Any]] = [
        {"id": "raw", "uses": "read.parquet",
         "with": {"paths": [data.name], "partition_rows": 400}},
        {"id": "gated", "uses": "./steps.py:Gate", "input": "raw",
         "with": {"tag": tag, "gate": str(project / "gate_start")}},
        {"id": "own", "uses": "write.dataset", "input": "gated",
         "with": {"rows_per_shard": 250}},
    ]
    for k in range(1, SHARED_WRITES + 1):
        # The last source waits for the other run again, so both commit at about the same time.
        gate = {"gate": str(project / "gate_end")} if k == SHARED_WRITES else {}
        steps.append({"id": f"src{k}", "uses": "./steps.py:Tagged",
                      "with": {"tag": tag, "start": 10_000 * k, **gate}})
        steps.append({"id": f"shared{k}", "uses": "write.dataset", "input": f"src{k}",
                      "with": {"name": "shared"}})
    spec = {"name": f"conc_{tag}", "steps": steps, "outputs": {f"{tag}_out": "own"}}
    path = project / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _run_both(project: Path, workspace_dir: Path) -> list[dict[str, Any]]:
    (project / "steps.py").write_text(STEPS)
    (project / "gate_start").mkdir()
    (project / "gate_end").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "DATAMILL_HOME"}
    env["NO_COLOR"] = "1"
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "datamill", "run", str(_pipeline(project, tag)), "--json",
             "--workers", "2"],
            cwd=workspace_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    try:
        outputs = [r.communicate(timeout=120) for r in runs]
    finally:
        for r in runs:
            if r.poll() is None:
                r.kill()
                r.wait()
    for r, (_, err) in zip(runs, outputs, strict=True):
        assert r.returncode == 0, f"datamill run exited {r.returncode}:\n{err[-3000:]}"
    return [json.loads(out) for out, _ in outputs]


def _check_workspace(workspace_dir: Path, results: list[dict[str, Any]]) -> None:
    ws = Workspace.find(workspace_dir)
    try:
        assert [r["status"] for r in results] == ["succeeded", "succeeded"]
        assert {r["run_id"] for r in results} == {r["id"] for r in ws.catalog.runs()}
        assert all(r["status"] == "succeeded" for r in ws.catalog.runs())

        # Every version in the catalog is whole and reads back with its manifest's row count.
        with ws.engine.connect() as conn:
            rows = conn.execute(sa.select(versions.c.id, versions.c.num_rows)).all()
        assert rows
        for version_id, num_rows in rows:
            assert ws.verify(version_id, deep=True) is None
            assert ws.open(f"@{version_id}").to_arrow().num_rows == num_rows

        # Every name has sequence numbers 1..N, each pointing at a version that opens.
        names = {d["name"] for d in ws.catalog.datasets(include_internal=True)}
        assert {"a_out", "b_out", "shared"} <= names
        for name in names:
            history = ws.catalog.history(name)
            assert [h["seq"] for h in history] == list(range(1, len(history) + 1)), name
            for h in history:
                assert ws.open(f"{name}@{h['seq']}").id == h["id"]

        # Each run's own output is what it reported, with its own rows only.
        for tag, result in zip(("a", "b"), results, strict=True):
            own = ws.open(f"{tag}_out")
            assert result["outputs"][f"{tag}_out"] == f"{tag}_out@{own.id[:12]}"
            table = own.to_arrow()
            assert table.num_rows == OWN_ROWS
            assert set(table.column("tag").to_pylist()) == {tag}
            assert sorted(table.column("x").to_pylist()) == list(range(OWN_ROWS))

        # The shared name holds all six writes, none lost, each run's in its own order.
        shared = ws.catalog.history("shared")
        assert [h["seq"] for h in shared] == list(range(1, 2 * SHARED_WRITES + 1))
        by_tag: dict[str, list[int]] = {"a": [], "b": []}
        for h in shared:
            table = ws.open(f"shared@{h['seq']}").to_arrow()
            tags = set(table.column("tag").to_pylist())
            assert len(tags) == 1
            assert table.num_rows == SHARED_ROWS
            by_tag[tags.pop()].append(table.column("x")[0].as_py() // 10_000)
        assert by_tag == {"a": [1, 2, 3], "b": [1, 2, 3]}
        assert len({h["id"] for h in shared}) == 2 * SHARED_WRITES
        for result in results:
            first_shared = result["outputs"]["shared"]
            assert first_shared in {f"shared@{h['id'][:12]}" for h in shared}
            assert {s["status"] for s in result["steps"]} == {"ran"}
    finally:
        ws.close()


def test_concurrent_runs_share_a_sqlite_workspace(tmp_path: Path) -> None:
    workspace_dir = tmp_path / "ws"
    Workspace.init(workspace_dir).close()

    results = _run_both(tmp_path, workspace_dir)

    _check_workspace(workspace_dir, results)


@pytest.mark.postgres
def test_concurrent_runs_share_a_postgres_workspace(tmp_path: Path, pg_url: str) -> None:
    workspace_dir = tmp_path / "ws"
    Workspace.init(workspace_dir, db=pg_url).close()

    results = _run_both(tmp_path, workspace_dir)

    _check_workspace(workspace_dir, results)
    assert not (workspace_dir / ".datamill" / "meta.db").exists()
