"""The ``id`` column every dedup step names rows by. Private to ``datamill.dedup``."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import ID
from datamill.core.errors import SchemaError

__all__ = ["row_ids"]


def row_ids(batch: pa.RecordBatch, step: str, uses: str, purpose: str) -> pa.Array:
    """The ``id`` column as strings; a `SchemaError` when it is missing, not text-like or has nulls.

    ``purpose`` says why the step needs ids (it ends the first sentence of the error).
    """
    if ID not in batch.schema.names:
        raise SchemaError(
            f"step {step!r} ({uses}) needs an `id` column: {purpose}. The input has "
            f"{', '.join(batch.schema.names) or 'no columns'}. Readers add one (`<file>:<line>`, or the "
            "column named by `id_column`); keep it in `select`, or `rename` a unique column to `id`."
        )
    ids = batch.column(ID)
    if not pa.types.is_string(ids.type):
        try:
            ids = pc.cast(ids, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise SchemaError(
                f"step {step!r} ({uses}) needs `id` to hold strings; it holds {ids.type}. Cast it first."
            ) from err
    if ids.null_count:
        raise SchemaError(
            f"step {step!r} ({uses}): `id` has {ids.null_count} null value(s); every row needs an id: "
            f"{purpose}."
        )
    return ids
