"""``read.parquet``: Parquet files streamed by pyarrow, big files split by row groups.

A file becomes partitions of whole row groups of about ``partition_rows`` rows, so one big
file is read in parallel; ``id`` is ``<file>:<row>`` with the row's index in the whole file
(row group offsets come from the footer), or the file's own ``id`` column (or ``id_column``)
cast to string. Nothing here loops over rows in Python: this reader is on the hot path.

A file whose footer or pages cannot be read is quarantined as one record (reason
``unreadable_file``) holding the error; the other files are read on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from pydantic import Field

from datamill.core.columns import ID, SOURCE
from datamill.core.errors import SchemaError
from datamill.ingest._files import (
    _LIMITS,
    FileSource,
    FileSourceConfig,
    int_range,
    is_local,
    open_binary,
    provenance_ids,
)
from datamill.ingest.archives import ArchiveError, compression_of, member_url, split_member_url
from datamill.pipeline.registry import register
from datamill.pipeline.step import StepContext

__all__ = ["ParquetReader", "ParquetReaderConfig"]

# Errors pyarrow raises for a file that is not (or no longer) valid Parquet.
_UNREADABLE = (pa.ArrowException, OSError)


class ParquetReaderConfig(FileSourceConfig):
    """Options of ``read.parquet``."""

    columns: list[str] | None = Field(
        None, description="Columns to read (default all); `id_column` is read as well."
    )
    partition_rows: int = Field(
        1_000_000, ge=1,
        description="A file is split into partitions of whole row groups of about this many rows.",
    )


@contextmanager
def _parquet(path: str) -> Iterator[pq.ParquetFile]:
    if split_member_url(path) is not None or compression_of(path) is not None:
        # A zip member or a .parquet.gz: Parquet needs random access, so the file is inflated
        # into memory first, through the bounded stream (a bomb stops at the step's limits).
        with open_binary(path) as stream:
            data = stream.read()
        with pq.ParquetFile(pa.BufferReader(data)) as handle:
            yield handle
        return
    fs, stripped = url_to_fs(path)
    if is_local(fs):
        # pyarrow's own file reader: no Python in the read path.
        with pq.ParquetFile(stripped) as handle:
            yield handle
        return
    with fs.open(stripped, "rb") as raw, pq.ParquetFile(raw) as handle:
        yield handle


@register("read.parquet")
class ParquetReader(FileSource[ParquetReaderConfig]):
    """Read Parquet files in partitions of whole row groups.

    >>> ParquetReader(paths="a.parquet", partition_rows=10).config.partition_rows
    10
    """

    extensions = (".parquet", ".pq")
    version = 1

    def partitions(self) -> list[dict[str, Any]]:
        """Per file, runs of whole row groups of about ``partition_rows`` rows.

        ``{"path": ..., "name": ..., "row_groups": [0, 1]}``; a file whose footer cannot be
        read is one partition without ``row_groups`` (its read quarantines it).
        """
        out: list[dict[str, Any]] = []
        limit = self.config.partition_rows
        for piece in super().partitions():
            url = member_url(piece["path"], piece["member"]) if "member" in piece else piece["path"]
            # The footer of a zip member or .parquet.gz is read through the bounded stream,
            # within this step's limits; one past them is a partition its read quarantines
            # (decompression_limit), as is one whose footer cannot be read.
            token = _LIMITS.set(self.decompression_limits())
            try:
                with _parquet(url) as handle:
                    meta = handle.metadata
            except (*_UNREADABLE, ArchiveError):
                out.append(piece)
                continue
            finally:
                _LIMITS.reset(token)
            groups: list[int] = []
            rows = 0
            for i in range(meta.num_row_groups):
                n = meta.row_group(i).num_rows
                if groups and rows + n > limit:
                    out.append({**piece, "row_groups": groups})
                    groups, rows = [], 0
                groups.append(i)
                rows += n
            if groups or meta.num_row_groups == 0:
                out.append({**piece, "row_groups": groups})
        return out

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the rows of the partition's row groups; quarantine an unreadable file."""
        path = str(partition["path"])
        name = str(partition.get("name") or path.rsplit("/", 1)[-1])
        done = 0
        try:
            with _parquet(path) as handle:
                meta = handle.metadata
                groups = partition.get("row_groups")
                if groups is None:
                    groups = list(range(meta.num_row_groups))
                schema = handle.schema_arrow
                id_from = self.id_source(schema.names)
                columns = self._columns(schema, id_from, path)
                if meta.num_rows == 0:
                    ctx.metric("empty_files", 1)
                    # No rows, but the file's columns still become the version's schema.
                    empty = pa.RecordBatch.from_pylist([], schema=schema)
                    out = self._finish(empty if columns is None else empty.select(columns),
                                       0, id_from, partition, name, ctx)
                    if out is not None:
                        yield out
                    return
                if not groups:
                    return
                first_row = sum(meta.row_group(i).num_rows for i in range(groups[0]))
                # One row group at a time: a single iter_batches over all of them keeps every
                # group's column chunks alive until the end (measured: 156 → 83 MiB peak).
                for group in groups:
                    batches = handle.iter_batches(batch_size=self.config.batch_rows,
                                                  row_groups=[group], columns=columns)
                    for batch in batches:
                        out = self._finish(batch, first_row + done, id_from, partition, name, ctx)
                        done += batch.num_rows
                        if out is not None:
                            yield out
        except _UNREADABLE as err:
            if not partition.get("row_groups") and not done and _size(path) == 0:
                ctx.metric("empty_files", 1)
                return
            groups_read = partition.get("row_groups")
            where = f" after {done:,} rows of row groups {groups_read}" if done else ""
            ctx.quarantine(
                [{ID: name, SOURCE: path, "raw": ""}],
                reason="unreadable_file",
                error=f"{path!r} cannot be read as Parquet{where}: {type(err).__name__}: {err}",
            )

    def _columns(self, schema: pa.Schema, id_from: str | None, path: str) -> list[str] | None:
        wanted = self.config.columns
        if wanted is None:
            if id_from is not None and id_from not in schema.names:
                raise SchemaError(
                    f"step {self.label!r}: `id_column` is {id_from!r} but {path!r} has no such "
                    f"column; it has {', '.join(schema.names)}."
                )
            return None
        wanted = list(wanted)
        if id_from is not None and id_from not in wanted:
            wanted.append(id_from)
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            raise SchemaError(
                f"step {self.label!r}: {path!r} has no column {', '.join(map(repr, missing))}; "
                f"it has {', '.join(schema.names)}. Fix `columns` or `id_column`."
            )
        return wanted

    def _finish(
        self,
        batch: pa.RecordBatch,
        first: int,
        id_from: str | None,
        partition: dict[str, Any],
        name: str,
        ctx: StepContext,
    ) -> pa.RecordBatch | None:
        rows = int_range(first, batch.num_rows)
        columns = dict(zip(batch.schema.names, batch.columns, strict=True))
        if id_from is None:
            ids = provenance_ids(name, rows)
        else:
            column = columns[id_from]
            try:
                ids = column if column.type == pa.string() else pc.cast(column, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise SchemaError(
                    f"step {self.label!r}: the id column {id_from!r} of {partition['path']!r} "
                    f"is {column.type}, which does not convert to a string id: {err}"
                ) from err
        return self.finish(columns, partition=partition, ids=ids, ctx=ctx, id_from=id_from,
                           provenance=rows, what="row_index")


def _size(path: str) -> int:
    fs, stripped = url_to_fs(path)
    try:
        return int(fs.size(stripped))
    except OSError:
        return -1
