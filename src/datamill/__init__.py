"""datamill: raw data to validated, labelled, deduplicated, versioned, training-ready data.

>>> import datamill as dm
>>> dm.Pipeline.from_dict({"name": "p", "steps": [
...     {"id": "raw", "uses": "read.csv", "with": {"paths": ["data.csv"]}}]}).name
'p'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datamill.__about__ import __version__
from datamill.core.dataset import Dataset
from datamill.core.errors import (
    ConfigError,
    DatamillError,
    LedgerError,
    NotFoundError,
    PipelineError,
    SchemaError,
    StoreError,
)
from datamill.pipeline import (
    Aggregate,
    Outcome,
    Sink,
    Source,
    StepConfig,
    StepContext,
    Transform,
    register,
    transform,
)

if TYPE_CHECKING:
    from datamill.pipeline.runner import Pipeline, RunResult
    from datamill.store import Workspace

# The runner and the store (SQLAlchemy, Alembic) load on first use: pool workers import
# `datamill` too, and each one would otherwise carry them (about 40 MB a worker).
_LAZY = {
    "Pipeline": "datamill.pipeline.runner",
    "RunResult": "datamill.pipeline.runner",
    "Workspace": "datamill.store",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamill' has no attribute {name!r}")

__all__ = [
    "Aggregate",
    "ConfigError",
    "DatamillError",
    "Dataset",
    "LedgerError",
    "NotFoundError",
    "Outcome",
    "Pipeline",
    "PipelineError",
    "RunResult",
    "SchemaError",
    "Sink",
    "Source",
    "StepConfig",
    "StepContext",
    "StoreError",
    "Transform",
    "Workspace",
    "__version__",
    "init",
    "open",
    "register",
    "transform",
]


def open(ref: str, *, workspace: Workspace | None = None) -> Dataset:
    """Open a dataset version: ``dm.open("spam")``, ``"spam@3"``, ``"spam@a1b2c3d"``.

    The workspace is found from the current directory (or ``DATAMILL_HOME``) unless given.
    """
    from datamill.store import Workspace

    return (workspace or Workspace.find()).open(ref)


def init(directory: str = ".", *, store: str | None = None, db: str | None = None) -> Workspace:
    """Make (or re-open) a workspace in ``directory``."""
    from datamill.store import Workspace

    return Workspace.init(directory, store=store, db=db)
