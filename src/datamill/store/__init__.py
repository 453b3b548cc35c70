"""The store: immutable dataset versions (fsspec objects) and metadata (SQLAlchemy)."""

from datamill.store.objects import ObjectStore, ShardInfo, ShardWriter
from datamill.store.refs import Ref, parse_ref
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
