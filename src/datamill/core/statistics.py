"""The shape of statistics kept while rows are written, so the store and the runner can keep
them without knowing how they are computed (``datamill.validate.TableStats`` is one)."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any, Protocol, Self

import pyarrow as pa

__all__ = ["OutputStats"]


class OutputStats(Protocol):
    """Statistics of the rows being written: updated batch by batch (in each partition's task),
    merged across partitions, and stored in the version's manifest as ``report()``."""

    def update(self, batch: pa.RecordBatch, *, pool: Executor | None = None) -> None:
        """Add one written batch (``pool``: threads the update may use)."""

    def merge(self, other: Self) -> Self:
        """A state holding both partitions' statistics."""

    def report(self) -> dict[str, Any]:
        """JSON-able statistics, as stored under the manifest's ``profile`` key."""
