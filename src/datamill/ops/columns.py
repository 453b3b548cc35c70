"""``select`` and ``rename``: change which columns a dataset has and what they are called."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field, field_validator

from datamill.core.columns import ID
from datamill.core.errors import SchemaError
from datamill.pipeline import StepConfig, StepContext, Transform, register

__all__ = ["Rename", "RenameConfig", "Select", "SelectConfig"]


def _missing(step: str, batch: pa.RecordBatch, columns: list[str], field: str) -> None:
    absent = [c for c in columns if c not in batch.schema.names]
    if absent:
        raise SchemaError(
            f"step {step!r}: `{field}` names {', '.join(map(repr, absent))}, which the input does "
            f"not have; it has {', '.join(batch.schema.names)}."
        )


class SelectConfig(StepConfig):
    columns: list[str] = Field(min_length=1, description="Columns to keep, in this order; `id` is always kept.")


@register("select")
class Select(Transform[SelectConfig]):
    """Keep only some columns (the ``id`` column always stays, first)."""

    def required_columns(self) -> dict[str, str]:
        return {c: "columns" for c in self.config.columns}

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> pa.RecordBatch:
        _missing(ctx.step_id, batch, self.config.columns, "columns")
        wanted = [c for c in self.config.columns if c != ID]
        if ID in batch.schema.names:
            wanted.insert(0, ID)
        return batch.select(wanted)


class RenameConfig(StepConfig):
    columns: dict[str, str] = Field(min_length=1, description="Old name → new name.")

    @field_validator("columns")
    @classmethod
    def _not_id(cls, value: dict[str, str]) -> dict[str, str]:
        if ID in value or ID in value.values():
            raise ValueError("the `id` column cannot be renamed, nor can another column become `id`")
        return value


@register("rename")
class Rename(Transform[RenameConfig]):
    """Rename columns."""

    def required_columns(self) -> dict[str, str]:
        return {c: "columns" for c in self.config.columns}

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> pa.RecordBatch:
        _missing(ctx.step_id, batch, list(self.config.columns), "columns")
        names = [self.config.columns.get(n, n) for n in batch.schema.names]
        if len(set(names)) != len(names):
            raise SchemaError(f"step {ctx.step_id!r}: renaming gives duplicate column names {names}")
        return batch.rename_columns(names)
