"""Compare two versions: rows added, removed and changed (by ``id``), schema and summary changes."""

from __future__ import annotations

from typing import Any

import polars as pl

from datamill.core.columns import ID
from datamill.core.dataset import Dataset
from datamill.core.errors import SchemaError

__all__ = ["diff_versions"]


def _keyed(ds: Dataset, columns: list[str]) -> pl.DataFrame:
    frame = pl.from_arrow(ds.to_arrow([ID, *columns]))
    assert isinstance(frame, pl.DataFrame)
    if not columns:
        return frame.select(pl.col(ID).cast(pl.Utf8), pl.lit(0, pl.UInt64).alias("_h"))
    return frame.select(pl.col(ID).cast(pl.Utf8),
                        pl.struct([pl.col(c).cast(pl.Utf8) for c in columns]).hash(7).alias("_h"))


def diff_versions(a: Dataset, b: Dataset, *, examples: int = 5) -> dict[str, Any]:
    """What changed from ``a`` to ``b``.

    Rows are matched by ``id``; a row is *changed* when any column both versions share differs.
    Only ``id`` and a 64-bit hash per row are held in memory.
    """
    for ds in (a, b):
        if ID not in ds.schema.names:
            raise SchemaError(f"{ds.ref} has no `id` column; diff matches rows by id.")
    fields_a = {f.name: str(f.type) for f in a.schema}
    fields_b = {f.name: str(f.type) for f in b.schema}
    shared = [c for c in fields_a if c in fields_b and c != ID]
    left, right = _keyed(a, shared), _keyed(b, shared)
    added = right.join(left, on=ID, how="anti")
    removed = left.join(right, on=ID, how="anti")
    both = left.join(right, on=ID, how="inner", suffix="_b")
    changed = both.filter(pl.col("_h") != pl.col("_h_b"))
    summary_changes = {}
    sa, sb = a.summary, b.summary
    for column in sorted(set(sa) | set(sb)):
        if sa.get(column) != sb.get(column):
            summary_changes[column] = {"a": sa.get(column), "b": sb.get(column)}
    return {
        "a": a.ref,
        "b": b.ref,
        "rows": {"a": a.num_rows, "b": b.num_rows, "added": added.height,
                 "removed": removed.height, "changed": changed.height,
                 "unchanged": both.height - changed.height},
        "examples": {
            "added": added[ID].head(examples).to_list(),
            "removed": removed[ID].head(examples).to_list(),
            "changed": changed[ID].head(examples).to_list(),
        },
        "schema": {
            "added": {c: t for c, t in fields_b.items() if c not in fields_a},
            "removed": {c: t for c, t in fields_a.items() if c not in fields_b},
            "type_changed": {c: {"a": fields_a[c], "b": fields_b[c]} for c in fields_a
                             if c in fields_b and fields_a[c] != fields_b[c]},
        },
        "summary": summary_changes,
    }
