"""Content-addressed objects (Parquet shards, manifests) in any fsspec file system.

Layout under the store root::

    shards/ab/ab12…ef.parquet   a shard, named by the sha256 of its bytes
    versions/<id>.json          a version's manifest, written last and atomically
    tmp/                        files being written; never read

A killed writer leaves files in ``tmp/`` and perhaps unreferenced shards, never a manifest
or a visible version.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from datamill.core.errors import StoreError

__all__ = ["ObjectStore", "ShardInfo", "ShardWriter"]


@dataclass(frozen=True)
class ShardInfo:
    """One written shard: where it is, its hash, rows, bytes and column statistics."""

    path: str
    sha256: str
    rows: int
    bytes: int
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "rows": self.rows, "bytes": self.bytes,
                "stats": self.stats}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardInfo:
        return cls(data["path"], data["sha256"], int(data["rows"]), int(data["bytes"]),
                   data.get("stats", {}))


class _HashingFile:
    """A write-only file that hashes what passes through (so a shard is read once, not twice)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        self.size += view.nbytes
        self._handle.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
            self.closed = True

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _row_group_stats(metadata: Any) -> dict[str, dict[str, Any]]:
    """Merge per-row-group Parquet statistics into per-column nulls/min/max."""
    stats: dict[str, dict[str, Any]] = {}
    for rg in range(metadata.num_row_groups):
        group = metadata.row_group(rg)
        for c in range(group.num_columns):
            column = group.column(c)
            entry = stats.setdefault(column.path_in_schema, {"nulls": 0})
            st = column.statistics
            if st is None:
                continue
            if st.has_null_count:
                entry["nulls"] += st.null_count
            if st.has_min_max:
                try:
                    lo, hi = _json_scalar(st.min), _json_scalar(st.max)
                except Exception:  # undecodable binary stats: leave min/max out
                    continue
                if "min" not in entry or (lo is not None and _lt(lo, entry["min"])):
                    entry["min"] = lo
                if "max" not in entry or (hi is not None and _lt(entry["max"], hi)):
                    entry["max"] = hi
    return stats


def _lt(a: Any, b: Any) -> bool:
    try:
        return bool(a < b)
    except TypeError:
        return False


class ObjectStore:
    """Shards and manifests under one fsspec URL (a local folder, ``s3://bucket/prefix``, ...)."""

    def __init__(self, url: str, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self.storage_options = dict(storage_options or {})
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url, **(storage_options or {}))
        except (ImportError, ValueError) as err:
            raise StoreError(f"cannot open object store {url!r}: {err}") from err
        self.root = self.root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple)
                                    else (self.fs.protocol,))

    def path(self, key: str) -> str:
        """The full path of a key such as ``shards/ab/ab….parquet``."""
        return f"{self.root}/{key}"

    def tmp_key(self, suffix: str) -> str:
        return f"tmp/{uuid.uuid4().hex}{suffix}"

    def commit(self, tmp_key: str, final_key: str) -> None:
        """Move a finished temp file to its content address (a no-op when it is there already)."""
        src, dst = self.path(tmp_key), self.path(final_key)
        if self.is_local:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(src, dst)
            return
        if self.fs.exists(dst):
            self.fs.rm(src)
        else:
            self.fs.mv(src, dst)

    def put_json_atomic(self, key: str, value: Any) -> None:
        """Write JSON so that readers see the whole file or none of it."""
        data = json.dumps(value, indent=1, sort_keys=True).encode()
        if self.is_local:
            tmp = self.tmp_key(".json")
            self.fs.makedirs(self.path("tmp"), exist_ok=True)
            with self.fs.open(self.path(tmp), "wb") as handle:
                handle.write(data)
            self.commit(tmp, key)
        else:  # a single PUT is atomic on object stores
            self.fs.pipe_file(self.path(key), data)

    def get_json(self, key: str) -> Any:
        try:
            with self.fs.open(self.path(key), "rb") as handle:
                return json.loads(handle.read())
        except FileNotFoundError as err:
            raise StoreError(
                f"object {key!r} is missing from the store at {self.url!r}: the store was "
                "changed by hand or is not the one this workspace was made with."
            ) from err

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int | None:
        try:
            return int(self.fs.size(self.path(key)))
        except FileNotFoundError:
            return None

    @contextmanager
    def open_parquet(self, key: str) -> Iterator[pq.ParquetFile]:
        """Open a shard for reading; closed on leaving the block.

        Read to stream: not memory-mapped (a mapped shard's pages count in the process's RSS as
        long as it is open), not pre-buffered (pyarrow then keeps whole column chunks cached), in
        1 MiB reads: streaming a shard then holds about one row group, not the whole file.
        (`benchmarks/bench_dedup.py --memory-docs 1000000` peaks at 1.3 GB RSS with this, 2.0 GB
        before.)
        """
        if self.is_local:
            with pq.ParquetFile(self.path(key), memory_map=False, pre_buffer=False,
                                buffer_size=1 << 20) as parquet:
                yield parquet
            return
        with self.fs.open(self.path(key), "rb") as handle, pq.ParquetFile(handle) as parquet:
            yield parquet


