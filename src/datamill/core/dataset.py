"""`Dataset`: a read-only handle on one immutable version."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datamill.core.errors import SchemaError

if TYPE_CHECKING:
    from datamill.store.objects import ObjectStore

__all__ = ["Dataset", "schema_from_manifest", "schema_to_manifest"]


def schema_to_manifest(schema: pa.Schema) -> dict[str, Any]:
    """The schema as readable fields plus the exact Arrow IPC form."""
    return {
        "fields": [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema
        ],
        "arrow": base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode(),
    }


def schema_from_manifest(data: dict[str, Any]) -> pa.Schema:
    """Inverse of `schema_to_manifest`."""
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["arrow"])))


class Dataset:
    """One version of a dataset: immutable Parquet shards plus a manifest.

    Get one with ``datamill.open("spam@3")``.
    """

    def __init__(
        self, manifest: dict[str, Any], store: ObjectStore, *, name: str | None = None,
        seq: int | None = None,
    ) -> None:
        self.manifest = manifest
        self.store = store
        self.name = name
        self.seq = seq

    @property
    def id(self) -> str:
        """The version id: the content hash of schema, roles and shards."""
        return str(self.manifest["id"])

    @property
    def ref(self) -> str:
        """A reference that always finds this exact version (``name@<12 hex>``)."""
        return f"{self.name or ''}@{self.id[:12]}"

    @cached_property
    def schema(self) -> pa.Schema:
        """The Arrow schema."""
        return schema_from_manifest(self.manifest["schema"])

    @property
    def num_rows(self) -> int:
        """Rows in the version."""
        return int(self.manifest["num_rows"])

    @property
    def num_bytes(self) -> int:
        """Bytes of Parquet on disk."""
        return int(self.manifest["num_bytes"])

    @property
    def roles(self) -> dict[str, str]:
        """Column name → role (``id``, ``text``, ``label``, ...)."""
        return dict(self.manifest.get("roles", {}))

    @property
    def shards(self) -> list[dict[str, Any]]:
        """Shard records: path, sha256, rows, bytes, stats."""
        return list(self.manifest["shards"])

    @property
    def summary(self) -> dict[str, Any]:
        """Per-column summary (nulls, min, max) computed when the version was written."""
        return dict(self.manifest.get("summary", {}))

    @property
    def profile(self) -> dict[str, Any] | None:
        """Every column's statistics, computed as the version was written (``write.dataset``
        with ``profile: true``, the default); None when the writer computed none.
        `datamill.validate.stored_profile` also finds ones `datamill profile` computed later."""
        stored = self.manifest.get("profile")
        return None if stored is None else dict(stored)

    def _check_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        missing = [c for c in columns if c not in self.schema.names]
        if missing:
            raise SchemaError(
                f"{self.ref} has no column {', '.join(map(repr, missing))}; "
                f"it has {', '.join(self.schema.names)}."
            )
        return list(columns)

    def batches(
        self, columns: Sequence[str] | None = None, batch_size: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Stream the rows as record batches, shard by shard (bounded memory)."""
        cols = self._check_columns(columns)
        schema = self.schema if cols is None else pa.schema([self.schema.field(c) for c in cols])
        for shard in self.manifest["shards"]:
            with self.store.open_parquet(shard["path"]) as parquet:
                for batch in parquet.iter_batches(batch_size=batch_size, columns=cols):
                    yield batch if batch.schema == schema else batch.cast(schema)

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole version as one Arrow table (materialises it)."""
        cols = self._check_columns(columns)
        schema = self.schema if cols is None else pa.schema([self.schema.field(c) for c in cols])
        return pa.Table.from_batches(list(self.batches(cols)), schema=schema)

    def to_polars(self, columns: Sequence[str] | None = None) -> Any:
        """The whole version as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_arrow(columns))

    def to_pandas(self, columns: Sequence[str] | None = None) -> Any:
        """The whole version as a pandas DataFrame (needs pandas)."""
        return self.to_arrow(columns).to_pandas()

    def to_hf(self, columns: Sequence[str] | None = None) -> Any:
        """The version as a Hugging Face ``datasets.Dataset`` (needs ``datamill[hf]``)."""
        try:
            import datasets
        except ImportError as err:
            raise ImportError("to_hf() needs Hugging Face datasets: pip install 'datamill[hf]'") from err
        return datasets.Dataset(self.to_arrow(columns))

    def __len__(self) -> int:
        return self.num_rows

    def __repr__(self) -> str:
        return f"<Dataset {self.ref} rows={self.num_rows:,} columns={self.schema.names}>"
