"""Garbage collection: files a crashed or killed writer left behind.

A killed writer can leave temp files, shards no version refers to, and a manifest whose
catalog row was never committed. None of them is visible to readers; this removes them once
they are older than a grace period, so a writer that is still working is never disturbed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import sqlalchemy as sa

from datamill.store.db import checkpoints, versions
from datamill.store.workspace import Workspace

__all__ = ["collect_garbage"]


def _mtime(info: dict[str, Any]) -> float | None:
    value = info.get("mtime") or info.get("LastModified") or info.get("created")
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return None


def collect_garbage(ws: Workspace, *, older_than_s: float = 24 * 3600,
                    dry_run: bool = False) -> dict[str, Any]:
    """Remove unreferenced shards, temp files and orphan manifests older than ``older_than_s``.

    Shards named by a version's manifest or by a resumable checkpoint are kept.
    Returns what was (or, with ``dry_run``, would be) removed.
    """
    store = ws.objects
    cutoff = time.time() - older_than_s
    with ws.engine.connect() as conn:
        known = set(conn.execute(sa.select(versions.c.id)).scalars())
        pending = [json.loads(r) for r in conn.execute(sa.select(checkpoints.c.result)).scalars()]
    keep: set[str] = set()
    orphans: list[str] = []
    manifests = store.fs.find(store.path("versions"), detail=True) if store.exists("versions") else {}
    for path, info in manifests.items():
        version_id = path.rsplit("/", 1)[-1].removesuffix(".json")
        with store.fs.open(path, "rb") as handle:
            manifest = json.loads(handle.read())
        owned = [s["path"] for s in [*manifest["shards"], *manifest.get("files", [])]]
        if version_id in known:
            keep.update(owned)
        elif (_mtime(info) or time.time()) < cutoff:
            orphans.append(path)
        else:  # maybe a writer about to commit it
            keep.update(owned)
    for result in pending:
        for group in ("shards", "quarantine", "source_quarantine"):
            keep.update(s["path"] for s in result.get(group, []))

    removed: dict[str, list[str]] = {"shards": [], "tmp": [], "manifests": []}
    freed = 0
    for folder, bucket in (("shards", "shards"), ("tmp", "tmp")):
        if not store.exists(folder):
            continue
        for path, info in store.fs.find(store.path(folder), detail=True).items():
            key = path[len(store.root) + 1:] if path.startswith(store.root) else path
            old = (_mtime(info) or time.time()) < cutoff
            if old and (bucket == "tmp" or key not in keep):
                removed[bucket].append(key)
                freed += int(info.get("size") or 0)
                if not dry_run:
                    store.fs.rm(path)
    for path in orphans:
        removed["manifests"].append(path.rsplit("/", 1)[-1])
        if not dry_run:
            store.fs.rm(path)
    return {"dry_run": dry_run, "removed": {k: len(v) for k, v in removed.items()},
            "bytes": freed, "files": removed}