class ShardWriter:
    """Writes batches into zstd Parquet shards, starting a new one every ``rows_per_shard`` rows."""

    def __init__(
        self,
        store: ObjectStore,
        schema: pa.Schema,
        *,
        rows_per_shard: int = 1_000_000,
        row_group_rows: int = 128 * 1024,
        compression: str = "zstd",
        compression_level: int | None = 1,
    ) -> None:
        self.store = store
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = row_group_rows
        self.compression = compression
        self.compression_level = compression_level if compression == "zstd" else None
        self.shards: list[ShardInfo] = []
        self._writer: pq.ParquetWriter | None = None
        self._file: _HashingFile | None = None
        self._tmp: str = ""
        self._rows = 0
        # Batches are gathered into row groups of ``row_group_rows``: each write_batch call
        # would otherwise close a row group of whatever size the batch had.
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0

    def _open(self) -> None:
        self._tmp = self.store.tmp_key(".parquet")
        self.store.fs.makedirs(self.store.path("tmp"), exist_ok=True)
        self._file = _HashingFile(self.store.fs.open(self.store.path(self._tmp), "wb"))
        self._writer = pq.ParquetWriter(
            self._file,
            self.schema,
            compression=self.compression,
            compression_level=self.compression_level,
            write_page_index=False,
            write_statistics=True,
        )
        self._rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        """Append a batch (it is split across shards when it crosses the size limit)."""
        if batch.schema != self.schema:
            batch = batch.cast(self.schema) if batch.schema.names == self.schema.names else batch
        offset = 0
        while offset < batch.num_rows:
            if self._writer is None:
                self._open()
            take = min(batch.num_rows - offset, self.rows_per_shard - self._rows)
            self._pending.append(batch.slice(offset, take))
            self._pending_rows += take
            if self._pending_rows >= self.row_group_rows:
                self._flush()
            self._rows += take
            offset += take
            if self._rows >= self.rows_per_shard:
                self._finish()

    def _flush(self, *, final: bool = False) -> None:
        """Write whole row groups of ``row_group_rows`` (the rest too when ``final``), so the
        file's layout, and so its hash, does not depend on how the rows were batched."""
        if not self._pending or self._writer is None:
            return
        table = pa.Table.from_batches(self._pending, schema=self.schema)
        whole = table.num_rows if final else table.num_rows - table.num_rows % self.row_group_rows
        if whole:
            self._writer.write_table(table.slice(0, whole), row_group_size=self.row_group_rows)
        rest = table.slice(whole)
        self._pending = rest.to_batches() if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def _finish(self) -> None:
        if self._writer is None or self._file is None:
            return
        self._flush(final=True)
        self._writer.close()
        meta = self._writer.writer.metadata if hasattr(self._writer, "writer") else None
        self._file.close()
        digest = self._file.digest.hexdigest()
        key = f"shards/{digest[:2]}/{digest}.parquet"
        self.store.commit(self._tmp, key)
        if meta is None:
            with self.store.open_parquet(key) as parquet:
                meta = parquet.metadata
        self.shards.append(ShardInfo(key, digest, self._rows, self._file.size,
                                     _row_group_stats(meta)))
        self._writer = None
        self._file = None

    def close(self) -> list[ShardInfo]:
        """Finish the last shard and return all shards written (none for no rows)."""
        self._finish()
        return self.shards

    def abort(self) -> None:
        """Drop the shard in progress (its temp file is removed)."""
        self._pending = []
        self._pending_rows = 0
        if self._writer is not None and self._file is not None:
            try:
                self._writer.close()
                self._file.close()
                self.store.fs.rm(self.store.path(self._tmp))
            except (OSError, FileNotFoundError) as err:
                raise StoreError(f"cannot remove temp shard {self._tmp!r}: {err}") from err
        self._writer = None
