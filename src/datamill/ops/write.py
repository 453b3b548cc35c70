"""``write.dataset``: write the input as a dataset version in the store."""

from __future__ import annotations

from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from datamill.core.columns import ROLES
from datamill.pipeline import OutputStats, Sink, StepConfig, register
from datamill.store.refs import check_name

__all__ = ["WriteDataset", "WriteDatasetConfig"]


class WriteDatasetConfig(StepConfig):
    name: str | None = Field(None, description="Name the version (else the pipeline's `outputs` name it).")
    roles: dict[str, str] = Field(default_factory=dict, description="Column → role: id, text, label, group, time, ...")
    rows_per_shard: int = Field(1_000_000, ge=1, description="Start a new Parquet shard after this many rows.")
    compression: Literal["zstd", "snappy", "lz4", "gzip", "none"] = "zstd"
    compression_level: int | None = Field(1, description="zstd level; higher is smaller and slower.")
    profile: bool = Field(True, description="Compute every column's statistics (`datamill profile`'s) while "
                                            "writing and store them in the manifest, so `datamill show` "
                                            "has them with no scan.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {c: r for c, r in value.items() if r not in ROLES}
        if bad:
            raise ValueError(f"unknown role(s) {bad}; roles are {', '.join(ROLES)}")
        return value


@register("write.dataset")
class WriteDataset(Sink[WriteDatasetConfig]):
    """Write rows as an immutable, content-addressed version (zstd Parquet shards + manifest),
    with every column's statistics in the manifest unless ``profile: false``."""

    def writer_options(self) -> dict[str, Any]:
        """Options for the shard writer."""
        return {
            "rows_per_shard": self.config.rows_per_shard,
            "compression": self.config.compression,
            "compression_level": self.config.compression_level,
        }

    def output_stats(self, schema: pa.Schema) -> OutputStats | None:
        """`datamill profile`'s default statistics of every column, or None with ``profile: false``."""
        if not self.config.profile:
            return None
        from datamill.validate.stats import StatsOptions, TableStats

        return TableStats.for_schema(schema, StatsOptions())
