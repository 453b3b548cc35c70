"""A version is visible whole or not at all: killed writers and concurrent readers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

from datamill.core.errors import NotFoundError
from datamill.store import Workspace
from datamill.store.versions import build_manifest

# A child process that writes many small shards slowly, then commits them as one version.
SLOW_WRITER = textwrap.dedent("""
    import sys, time
    import pyarrow as pa
    from datamill.store import ShardWriter, Workspace

    ws = Workspace.find(sys.argv[1])
    schema = pa.schema([("id", pa.string()), ("x", pa.int64())])
    writer = ShardWriter(ws.objects, schema, rows_per_shard=1000)
    for i in range(5000):
        ids = [f"{i}:{j}" for j in range(500)]
        writer.write(pa.record_batch({"id": ids, "x": list(range(500))}, schema=schema))
        time.sleep(0.005)
    ws.commit_version(schema, writer.close(), name="big")
    print("committed", flush=True)
""")

# A child process that commits versions 1..N of `stream`; version i has 1000 + 100*i rows,
# all with v == i, in shards of 300 rows.
VERSION_WRITER = textwrap.dedent("""
    import sys, time
    import pyarrow as pa
    from datamill.store import ShardWriter, Workspace

    ws = Workspace.find(sys.argv[1])
    schema = pa.schema([("id", pa.string()), ("v", pa.int64())])
    for i in range(1, int(sys.argv[2]) + 1):
        n = 1000 + 100 * i
        writer = ShardWriter(ws.objects, schema, rows_per_shard=300)
        for start in range(0, n, 100):
            rows = range(start, min(start + 100, n))
            writer.write(pa.record_batch({"id": [f"{i}:{j}" for j in rows],
                                          "v": [i] * len(rows)}, schema=schema))
            time.sleep(0.002)
        version = ws.commit_version(schema, writer.close(), name="stream")
        assert version.seq == i, (version.seq, i)
        time.sleep(0.02)
    print("done", flush=True)
""")


def _shard_files(ws: Workspace) -> list[str]:
    return [p for p in ws.objects.fs.find(ws.objects.path("shards")) if p.endswith(".parquet")]


def _manifests(ws: Workspace) -> list[str]:
    return [p for p in ws.objects.fs.find(ws.objects.path("versions")) if p.endswith(".json")]


def test_writer_killed_mid_version_leaves_no_visible_version(ws: Workspace, tmp_path: Path) -> None:
    script = tmp_path / "slow_writer.py"
    script.write_text(SLOW_WRITER)
    child = subprocess.Popen([sys.executable, str(script), str(ws.root)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while len(_shard_files(ws)) < 3:
            assert child.poll() is None, f"writer ended early: {child.communicate()}"
            assert time.monotonic() < deadline, "writer wrote no shards in 30 s"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    assert child.returncode == -signal.SIGKILL
    assert "committed" not in out
    assert len(_shard_files(ws)) >= 3  # it was killed with shards on disk ...
    assert _manifests(ws) == []  # ... but before any manifest
    assert ws.catalog.datasets(include_internal=True) == []
    assert ws.catalog.history("big") == []
    with pytest.raises(NotFoundError, match=r"no dataset named 'big'"):
        ws.open("big")
    # The store is still usable: the next writer commits normally.
    table = pa.table({"id": ["a", "b"], "x": [1, 2]})
    assert ws.write("big", table).seq == 1
    assert ws.open("big").to_arrow().equals(table)


def test_manifest_without_catalog_row_stays_invisible_until_committed(ws: Workspace) -> None:
    # A writer killed between the manifest (written first) and the catalog row.
    from datamill.store import ShardWriter

    table = pa.table({"id": ["a", "b", "c"], "x": [1, 2, 3]})
    writer = ShardWriter(ws.objects, table.schema)
    writer.write(table.to_batches()[0])
    shards = writer.close()
    manifest = build_manifest(table.schema, shards)
    ws.objects.put_json_atomic(f"versions/{manifest['id']}.json", manifest)

    assert ws.catalog.datasets(include_internal=True) == []
    with pytest.raises(NotFoundError, match=r"no version id starts with"):
        ws.open(f"@{manifest['id'][:12]}")

    committed = ws.commit_version(table.schema, shards, name="late")
    assert committed.id == manifest["id"]
    assert ws.open("late").to_arrow().equals(table)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_reader_never_sees_a_partial_version_while_another_process_writes(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    db = request.getfixturevalue("pg_url") if backend == "postgres" else None
    setup = Workspace.init(tmp_path, db=db)
    setup.close()
    script = tmp_path / "version_writer.py"
    script.write_text(VERSION_WRITER)
    total = 12
    reader = Workspace.find(tmp_path)
    child = subprocess.Popen([sys.executable, str(script), str(tmp_path), str(total)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: dict[int, str] = {}
    opens = 0
    try:
        deadline = time.monotonic() + 60
        while child.poll() is None:
            assert time.monotonic() < deadline, "writer did not finish in 60 s"
            try:
                ds = reader.open("stream")
            except NotFoundError:
                continue  # nothing committed yet
            opens += 1
            assert ds.seq is not None
            assert reader.verify(ds.id) is None
            data = ds.to_arrow()
            assert data.num_rows == ds.num_rows == sum(s["rows"] for s in ds.shards)
            assert ds.num_rows == 1000 + 100 * ds.seq
            assert set(data.column("v").to_pylist()) == {ds.seq}
            assert seen.setdefault(ds.seq, ds.id) == ds.id
            assert ds.seq >= max(seen)  # never goes back
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        reader.close()

    assert child.returncode == 0, err
    assert "done" in out
    assert len(seen) >= 2, f"the reader saw only versions {sorted(seen)} in {opens} opens"
    final = Workspace.find(tmp_path)
    history = final.catalog.history("stream")
    assert [h["seq"] for h in history] == list(range(1, total + 1))
    assert all(seen[s] == history[s - 1]["id"] for s in seen)
    assert all(final.verify(h["id"], deep=True) is None for h in history)
    final.close()
