"""Garbage collection keeps every version whole and removes only what nothing refers to."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa

from datamill.store import ShardWriter, Workspace
from datamill.store.gc import collect_garbage


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_gc_removes_old_orphans_and_keeps_versions(ws: Workspace) -> None:
    kept = ws.write("kept", pa.table({"id": ["a", "b"], "n": [1, 2]}))
    writer = ShardWriter(ws.objects, pa.schema([("id", pa.string())]))
    writer.write(pa.record_batch({"id": ["orphan"]}))
    orphan = writer.close()[0]  # written, never committed: what a killed writer leaves
    tmp = Path(ws.objects.path("tmp/leftover.parquet"))
    tmp.write_bytes(b"half a file")
    fresh = Path(ws.objects.path("tmp/being-written.parquet"))
    fresh.write_bytes(b"in progress")
    for path in (Path(ws.objects.path(orphan.path)), tmp, *Path(ws.objects.path("shards")).rglob("*.parquet")):
        _age(path, 3 * 24 * 3600)

    preview = collect_garbage(ws, dry_run=True)
    assert preview["removed"] == {"shards": 1, "tmp": 1, "manifests": 0}
    assert Path(ws.objects.path(orphan.path)).exists()

    result = collect_garbage(ws)

    assert result["files"]["shards"] == [orphan.path]
    assert not Path(ws.objects.path(orphan.path)).exists() and not tmp.exists()
    assert fresh.exists()  # younger than the grace period: a writer may still be at work
    assert ws.verify(kept.id, deep=True) is None
    assert ws.open("kept").to_arrow()["n"].to_pylist() == [1, 2]
