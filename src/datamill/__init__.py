"""datamill: raw data to validated, labelled, deduplicated, versioned, training-ready data.

>>> import datamill as dm
>>> dm.Pipeline.from_dict({"name": "p", "steps": [
...     {"id": "raw", "uses": "read.csv", "with": {"paths": ["data.csv"]}}]}).name
'p'
"""

from __future__ import annotations

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
from datamill.pipeline.runner import Pipeline, RunResult
from datamill.store import Workspace

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
    return (workspace or Workspace.find()).open(ref)


def init(directory: str = ".", *, store: str | None = None, db: str | None = None) -> Workspace:
    """Make (or re-open) a workspace in ``directory``."""
    return Workspace.init(directory, store=store, db=db)
