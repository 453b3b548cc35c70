"""The store: immutable dataset versions (fsspec objects) and metadata (SQLAlchemy)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datamill.store.objects import ObjectStore, ShardInfo, ShardWriter
from datamill.store.refs import Ref, parse_ref

if TYPE_CHECKING:
    from datamill.store.workspace import Workspace, WorkspaceConfig, describe

__all__ = [
    "ObjectStore",
    "Ref",
    "ShardInfo",
    "ShardWriter",
    "Workspace",
    "WorkspaceConfig",
    "describe",
    "parse_ref",
]

# The workspace pulls in SQLAlchemy; pool workers only need the object store.
_LAZY = ("Workspace", "WorkspaceConfig", "describe")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from datamill.store import workspace

        return getattr(workspace, name)
    raise AttributeError(f"module 'datamill.store' has no attribute {name!r}")
