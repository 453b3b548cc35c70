"""Build a version's manifest from written shards; the version id is its content hash."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from datamill.core.columns import ID, SOURCE, TEXT
from datamill.core.dataset import schema_to_manifest
from datamill.core.fingerprint import fingerprint
from datamill.store.objects import ShardInfo

__all__ = ["FORMAT", "build_manifest", "default_roles", "merge_stats"]

FORMAT = "datamill.version/1"


def default_roles(schema: pa.Schema, roles: dict[str, str] | None = None) -> dict[str, str]:
    """Column → role: reserved names get their role, explicit ``roles`` win."""
    out = {name: name for name in (ID, TEXT, SOURCE) if name in schema.names}
    out.update(roles or {})
    return dict(sorted(out.items()))


def merge_stats(shards: Sequence[ShardInfo]) -> dict[str, dict[str, Any]]:
    """Per-column nulls/min/max over all shards."""
    summary: dict[str, dict[str, Any]] = {}
    for shard in shards:
        for column, st in shard.stats.items():
            entry = summary.setdefault(column, {"nulls": 0})
            entry["nulls"] += st.get("nulls", 0)
            for key in ("min", "max"):
                if key in st and st[key] is not None:
                    try:
                        better = key not in entry or (
                            st[key] < entry[key] if key == "min" else st[key] > entry[key])
                        if better:
                            entry[key] = st[key]
                    except TypeError:
                        pass
    return summary


def build_manifest(
    schema: pa.Schema,
    shards: Sequence[ShardInfo],
    *,
    roles: dict[str, str] | None = None,
    producer: dict[str, Any] | None = None,
    files: Sequence[dict[str, Any]] = (),
    profile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest of a version. Its ``id`` hashes only content, never who wrote it or when.

    ``files`` are other objects the version owns (token shards): kept by ``gc``, checked by
    ``verify``, part of the id. ``profile``, the rows' statistics computed as they were
    written, is stored under ``profile`` and is not part of the id.
    """
    schema_doc = schema_to_manifest(schema)
    roles = default_roles(schema, roles)
    content = {
        "format": FORMAT,
        "schema": schema_doc["fields"],
        "arrow": schema_doc["arrow"],
        "roles": roles,
        "shards": [[s.sha256, s.rows] for s in shards],
    }
    if files:
        content["files"] = [f["sha256"] for f in files]
    return {
        "format": FORMAT,
        "id": fingerprint(content),
        "schema": schema_doc,
        "roles": roles,
        "num_rows": sum(s.rows for s in shards),
        "num_bytes": sum(s.bytes for s in shards),
        "shards": [s.to_dict() for s in shards],
        **({"files": [dict(f) for f in files]} if files else {}),
        "summary": merge_stats(shards),
        "created_at": time.time(),
        "producer": producer or {},
        **({"profile": profile} if profile is not None else {}),
    }
