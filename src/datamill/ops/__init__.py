"""General table operations: filter, map, select, rename, sample, concat, write."""

from datamill.ops.columns import Rename, Select
from datamill.ops.concat import Concat
from datamill.ops.filter import FilterExpr
from datamill.ops.map import MapPython
from datamill.ops.sample import Sample
from datamill.ops.write import WriteDataset

__all__ = ["Concat", "FilterExpr", "MapPython", "Rename", "Sample", "Select", "WriteDataset"]
