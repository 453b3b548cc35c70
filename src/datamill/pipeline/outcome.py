"""What a step returns for one batch: the rows it keeps, drops (with a reason) and quarantines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import ID, SOURCE

__all__ = ["MAX_QUARANTINED_ROW_BYTES", "QUARANTINE_SCHEMA", "Outcome", "quarantine_records", "rows_of"]

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


def rows_of(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch as dicts, even when a string column holds invalid UTF-8 (read with U+FFFD).

    Dropped and quarantined rows are exactly the ones likely to hold broken bytes; turning them
    into Python must not fail the step that is setting them aside.

    >>> bad = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(b"\\x00\\x00\\x00\\x00\\x02\\x00\\x00\\x00"),
    ...                                                 pa.py_buffer(b"a\\xff")])
    >>> rows_of(pa.record_batch({"text": bad}))
    [{'text': 'a\ufffd'}]
    """
    try:
        rows: list[dict[str, Any]] = batch.to_pylist()
        return rows
    except UnicodeDecodeError:
        columns = {}
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                raw = column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
                column = pa.array([None if v is None else v.decode("utf-8", "replace") for v in raw.to_pylist()],
                                  column.type)
            columns[name] = column
        repaired: list[dict[str, Any]] = pa.RecordBatch.from_pydict(columns).to_pylist()
        return repaired


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

    __slots__ = ("_children", "_drops", "_folded", "_keep", "_parents", "_quarantined", "batch", "dropped", "merged",
                 "original")

    def __init__(self, batch: pa.RecordBatch, *, original: pa.RecordBatch | None = None) -> None:
        # ``original`` is the input row by row when ``batch`` holds transformed rows: quarantine
        # keeps what came in, not a half-made result.
        self.batch = batch
        self.original = original
        self._keep: pa.BooleanArray | None = None
        self.dropped: dict[str, int] = {}
        self._drops: list[tuple[pa.BooleanArray, str]] = []
        self._quarantined: list[tuple[pa.BooleanArray, str, Any]] = []
        self._children: pa.RecordBatch | None = None
        self._parents: pa.Array | None = None
        self._folded = False
        self.merged = 0

    @classmethod
    def split(cls, batch: pa.RecordBatch, children: pa.RecordBatch, parents: Any, *,
              empty_reason: str) -> Outcome:
        """One input row becomes zero or more output rows (a chunker, a sentence splitter).

        ``parents[i]`` is the index in ``batch`` of the row ``children[i]`` came from. Input
        rows without children are dropped under ``empty_reason``; the extra rows are counted as
        ``created`` in the ledger. Later ``drop``/``quarantine`` calls take input-row masks and
        remove those rows' children.

        >>> batch = pa.record_batch({"id": ["a", "b"], "text": ["x y", ""]})
        >>> kids = pa.record_batch({"id": ["a#0", "a#1"], "text": ["x", "y"]})
        >>> out = Outcome.split(batch, kids, [0, 0], empty_reason="empty_text")
        >>> out.kept["id"].to_pylist(), out.dropped, out.created
        (['a#0', 'a#1'], {'empty_text': 1}, 1)
        """
        parent_index = pa.array(parents, pa.int64()) if not isinstance(parents, pa.Array) else parents
        parent_index = pc.cast(parent_index, pa.int64())
        if len(parent_index) != children.num_rows:
            raise ValueError(f"{len(parent_index)} parents for {children.num_rows} children")
        if len(parent_index) and (pc.min(parent_index).as_py() < 0
                                  or pc.max(parent_index).as_py() >= batch.num_rows):
            raise ValueError("a parent index is outside the input batch")
        out = cls(batch)
        out._children = children
        out._parents = parent_index
        has_children = pc.is_in(pa.array(range(batch.num_rows), pa.int64()), value_set=parent_index)
        out.drop(pc.invert(has_children), reason=empty_reason)
        return out

    @classmethod
    def combine(cls, batch: pa.RecordBatch, combined: pa.RecordBatch) -> Outcome:
        """Every input row is folded into the (fewer) ``combined`` rows: rows as a table.

        The rows folded away are counted as ``merged`` in the ledger.

        >>> batch = pa.record_batch({"id": ["a", "b", "c"]})
        >>> out = Outcome.combine(batch, pa.record_batch({"id": ["a..c"]}))
        >>> out.kept.num_rows, out.merged
        (1, 2)
        """
        return cls(batch).fold(combined)

    def fold(self, combined: pa.RecordBatch) -> Outcome:
        """Fold the rows still kept (after any drops and quarantines) into ``combined``.

        The rows folded away are counted as ``merged``; nothing may be dropped afterwards.

        >>> batch = pa.record_batch({"id": ["a", "b", "c"], "ok": [True, False, True]})
        >>> out = Outcome(batch).drop(pc.invert(batch["ok"]), reason="bad").fold(
        ...     pa.record_batch({"id": ["a+c"], "ok": [True]}))
        >>> out.kept["id"].to_pylist(), out.merged, out.dropped
        (['a+c'], 1, {'bad': 1})
        """
        if self._children is not None:
            raise ValueError("this outcome was already split or folded")
        kept = self.num_kept
        if combined.num_rows > kept:
            raise ValueError(f"{combined.num_rows} combined rows from {kept}: use Outcome.split")
        if kept and not combined.num_rows:
            raise ValueError("combining rows into none loses them: drop them with a reason instead")
        self._children = combined
        self._folded = True
        self.merged = kept - combined.num_rows
        return self

    @property
    def created(self) -> int:
        """Rows made beyond one per input row (by `split`)."""
        if self._parents is None:
            return 0
        kept = self.kept.num_rows
        parents = self._kept_parents()
        return kept - len(pc.unique(parents)) if kept else 0

    def _kept_parents(self) -> pa.Array:
        assert self._parents is not None
        if self._keep is None:
            return self._parents
        return self._parents.filter(pc.array_take(self._keep, self._parents))

    def _take(self, mask: Any) -> tuple[pa.BooleanArray, int]:
        if self._folded:
            raise ValueError("rows combined with Outcome.combine or fold cannot be dropped afterwards; "
                             "drop them before combining")
        mask = _mask(self.batch, mask)
        if self._keep is not None:
            mask = pc.and_(mask, self._keep)
        count = int(pc.sum(mask).as_py() or 0)
        if count:
            self._keep = pc.invert(mask) if self._keep is None else pc.and_not(self._keep, mask)
        return mask, count

    def drop(self, mask: Any, *, reason: str) -> Outcome:
        """Drop the rows where ``mask`` is true (and not already dropped), counted under ``reason``."""
        taken, count = self._take(mask)
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count
            self._drops.append((taken, reason))
        return self

    def dropped_rows(self, reason: str, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` of the input rows dropped for ``reason`` (for run reports)."""
        rows: list[dict[str, Any]] = []
        source = self.original if self.original is not None else self.batch
        for mask, why in self._drops:
            if why == reason and len(rows) < limit:
                picked = source.filter(mask)
                rows.extend(rows_of(picked.slice(0, limit - len(rows))))
        return rows

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
        if self._children is not None:
            if self._keep is None or self._parents is None:
                return self._children
            return self._children.filter(pc.array_take(self._keep, self._parents))
        return self.batch if self._keep is None else self.batch.filter(self._keep)

    @property
    def num_kept(self) -> int:
        """How many rows go on."""
        if self._children is not None:
            return int(self.kept.num_rows)
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
            rows = rows_of((self.original if self.original is not None else self.batch).filter(mask))
            if isinstance(error, str):
                errors: Any = error
            else:
                errors = pa.array(error).filter(mask).to_pylist()
            out.append(quarantine_records(rows, step=step, reason=reason, errors=errors))
        return out
