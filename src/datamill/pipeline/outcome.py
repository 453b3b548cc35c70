"""What a step returns for one batch: the rows it keeps, drops (with a reason) and quarantines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import ID, SOURCE

__all__ = ["MAX_QUARANTINED_ROW_BYTES", "QUARANTINE_SCHEMA", "Outcome", "quarantine_records"]

# A quarantined row keeps at most this much of its original content; the source file's hash
# is in the lineage, so the full row can still be recovered from the file.
MAX_QUARANTINED_ROW_BYTES = 1 << 20

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("step", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("error", pa.string()),
        pa.field("row", pa.large_string()),
        pa.field("source", pa.string()),
        pa.field("line", pa.int64()),
    ]
)


def _mask(batch: pa.RecordBatch, mask: Any) -> pa.BooleanArray:
    """A boolean array as long as the batch, with nulls read as False."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if not isinstance(mask, pa.Array):
        mask = pa.array(mask, type=pa.bool_())
    if len(mask) != batch.num_rows:
        raise ValueError(f"mask has {len(mask)} entries for a batch of {batch.num_rows} rows")
    # An empty or all-null mask can arrive with the null type; make it boolean.
    mask = pc.cast(mask, pa.bool_()) if mask.type != pa.bool_() else mask
    return pc.fill_null(mask, False)


def _truncate(text: str) -> str:
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= MAX_QUARANTINED_ROW_BYTES:
        return text
    head = raw[:MAX_QUARANTINED_ROW_BYTES].decode("utf-8", "ignore")
    return head + f"… [truncated: {len(raw):,} bytes in all]"


def quarantine_records(
    rows: Iterable[Mapping[str, Any]],
    *,
    step: str,
    reason: str,
    errors: Iterable[str] | str,
) -> pa.RecordBatch:
    """Build quarantine rows from original rows (dicts) and their error messages.

    Each original row is kept as JSON in ``row``; its ``id``, ``source`` and ``line`` (when
    present) are lifted into columns so the quarantine can be searched.
    """
    rows = list(rows)
    errs = [errors] * len(rows) if isinstance(errors, str) else list(errors)
    out: dict[str, list[Any]] = {f.name: [] for f in QUARANTINE_SCHEMA}
    for row, err in zip(rows, errs, strict=True):
        out["id"].append(None if row.get(ID) is None else str(row.get(ID)))
        out["step"].append(step)
        out["reason"].append(reason)
        out["error"].append(str(err))
        out["row"].append(_truncate(json.dumps(row, ensure_ascii=False, default=str)))
        out["source"].append(None if row.get(SOURCE) is None else str(row.get(SOURCE)))
        line = row.get("line")
        out["line"].append(line if isinstance(line, int) else None)
    return pa.RecordBatch.from_pydict(out, schema=QUARANTINE_SCHEMA)


class Outcome:
    """A step's verdict on one batch. The runner applies it and does the accounting.

    >>> batch = pa.record_batch({"id": ["a", "b", "c"], "n": [1, 5, None]})
    >>> out = Outcome(batch).drop(pc.less(batch["n"], 3), reason="too_small")
    >>> out.kept["id"].to_pylist(), out.dropped
    (['b', 'c'], {'too_small': 1})
    """

    __slots__ = ("_keep", "_quarantined", "batch", "dropped", "original")

    def __init__(self, batch: pa.RecordBatch, *, original: pa.RecordBatch | None = None) -> None:
        # ``original`` is the input row by row when ``batch`` holds transformed rows: quarantine
        # keeps what came in, not a half-made result.
        self.batch = batch
        self.original = original
        self._keep: pa.BooleanArray | None = None
        self.dropped: dict[str, int] = {}
        self._quarantined: list[tuple[pa.BooleanArray, str, Any]] = []

    def _take(self, mask: Any) -> tuple[pa.BooleanArray, int]:
        mask = _mask(self.batch, mask)
        if self._keep is not None:
            mask = pc.and_(mask, self._keep)
        count = int(pc.sum(mask).as_py() or 0)
        if count:
            self._keep = pc.invert(mask) if self._keep is None else pc.and_not(self._keep, mask)
        return mask, count

    def drop(self, mask: Any, *, reason: str) -> Outcome:
        """Drop the rows where ``mask`` is true (and not already dropped), counted under ``reason``."""
        _, count = self._take(mask)
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count
        return self

    def quarantine(self, mask: Any, *, reason: str, error: str | pa.Array | list[str]) -> Outcome:
        """Quarantine the rows where ``mask`` is true, with a reason code and an error message.

        ``error`` is one message for all rows or one per row of the batch.
        """
        taken, count = self._take(mask)
        if count:
            self._quarantined.append((taken, reason, error))
        return self

    @property
    def kept(self) -> pa.RecordBatch:
        """The rows that go on to the next step."""
        return self.batch if self._keep is None else self.batch.filter(self._keep)

    @property
    def num_kept(self) -> int:
        """How many rows go on."""
        return self.batch.num_rows if self._keep is None else int(pc.sum(self._keep).as_py() or 0)

    @property
    def quarantined(self) -> dict[str, int]:
        """Quarantined row counts by reason."""
        counts: dict[str, int] = {}
        for mask, reason, _ in self._quarantined:
            counts[reason] = counts.get(reason, 0) + int(pc.sum(mask).as_py() or 0)
        return counts

    def quarantine_batches(self, step: str) -> list[pa.RecordBatch]:
        """The quarantined rows in the quarantine schema (only built when there are some)."""
        out = []
        for mask, reason, error in self._quarantined:
            rows = (self.original if self.original is not None else self.batch).filter(mask).to_pylist()
            if isinstance(error, str):
                errors: Any = error
            else:
                errors = pa.array(error).filter(mask).to_pylist()
            out.append(quarantine_records(rows, step=step, reason=reason, errors=errors))
        return out
