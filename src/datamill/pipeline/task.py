"""One unit of work: a step applied to one partition. The same code runs in-process, in a
process pool and (later) on a cluster; a worker receives JSON-able settings, never a pickled step.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from datamill.core.errors import DatamillError, PipelineError, SchemaError
from datamill.pipeline.ledger import Ledger
from datamill.pipeline.outcome import QUARANTINE_SCHEMA, Outcome
from datamill.pipeline.registry import relative_to, resolve_step
from datamill.pipeline.step import Aggregate, OutputStats, Source, Step, StepContext, Transform
from datamill.store.objects import ObjectStore, ShardInfo, ShardWriter

__all__ = ["PartResult", "StepRef", "Task", "execute_task", "stream_step"]


@dataclass(frozen=True)
class StepRef:
    """How a worker rebuilds a step: what ``uses:`` said, its config, where paths are relative to."""

    step_id: str
    uses: str
    config: dict[str, Any]
    base_dir: str

    def build(self) -> Step[Any]:
        with relative_to(Path(self.base_dir)):
            cls = resolve_step(self.uses, base_dir=Path(self.base_dir))
            return cls(self.config)


@dataclass
class Task:
    """Apply ``step`` to one partition; write the result as shards when ``write`` is set."""

    step: StepRef
    mode: str  # "stream" | "partial" | "apply"
    part: int
    num_parts: int
    seed: int
    store_url: str
    storage_options: dict[str, Any]
    # Input: a partition of a (fused) source, or shard keys of an input version.
    source: StepRef | None = None
    source_partition: dict[str, Any] | None = None
    shard_keys: list[str] = field(default_factory=list)
    input_schemas: list[pa.Schema] = field(default_factory=list)
    input_index: int = 0
    write: dict[str, Any] | None = None
    model: Any = None
    batch_size: int = 65_536


@dataclass
class PartResult:
    """What one task produced: shards, quarantine shards, ledgers and metrics."""

    part: int
    shards: list[ShardInfo] = field(default_factory=list)
    quarantine: list[ShardInfo] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    metrics: dict[str, float] = field(default_factory=dict)
    source_ledger: Ledger | None = None
    source_quarantine: list[ShardInfo] = field(default_factory=list)
    state: Any = None
    schema: pa.Schema | None = None
    # Statistics of the written rows (`Step.output_stats`); not checkpointed, so a resumed
    # partition has none and the runner computes the version's statistics by a scan instead.
    stats: OutputStats | None = None

    def to_json(self) -> dict[str, Any]:
        """The checkpoint form (no partial state or statistics: aggregates redo their first pass)."""
        return {
            "part": self.part,
            "shards": [s.to_dict() for s in self.shards],
            "quarantine": [s.to_dict() for s in self.quarantine],
            "ledger": self.ledger.to_dict(),
            "metrics": self.metrics,
            "source_ledger": self.source_ledger.to_dict() if self.source_ledger else None,
            "source_quarantine": [s.to_dict() for s in self.source_quarantine],
            "schema": self.schema.serialize().to_pybytes().hex() if self.schema else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartResult:
        return cls(
            part=int(data["part"]),
            shards=[ShardInfo.from_dict(s) for s in data["shards"]],
            quarantine=[ShardInfo.from_dict(s) for s in data["quarantine"]],
            ledger=Ledger.from_dict(data["ledger"]),
            metrics=dict(data.get("metrics", {})),
            source_ledger=Ledger.from_dict(data["source_ledger"]) if data.get("source_ledger") else None,
            source_quarantine=[ShardInfo.from_dict(s) for s in data.get("source_quarantine", [])],
            schema=pa.ipc.read_schema(pa.py_buffer(bytes.fromhex(data["schema"])))
            if data.get("schema") else None,
        )


def _as_outcome(value: Any, step_id: str, batch: pa.RecordBatch) -> Outcome:
    if isinstance(value, Outcome):
        return value
    if isinstance(value, pa.RecordBatch):
        if value.num_rows != batch.num_rows:
            raise PipelineError(
                f"step {step_id!r} returned {value.num_rows} rows for a batch of "
                f"{batch.num_rows}; to remove rows return `Outcome(batch).drop(mask, reason=...)` "
                "so the ledger can count them."
            )
        return Outcome(value)
    raise PipelineError(
        f"step {step_id!r} returned {type(value).__name__}; return a pyarrow.RecordBatch "
        "or a datamill Outcome."
    )


def stream_step(
    step: Step[Any],
    ctx: StepContext,
    *,
    batches: Iterable[pa.RecordBatch] = (),
    partition: dict[str, Any] | None = None,
    model: Any = None,
) -> Iterator[pa.RecordBatch]:
    """Run a step over one partition, keeping its ledger in ``ctx``; yields the kept batches."""
    if isinstance(step, Source):
        for batch in step.read(partition or {}, ctx):
            ctx.ledger.rows_in += batch.num_rows
            ctx.ledger.rows_out += batch.num_rows
            yield batch  # empty ones too: they still tell the writer the schema
        return
    for batch in batches:
        if isinstance(step, Transform):
            result: Any = step.process(batch, ctx)
        elif isinstance(step, Aggregate):
            result = step.apply(batch, model, ctx)
        else:  # a Sink passes its input on to be written
            result = batch
        # rows_in is the input batch, whatever the step returned: a step that shrinks the
        # batch without an Outcome's drop or quarantine unbalances the ledger and fails the run.
        kept = ctx.record(_as_outcome(result, ctx.step_id, batch), rows_in=batch.num_rows)
        yield kept  # empty ones too: a step that keeps nothing still has an output schema


def _blaming(batches: Iterator[pa.RecordBatch], ref: StepRef) -> Iterator[pa.RecordBatch]:
    """Name the fused source, not its consumer, when reading fails."""
    try:
        yield from batches
    except DatamillError:
        raise
    except Exception as err:  # a reader's failure on a whole partition
        raise PipelineError(f"step {ref.step_id!r} ({ref.uses}) failed while reading: "
                            f"{type(err).__name__}: {err}") from err


def _read_shards(store: ObjectStore, keys: list[str], schema: pa.Schema | None,
                 batch_size: int) -> Iterator[pa.RecordBatch]:
    for key in keys:
        with store.open_parquet(key) as parquet:
            for batch in parquet.iter_batches(batch_size=batch_size):
                yield batch.cast(schema) if schema is not None and batch.schema != schema else batch


def _write_quarantine(store: ObjectStore, batches: list[pa.RecordBatch]) -> list[ShardInfo]:
    if not batches:
        return []
    writer = ShardWriter(store, QUARANTINE_SCHEMA)
    for batch in batches:
        writer.write(batch)
    return writer.close()


def _stats_done(pending: Future[None] | None, task: Task) -> None:
    """Wait for the statistics of the previous batch; their failure names the way around it."""
    if pending is None:
        return
    try:
        pending.result()
    except DatamillError:
        raise
    except Exception as err:
        raise PipelineError(
            f"step {task.step.step_id!r} ({task.step.uses}) could not compute the statistics of the rows "
            f"it writes in partition {task.part}: {type(err).__name__}: {err}. Set `profile: false` "
            "to write without them (and please report the column type)."
        ) from err


def execute_task(task: Task) -> PartResult:
    """Run one task (in whichever process the executor chose) and return what it produced."""
    store = ObjectStore(task.store_url, task.storage_options)
    step = task.step.build()
    ctx = StepContext(step_id=task.step.step_id, seed=task.seed, shard_index=task.part,
                      num_shards=task.num_parts, input_schemas=task.input_schemas,
                      input_index=task.input_index, store=store)
    result = PartResult(part=task.part)
    source_ctx: StepContext | None = None
    if task.source is not None:  # a fused source: read the partition here, no shards between
        source = task.source.build()
        source_ctx = StepContext(step_id=task.source.step_id, seed=task.seed,
                                 shard_index=task.part, num_shards=task.num_parts)
        inputs: Iterable[pa.RecordBatch] = _blaming(
            stream_step(source, source_ctx, partition=task.source_partition), task.source)
    else:
        schema = task.input_schemas[task.input_index] if task.input_schemas else None
        inputs = _read_shards(store, task.shard_keys, schema, task.batch_size)

    if task.mode == "partial":
        assert isinstance(step, Aggregate)
        result.state = step.partial(iter(inputs), ctx)
    else:
        batches = stream_step(step, ctx, batches=inputs, partition=task.source_partition
                              if isinstance(step, Source) else None, model=task.model)
        writer: ShardWriter | None = None
        try:
            with ExitStack() as stack:
                # Statistics of batch i are computed on their own thread (its columns on `pool`)
                # while batch i is written and batch i+1 is made: at most one batch in flight.
                stats: OutputStats | None = None
                profiler: ThreadPoolExecutor | None = None
                pool: ThreadPoolExecutor | None = None
                pending: Future[None] | None = None
                for batch in batches:
                    if writer is None:
                        result.schema = batch.schema
                        writer = ShardWriter(store, batch.schema, **(task.write or {}))
                        stats = result.stats = step.output_stats(batch.schema)
                        if stats is not None:
                            profiler = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="datamill-stats"))
                            threads = min(4, os.cpu_count() or 1)
                            if threads > 1:
                                pool = stack.enter_context(ThreadPoolExecutor(
                                    threads, thread_name_prefix="datamill-stats-column"))
                    elif batch.schema != writer.schema:
                        try:
                            batch = batch.cast(writer.schema)
                        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as err:
                            raise SchemaError(
                                f"step {task.step.step_id!r} produced batches with different schemas "
                                f"in partition {task.part}: {writer.schema} then {batch.schema}"
                            ) from err
                    if stats is not None and profiler is not None:
                        _stats_done(pending, task)
                        pending = profiler.submit(stats.update, batch, pool=pool)
                    writer.write(batch)
                _stats_done(pending, task)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            result.shards = writer.close()
    result.ledger = ctx.ledger
    result.metrics = ctx.metrics
    result.quarantine = _write_quarantine(store, ctx.quarantine_batches)
    if source_ctx is not None:
        result.source_ledger = source_ctx.ledger
        result.source_quarantine = _write_quarantine(store, source_ctx.quarantine_batches)
    return result
