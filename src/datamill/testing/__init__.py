"""Helpers for testing steps: run one step in memory with the real runner code.

>>> import pyarrow as pa
>>> from datamill.ops.filter import FilterExpr
>>> batch = pa.record_batch({"id": ["a", "b"], "n": [1, 5]})
>>> result = run_step(FilterExpr(expr="pl.col('n') > 2"), [batch])
>>> result.output["id"].to_pylist(), result.ledger.dropped, result.ledger.balanced
(['b'], {'filtered': 1}, True)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import pyarrow as pa

from datamill.pipeline.ledger import Ledger
from datamill.pipeline.outcome import QUARANTINE_SCHEMA
from datamill.pipeline.step import Aggregate, Source, Step, StepContext
from datamill.pipeline.task import stream_step

__all__ = ["StepResult", "make_batch", "run_step"]


@dataclass
class StepResult:
    """What a step produced: the kept rows, its ledger, its quarantine and metrics."""

    output: pa.Table
    ledger: Ledger
    quarantine: pa.Table
    metrics: dict[str, float] = field(default_factory=dict)
    side: pa.Table | None = None  # an Aggregate's side table (what it removed and why), if it has one


def make_batch(**columns: Sequence[Any]) -> pa.RecordBatch:
    """A record batch with an ``id`` column added when missing.

    >>> make_batch(text=["a", "b"]).column_names
    ['id', 'text']
    """
    data: dict[str, Any] = dict(columns)
    if "id" not in data:
        n = len(next(iter(columns.values()))) if columns else 0
        data = {"id": [str(i) for i in range(n)], **data}
    return pa.record_batch(data)


def run_step(
    step: Step[Any],
    batches: Iterable[pa.RecordBatch] | Sequence[Iterable[pa.RecordBatch]] = (),
    *,
    partitions: Sequence[Iterable[pa.RecordBatch]] | None = None,
    seed: int = 0,
) -> StepResult:
    """Run ``step`` in this process the way the executors do, and collect everything.

    A Source reads all its partitions; other steps get ``batches`` as one partition, or
    ``partitions`` (a list of batch lists) to exercise an Aggregate's merge. For a step with
    several inputs (``concat``), each partition is one input.
    """
    parts: list[list[pa.RecordBatch]] = (
        [list(p) for p in partitions] if partitions is not None else [list(batches)]  # type: ignore[arg-type]
    )
    schemas = [p[0].schema for p in parts if p]
    ledger = Ledger()
    metrics: dict[str, float] = {}
    out: list[pa.RecordBatch] = []
    quarantine: list[pa.RecordBatch] = []

    def context(index: int, total: int) -> StepContext:
        return StepContext(step_id=step.label, seed=seed, shard_index=index, num_shards=total,
                           input_schemas=schemas, input_index=index if step.multi_input else 0)

    def collect(ctx: StepContext) -> None:
        nonlocal ledger
        ledger = ledger.merge(ctx.ledger)
        for key, value in ctx.metrics.items():
            metrics[key] = metrics.get(key, 0.0) + value
        quarantine.extend(ctx.quarantine_batches)

    side: pa.Table | None = None
    if isinstance(step, Source):
        pieces = step.partitions()
        for index, piece in enumerate(pieces):
            ctx = context(index, len(pieces))
            out.extend(stream_step(step, ctx, partition=piece))
            collect(ctx)
    else:
        model = None
        summary: pa.Table | None = None
        if isinstance(step, Aggregate):
            first = [context(i, len(parts)) for i in range(len(parts))]
            states = [step.partial(iter(p), ctx) for p, ctx in zip(parts, first, strict=True)]
            model = step.finalize(reduce(step.merge, states))
            side_table = getattr(step, "side_table", None)
            side = side_table(model) if side_table is not None else None
            summary = step.output(model)
            if summary is not None:  # the summary is the output, as the runner writes it
                for ctx in first:
                    collect(ctx)
                ledger.rows_out += summary.num_rows
                ledger.created += summary.num_rows
                out.extend(summary.to_batches())
                schemas = [summary.schema]
            for key, value in step.output_metrics(model).items():
                metrics[key] = value
        for index, part in enumerate(parts if summary is None else ()):
            ctx = context(index, len(parts))
            out.extend(stream_step(step, ctx, batches=part, model=model))
            collect(ctx)
    ledger.check(step.label)
    if out:
        output = pa.Table.from_batches(out)
    elif schemas:
        output = pa.Table.from_batches([], schema=schemas[0])
    else:
        output = pa.table({})
    return StepResult(output, ledger, pa.Table.from_batches(quarantine, schema=QUARANTINE_SCHEMA),
                      metrics, side)
