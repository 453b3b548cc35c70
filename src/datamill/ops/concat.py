"""``concat``: the rows of several inputs, one after another, under one schema."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datamill.core.columns import ID
from datamill.core.errors import SchemaError
from datamill.pipeline import StepConfig, StepContext, Transform, register

__all__ = ["Concat", "ConcatConfig"]


class ConcatConfig(StepConfig):
    id_prefixes: list[str] | None = Field(
        None, description="One prefix per input, added to `id` so ids stay unique across inputs.")


@register("concat")
class Concat(Transform[ConcatConfig]):
    """Append inputs. Columns missing from an input are null; types are widened to fit all."""

    multi_input = True

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> pa.RecordBatch:
        try:
            target = pa.unify_schemas(ctx.input_schemas, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
            raise SchemaError(f"step {ctx.step_id!r}: the inputs' schemas do not fit together: {err}") from err
        columns = []
        for field in target:
            if field.name in batch.schema.names:
                columns.append(batch.column(field.name).cast(field.type))
            else:
                columns.append(pa.nulls(batch.num_rows, field.type))
        out = pa.RecordBatch.from_arrays(columns, schema=target)
        prefixes = self.config.id_prefixes
        if prefixes is not None and ID in target.names:
            if len(prefixes) != len(ctx.input_schemas):
                raise SchemaError(f"step {ctx.step_id!r}: `id_prefixes` has {len(prefixes)} entries "
                                  f"for {len(ctx.input_schemas)} inputs")
            index = target.get_field_index(ID)
            ids = pc.binary_join_element_wise(prefixes[ctx.input_index], pc.cast(out[ID], pa.string()), "")
            out = out.set_column(index, ID, ids)
        return out
