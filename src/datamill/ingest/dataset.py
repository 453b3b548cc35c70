"""``read.dataset``: a stored dataset version as a pipeline's input.

The version is resolved when the run starts (``name`` means its latest version then) and each
of its shards is one partition. A shard is content-addressed, so the step's cache key changes
exactly when the version read changes: ``datamill dedup spam`` after a new version of ``spam``
runs again, and the same version twice is a cache hit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from datamill.core.errors import SchemaError
from datamill.pipeline import Source, StepConfig, StepContext, register

__all__ = ["DatasetReader", "DatasetReaderConfig"]


class DatasetReaderConfig(StepConfig):
    ref: str = Field(description="The dataset to read: `name` (its latest version), `name@3`, `name@<hash>`.")
    columns: list[str] | None = Field(None, description="Read only these columns (all when unset).")
    batch_rows: int = Field(65_536, ge=1, description="Rows per batch read from a shard.")


@register("read.dataset")
class DatasetReader(Source[DatasetReaderConfig]):
    """Read a version from the run's workspace, shard by shard.

    >>> DatasetReader(ref="spam@2").config.ref
    'spam@2'
    """

    version = 1

    def partitions(self) -> list[dict[str, Any]]:
        """One partition per shard of the version: its URL, the version id and the row count."""
        from datamill.store.workspace import active_workspace

        ws = active_workspace()
        dataset = ws.open(self.config.ref)
        missing = [c for c in self.config.columns or () if c not in dataset.schema.names]
        if missing:
            raise SchemaError(f"step {self.label!r}: {dataset.ref} has no column "
                              f"{', '.join(map(repr, missing))}; it has {', '.join(dataset.schema.names)}.")
        store = ws.objects
        pieces = []
        for shard in dataset.shards:
            path = store.path(shard["path"])
            url = path if store.is_local else store.fs.unstrip_protocol(path)
            pieces.append({"path": url, "version": dataset.id, "rows": shard["rows"]})
        return pieces

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """The shard's rows, in batches of ``batch_rows``."""
        with fsspec.open(partition["path"], "rb") as handle:
            parquet = pq.ParquetFile(handle)
            yield from parquet.iter_batches(batch_size=self.config.batch_rows, columns=self.config.columns)
