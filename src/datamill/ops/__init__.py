"""General table operations: filter, map, select, rename, sample, concat, write."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datamill.ops.columns import Rename, Select
    from datamill.ops.concat import Concat
    from datamill.ops.filter import FilterExpr
    from datamill.ops.map import MapPython
    from datamill.ops.sample import Sample
    from datamill.ops.write import WriteDataset

__all__ = ["Concat", "FilterExpr", "MapPython", "Rename", "Sample", "Select", "WriteDataset"]

# Each step loads its module (and its libraries: polars, numpy) on first use only.
_MODULES = {
    "Concat": "concat", "FilterExpr": "filter", "MapPython": "map", "Rename": "columns",
    "Sample": "sample", "Select": "columns", "WriteDataset": "write",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(f"datamill.ops.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'datamill.ops' has no attribute {name!r}")
