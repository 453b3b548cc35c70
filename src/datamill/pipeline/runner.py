"""Run a pipeline: plan, then for each step take the cache or run it, and record everything.

Every non-source step writes its output as a version (content-addressed, so an unchanged
result costs no space). A Source with one streaming consumer is *fused* into it: its
partitions are read inside the consumer's tasks, so ``read.parquet → write.dataset`` reads
and writes the data once.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

import pyarrow as pa

from datamill.core.dataset import Dataset
from datamill.core.errors import DatamillError, PipelineError, SchemaError
from datamill.core.fingerprint import fingerprint
from datamill.pipeline.cache import code_version, explain_rerun
from datamill.pipeline.environment import capture_environment
from datamill.pipeline.executors import make_executor
from datamill.pipeline.ledger import Ledger
from datamill.pipeline.outcome import QUARANTINE_SCHEMA, Outcome
from datamill.pipeline.progress import NullReporter, Reporter
from datamill.pipeline.spec import PipelineSpec, PlannedStep, in_step, load_spec, plan
from datamill.pipeline.step import Aggregate, Source, Step, Transform
from datamill.pipeline.task import PartResult, StepRef, Task, _read_shards
from datamill.store.objects import ShardInfo, ShardWriter
from datamill.store.workspace import Workspace

__all__ = ["Pipeline", "RunResult", "StepReport", "run_pipeline"]


@dataclass
class StepReport:
    """What happened to one step in a run (the `--json` contract's ``steps[]``)."""

    id: str
    uses: str
    status: str  # ran | cached | failed | skipped
    rows_in: int = 0
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""
    fingerprint: str = ""
    output: str | None = None
    quarantine: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    created: int = 0
    merged: int = 0
    explained: str | None = None  # the side table that explains the dropped rows (dedup)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "uses": self.uses, "status": self.status, "rows_in": self.rows_in,
            "rows_out": self.rows_out, "dropped": self.dropped, "quarantined": self.quarantined,
            "seconds": round(self.seconds, 3), "reason": self.reason,
            "fingerprint": self.fingerprint, "output": self.output,
            "quarantine": self.quarantine, "metrics": self.metrics,
        }
        if self.explained:
            out["explained"] = self.explained
        # Splitting and folding steps only: rows_out may then exceed rows_in.
        if self.created:
            out["created"] = self.created
        if self.merged:
            out["merged"] = self.merged
        return out


@dataclass
class RunResult:
    """The outcome of a run: status, named outputs (``name@hash``), and every step."""

    run_id: str
    pipeline: str
    status: str
    outputs: dict[str, str]
    steps: list[StepReport]
    seconds: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "pipeline": self.pipeline, "status": self.status,
            "outputs": self.outputs, "steps": [s.to_dict() for s in self.steps],
            "seconds": round(self.seconds, 3), "error": self.error,
        }

    def step(self, step_id: str) -> StepReport:
        """The report of one step."""
        return next(s for s in self.steps if s.id == step_id)


@dataclass
class _Fused:
    """A source read inside its consumer's tasks."""

    planned: PlannedStep
    partitions: list[dict[str, Any]]
    fingerprint: str
    files: list[dict[str, Any]]
    code_version: str


# A task reads consecutive shards of one input until it has about this much: a reader makes one
# shard per file, and a thousand pages must not become a thousand tasks and shards at every
# later step.
_TASK_BYTES = 64 << 20


def _shard_groups(shards: list[dict[str, Any]], rows: int) -> list[list[str]]:
    """Consecutive shards grouped until a group holds ``rows`` rows or `_TASK_BYTES` bytes.

    >>> _shard_groups([{"path": p, "rows": 10, "bytes": 100} for p in "abc"], rows=15)
    [['a', 'b'], ['c']]
    """
    groups: list[list[str]] = []
    group: list[str] = []
    held_rows = held_bytes = 0
    for shard in shards:
        group.append(shard["path"])
        held_rows += int(shard.get("rows") or 0)
        held_bytes += int(shard.get("bytes") or 0)
        if held_rows >= rows or held_bytes >= _TASK_BYTES:
            groups.append(group)
            group, held_rows, held_bytes = [], 0, 0
    if group:
        groups.append(group)
    return groups


class _Run:
    def __init__(self, ws: Workspace, spec: PipelineSpec, base_dir: Path, *, workers: int,
                 resume: bool, reporter: Reporter, batch_size: int, executor: str = "local",
                 address: str | None = None) -> None:
        self.ws = ws
        self.spec = spec
        self.base_dir = base_dir
        self.resume = resume
        self.reporter = reporter
        self.batch_size = batch_size
        self.executor = make_executor(executor, workers, address)
        self.run_id = uuid.uuid4().hex[:16]
        self.outputs: dict[str, Dataset | _Fused] = {}
        self.reports: dict[str, StepReport] = {}
        self._by_id: dict[str, PlannedStep] = {}

    # ------------------------------------------------------------------ helpers
    def _ref(self, planned: PlannedStep) -> StepRef:
        return StepRef(planned.id, planned.spec.uses, planned.step.config.model_dump(mode="json"),
                       str(self.base_dir))

    def _task(self, planned: PlannedStep, mode: str, part: int, num_parts: int,
              **kwargs: Any) -> Task:
        return Task(step=self._ref(planned), mode=mode, part=part, num_parts=num_parts,
                    seed=self.spec.seed, store_url=self.ws.objects.url,
                    storage_options=self.ws.objects.storage_options,
                    batch_size=self.batch_size, **kwargs)

    def _input_identity(self, upstream: str) -> dict[str, Any]:
        out = self.outputs[upstream]
        if isinstance(out, _Fused):
            return {"step": upstream, "source": out.fingerprint, "files": out.files}
        return {"step": upstream, "version": out.id}

    def _explain(self, planned: PlannedStep, config: dict[str, Any], code: str,
                 inputs: list[dict[str, Any]], fp: str, why_not_cached: str | None) -> str:
        if why_not_cached:
            return why_not_cached
        previous = self.ws.catalog.previous_execution(self.spec.name, planned.id)
        return explain_rerun(previous, uses=planned.spec.uses, config=config, code=code,
                             inputs=inputs, fingerprint=fp)

    def _cached(self, fp: str) -> tuple[dict[str, Any] | None, str | None]:
        hit = self.ws.catalog.cached_execution(fp)
        if hit is None or not hit.get("output_version"):
            # No hit, or the record of a fused source (it had no output version of its own).
            return None, None
        for key in ("output_version", "quarantine_version"):
            if hit.get(key):
                problem = self.ws.verify(hit[key])
                if problem:
                    return None, f"cached output no longer valid ({problem}); recomputing"
        return hit, None

    # ------------------------------------------------------------------ the run
    def run(self, planned_steps: list[PlannedStep]) -> RunResult:
        t0 = time.monotonic()
        self._by_id = {p.id: p for p in planned_steps}
        spec_doc = self.spec.model_dump(mode="json", by_alias=True)
        self.ws.catalog.start_run(self.run_id, self.spec.name, spec_doc,
                                  capture_environment(self.base_dir))
        status, error = "succeeded", None
        try:
            for planned in planned_steps:
                self._step(planned)
            outputs = {}
            for name, step_id in self.spec.outputs.items():
                produced = self.outputs[step_id]
                assert isinstance(produced, Dataset)
                self.ws.catalog.add_version(produced.manifest, name=name, run_id=self.run_id)
                outputs[name] = f"{name}@{produced.id[:12]}"
            for planned in planned_steps:
                named = getattr(planned.step.config, "name", None)
                written = self.outputs.get(planned.id)
                if planned.step.name == "write.dataset" and named and isinstance(written, Dataset):
                    self.ws.catalog.add_version(written.manifest, name=named, run_id=self.run_id)
                    outputs.setdefault(named, f"{named}@{written.id[:12]}")
        except BaseException as err:
            status = "failed"
            error = f"{type(err).__name__}: {err}"
            self.ws.catalog.finish_run(self.run_id, status, error=error)
            self.executor.close()
            if isinstance(err, DatamillError):
                # The CLI prints what ran before the failure (`--json` stays one document).
                err.run_result = RunResult(  # type: ignore[attr-defined]
                    self.run_id, self.spec.name, status, {}, list(self.reports.values()),
                    time.monotonic() - t0, error)
            raise
        finally:
            self.reporter.close()
        self.executor.close()
        self.ws.catalog.finish_run(self.run_id, status, error=error, outputs=outputs)
        order = [p.id for p in planned_steps]
        return RunResult(self.run_id, self.spec.name, status, outputs,
                         [self.reports[s] for s in order if s in self.reports],
                         time.monotonic() - t0, error)

    def _fusable(self, planned: PlannedStep, by_id: Mapping[str, PlannedStep]) -> bool:
        if not isinstance(planned.step, Source) or len(planned.consumers) != 1:
            return False
        if planned.step.is_live():
            # Read on every run: kept as a version, so an unchanged result hits the cache downstream.
            return False
        if planned.id in self.spec.outputs.values():
            return False
        consumer = by_id[planned.consumers[0]].step
        # A multi-input consumer (concat) needs each input's schema before it starts, and its
        # partitions mix sources: such a source is materialised instead.
        return consumer.kind in ("transform", "sink") and not consumer.multi_input

    def _source_files(self, planned: PlannedStep) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        source = planned.step
        assert isinstance(source, Source)
        try:
            partitions = source.partitions()
        except DatamillError as err:
            raise in_step(err, planned.id, planned.spec.uses, source.label) from err
        except Exception as err:  # a user's source: name it, keep the cause
            raise PipelineError(f"step {planned.id!r} ({planned.spec.uses}) could not list its "
                                f"input: {type(err).__name__}: {err}") from err
        urls = sorted({p["path"] for p in partitions if "path" in p})
        # New input means work ahead: start the workers while the files are hashed.
        files = self.ws.file_hashes(urls, before_hashing=self.executor.start)
        if source.is_live():
            # Nothing to hash: this run's id stands in, so the source is read again; its output
            # version is its content's hash, so unchanged data still hits the cache downstream.
            files.append({"url": f"live:{planned.id}", "size": None, "sha256": self.run_id})
        return partitions, files

    def _step(self, planned: PlannedStep) -> None:
        by_id = self._by_id
        step = planned.step
        config = step.config.model_dump(mode="json")
        code = code_version(step)
        if self._fusable(planned, by_id):
            assert isinstance(step, Source)
            partitions, files = self._source_files(planned)
            fp = fingerprint(planned.spec.uses, config, code, files, self.spec.seed)
            self.outputs[planned.id] = _Fused(planned, partitions, fp, files, code)
            return
        if isinstance(step, Source):
            partitions, files = self._source_files(planned)
            inputs: list[dict[str, Any]] = files
        else:
            partitions, files = [], []
            inputs = [self._input_identity(u) for u in planned.spec.inputs]
        fp = fingerprint(planned.spec.uses, config, code,
                         [{k: v for k, v in i.items() if k != "files"} for i in inputs],
                         self.spec.seed)
        hit, why_not = self._cached(fp)
        fused = [self.outputs[u] for u in planned.spec.inputs
                 if isinstance(self.outputs[u], _Fused)]
        if hit is not None:
            self._take_cached(planned, hit, fp, inputs)
            for f in fused:
                assert isinstance(f, _Fused)
                self._record_fused(f, None, status="cached")
            return
        reason = self._explain(planned, config, code, inputs, fp, why_not)
        self._execute(planned, fp, config, code, inputs, partitions, reason)

    def _take_cached(self, planned: PlannedStep, hit: dict[str, Any], fp: str,
                     inputs: list[dict[str, Any]]) -> None:
        dataset = self.ws.open(f"@{hit['output_version']}")
        dataset.name = f"{self.spec.name}.{planned.id}"
        self.outputs[planned.id] = dataset
        ledger = Ledger.from_dict(json.loads(hit["ledger"] or "{}"))
        metrics = json.loads(hit["metrics"] or "{}")
        self.ws.catalog.start_execution(
            run_id=self.run_id, step_id=planned.id, uses=planned.spec.uses, fingerprint=fp,
            status="cached", config=hit["config"], code_version=hit["code_version"],
            inputs=json.dumps(inputs), output_version=hit["output_version"],
            quarantine_version=hit["quarantine_version"], ledger=hit["ledger"],
            metrics=hit["metrics"], reason=f"cached (run {hit['run_id']})", seconds=0.0)
        self.ws.catalog.add_version(dataset.manifest, name=f"{self.spec.name}.{planned.id}",
                                    run_id=self.run_id, kind="step")
        explained = None
        side = self.ws.catalog.side_version(fp) if hasattr(planned.step, "side_table") else None
        if side is not None:
            name = f"{self.spec.name}.{planned.id}.removed"
            self.ws.catalog.add_version(self.ws.manifest(side), name=name, run_id=self.run_id, kind="side")
            explained = f"{name}@{side[:12]}"
        self.reporter.step_started(planned.id, 0, "cached")
        self.reporter.step_finished(planned.id, "cached", ledger.rows_out)
        self.reports[planned.id] = StepReport(
            planned.id, planned.spec.uses, "cached", ledger.rows_in, ledger.rows_out,
            ledger.dropped, ledger.quarantined, 0.0, "unchanged", fp,
            f"{self.spec.name}.{planned.id}@{hit['output_version'][:12]}",
            self._quarantine_ref(planned.id, hit["quarantine_version"]), metrics,
            created=ledger.created, merged=ledger.merged, explained=explained)

    def _quarantine_ref(self, step_id: str, version_id: str | None) -> str | None:
        return f"{self.spec.name}.{step_id}.quarantine@{version_id[:12]}" if version_id else None

    def _plan_tasks(self, planned: PlannedStep, mode: str, partitions: list[dict[str, Any]],
                    model: Any = None) -> tuple[list[Task], list[pa.Schema]]:
        step = planned.step
        write = step.writer_options() if mode != "partial" else None
        if isinstance(step, Source):
            n = len(partitions)
            return [self._task(planned, mode, i, n, source_partition=p, write=write)
                    for i, p in enumerate(partitions)], []
        schemas: list[pa.Schema] = []
        pieces: list[dict[str, Any]] = []
        for index, upstream in enumerate(planned.spec.inputs):
            out = self.outputs[upstream]
            if isinstance(out, _Fused):
                schemas.append(pa.schema([]))
                for p in out.partitions:
                    pieces.append({"source": StepRef(out.planned.id, out.planned.spec.uses,
                                                     out.planned.step.config.model_dump(mode="json"),
                                                     str(self.base_dir)),
                                   "source_partition": p, "input_index": index})
            else:
                schemas.append(out.schema)
                self._check_columns(planned, upstream, out.schema)
                for keys in _shard_groups(out.shards, self.batch_size):
                    pieces.append({"shard_keys": keys, "input_index": index})
        n = len(pieces)
        tasks = [self._task(planned, mode, i, n, input_schemas=schemas, write=write, model=model,
                            **piece) for i, piece in enumerate(pieces)]
        return tasks, schemas

    def _check_columns(self, planned: PlannedStep, upstream: str, schema: pa.Schema) -> None:
        missing = {c: f for c, f in planned.step.required_columns().items() if c not in schema.names}
        if missing:
            fields = ", ".join(f"`{f}`" for f in sorted(set(missing.values())))
            raise SchemaError(
                f"step {planned.id!r} ({planned.spec.uses}) needs column(s) "
                f"{', '.join(map(repr, missing))} (from {fields}); input {upstream!r} has "
                f"{', '.join(schema.names)}. Fix `with: {{{next(iter(missing.values()))}: ...}}`."
            )

    def _run_tasks(self, planned: PlannedStep, tasks: list[Task], fp: str | None) -> list[PartResult]:
        done: dict[int, PartResult] = {}
        if fp is not None and self.resume:
            for part, data in self.ws.catalog.checkpoints(fp).items():
                result = PartResult.from_json(data)
                shards = result.shards + result.quarantine + result.source_quarantine
                if all(self.ws.objects.size(s.path) == s.bytes for s in shards):
                    done[part] = result
        todo = [t for t in tasks if t.part not in done]
        self.reporter.step_started(planned.id, len(tasks),
                                   "resuming" if done else "running")
        for _ in done.values():
            self.reporter.part_done(planned.id, 0)
        try:
            for result in self.executor.map(todo):
                done[result.part] = result
                if fp is not None:
                    self.ws.catalog.save_checkpoint(fp, result.part, result.to_json())
                self.reporter.part_done(planned.id, result.ledger.rows_in)
        except DatamillError:
            raise
        except Exception as err:
            raise PipelineError(
                f"step {planned.id!r} ({planned.spec.uses}) failed: {type(err).__name__}: {err}"
            ) from err
        if done and fp is not None:
            resumed = len(tasks) - len(todo)
            if resumed:
                first = min(done)
                done[first].metrics["resumed_partitions"] = float(resumed)
        return [done[i] for i in sorted(done)]

    def _execute(self, planned: PlannedStep, fp: str, config: dict[str, Any], code: str,
                 inputs: list[dict[str, Any]], partitions: list[dict[str, Any]], reason: str) -> None:
        started = time.monotonic()
        exec_id = self.ws.catalog.start_execution(
            run_id=self.run_id, step_id=planned.id, uses=planned.spec.uses, fingerprint=fp,
            status="running", config=json.dumps(config), code_version=code,
            inputs=json.dumps(inputs), reason=reason)
        try:
            step = planned.step
            model = None
            explained = None
            files: list[dict[str, Any]] = []
            model_metrics: dict[str, float] = {}
            if isinstance(step, Aggregate):
                tasks, _ = self._plan_tasks(planned, "partial", partitions)
                self.reporter.step_started(f"{planned.id} (pass 1)", len(tasks))
                firsts = []
                for result in sorted(self.executor.map(tasks), key=lambda r: r.part):
                    firsts.append(result)
                    self.reporter.part_done(f"{planned.id} (pass 1)", 0)
                self.reporter.step_finished(f"{planned.id} (pass 1)", "ran", 0)
                states = [r.state for r in firsts] or [step.partial(iter(()), self._empty_ctx(planned))]
                model = step.finalize(self.executor.merge_all(step, self._ref(planned), states))
                explained = self._commit_side_table(planned, model, exec_id)
                summary = step.output(model)
                if summary is not None:
                    results, schemas = [self._summary_result(step, model, summary, firsts)], [summary.schema]
                    files = step.output_files(model)
                else:
                    tasks, schemas = self._plan_tasks(planned, "apply", partitions, model)
                    results = self._run_tasks(planned, tasks, fp)
                    # The model's own metrics (class priors, noise rates) are recorded once, not per shard.
                    model_metrics = step.output_metrics(model)
            else:
                tasks, schemas = self._plan_tasks(planned, "stream", partitions)
                results = self._run_tasks(planned, tasks, fp)
            ledger = reduce(Ledger.merge, (r.ledger for r in results), Ledger())
            ledger.check(planned.id)
            metrics: dict[str, float] = {}
            for r in results:
                for k, v in r.metrics.items():
                    metrics[k] = metrics.get(k, 0.0) + v
            metrics.update(model_metrics)
            dataset = self._commit(planned, results, schemas, exec_id, files)
            quarantine = self._commit_quarantine(planned.id, [q for r in results for q in r.quarantine],
                                                 exec_id)
            seconds = time.monotonic() - started
            self.ws.catalog.finish_execution(
                exec_id, status="ran", seconds=seconds, output_version=dataset.id,
                quarantine_version=quarantine, ledger=json.dumps(ledger.to_dict()),
                metrics=json.dumps(metrics))
            self.ws.catalog.clear_checkpoints(fp)
        except BaseException as err:
            self.ws.catalog.finish_execution(exec_id, status="failed", error=f"{type(err).__name__}: {err}",
                                             seconds=time.monotonic() - started)
            self.reports[planned.id] = StepReport(planned.id, planned.spec.uses, "failed",
                                                  seconds=time.monotonic() - started, reason=reason,
                                                  fingerprint=fp)
            raise
        self.outputs[planned.id] = dataset
        self.reporter.step_finished(planned.id, "ran", ledger.rows_out)
        for upstream in planned.spec.inputs:
            fused = self.outputs[upstream]
            if isinstance(fused, _Fused):
                self._record_fused(fused, results, status="ran")
        self.reports[planned.id] = StepReport(
            planned.id, planned.spec.uses, "ran", ledger.rows_in, ledger.rows_out,
            ledger.dropped, ledger.quarantined, seconds, reason, fp,
            f"{self.spec.name}.{planned.id}@{dataset.id[:12]}",
            self._quarantine_ref(planned.id, quarantine), metrics,
            created=ledger.created, merged=ledger.merged, explained=explained)

    def _commit_side_table(self, planned: PlannedStep, model: Any, exec_id: int) -> str | None:
        """Store an Aggregate's side table (what it removed and why) as ``<pipeline>.<step>.removed``."""
        producer = {"run_id": self.run_id, "pipeline": self.spec.name, "step": planned.id}
        # Other side outputs (an index for later runs): written, not reported.
        extra_outputs = getattr(planned.step, "extra_outputs", None)
        for suffix, (schema, batches) in (extra_outputs(model) if extra_outputs is not None else {}).items():
            self.ws.write(f"{self.spec.name}.{planned.id}.{suffix}", batches, schema=schema, run_id=self.run_id,
                          execution_id=exec_id, kind="side", producer=producer)
        side_table = getattr(planned.step, "side_table", None)
        if side_table is None:
            return None
        table = side_table(model)
        if table is None or not table.num_rows:
            return None
        name = f"{self.spec.name}.{planned.id}.removed"
        version = self.ws.write(name, table, run_id=self.run_id, execution_id=exec_id, kind="side",
                                producer=producer)
        return f"{name}@{version.id[:12]}"

    def _empty_output_schema(self, planned: PlannedStep, schema: pa.Schema) -> pa.Schema:
        """The output schema of a step given no partitions: run it on an empty batch."""
        step = planned.step
        if isinstance(step, Transform):
            empty = pa.RecordBatch.from_pylist([], schema=schema)
            ctx = self._empty_ctx(planned)
            ctx.input_schemas = [schema]
            out = step.process(empty, ctx)
            return out.kept.schema if isinstance(out, Outcome) else out.schema
        return schema

    def _empty_ctx(self, planned: PlannedStep) -> Any:
        from datamill.pipeline.step import StepContext

        return StepContext(step_id=planned.id, seed=self.spec.seed)

    def _summary_result(self, step: Aggregate[Any, Any, Any], model: Any, summary: pa.Table,
                        firsts: list[PartResult]) -> PartResult:
        """An Aggregate's summary written as its output: the first pass's ledgers and metrics,
        the summary's rows counted as created."""
        ledger = reduce(Ledger.merge, (r.ledger for r in firsts), Ledger())
        ledger.rows_out += summary.num_rows
        ledger.created += summary.num_rows
        metrics: dict[str, float] = {}
        for r in firsts:
            for k, v in r.metrics.items():
                metrics[k] = metrics.get(k, 0.0) + v
        metrics.update(step.output_metrics(model))
        writer = ShardWriter(self.ws.objects, summary.schema)
        for batch in summary.to_batches():
            writer.write(batch)
        return PartResult(part=0, shards=writer.close(), ledger=ledger, metrics=metrics,
                          quarantine=[q for r in firsts for q in r.quarantine], schema=summary.schema)

    def _commit(self, planned: PlannedStep, results: list[PartResult], schemas: list[pa.Schema],
                exec_id: int, files: list[dict[str, Any]] | None = None) -> Dataset:
        shards = [s for r in results for s in r.shards]
        found = ([r.schema for r in results if r.schema is not None and r.shards]
                 or [r.schema for r in results if r.schema is not None])
        if not found and not results and len(schemas) == 1 and len(schemas[0]):
            found = [self._empty_output_schema(planned, schemas[0])]
        if found:
            try:
                schema = pa.unify_schemas(found, promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
                raise SchemaError(
                    f"step {planned.id!r} ({planned.spec.uses}) produced partitions whose column "
                    f"types do not fit together: {err}. Fix the types in the step's config "
                    "(for readers: `column_types`)."
                ) from err
        elif len(schemas) == 1 and len(schemas[0]):
            schema = schemas[0]
        else:
            schema = pa.schema([pa.field("id", pa.string())])
        roles = getattr(planned.step.config, "roles", None)
        return self.ws.commit_version(
            schema, shards, name=f"{self.spec.name}.{planned.id}", roles=roles,
            run_id=self.run_id, execution_id=exec_id, kind="step", files=files,
            producer={"run_id": self.run_id, "pipeline": self.spec.name, "step": planned.id},
            profile=self._output_profile(planned.step, schema, results))

    def _output_profile(self, step: Step[Any], schema: pa.Schema,
                        results: list[PartResult]) -> dict[str, Any] | None:
        """The statistics the step kept of its written rows (`Step.output_stats`), merged; a
        partition resumed from a checkpoint kept none, so then the written shards are scanned."""
        empty = step.output_stats(schema)
        if empty is None:
            return None
        if not any(r.shards and r.stats is None for r in results):
            return reduce(lambda a, b: a.merge(b), [r.stats for r in results if r.stats is not None],
                          empty).report()
        keys = [s.path for r in results for s in r.shards]
        with ThreadPoolExecutor(min(4, os.cpu_count() or 1), thread_name_prefix="datamill-stats") as pool:
            for batch in _read_shards(self.ws.objects, keys, schema, self.batch_size):
                empty.update(batch, pool=pool)
        return empty.report()

    def _commit_quarantine(self, step_id: str, shards: list[ShardInfo], exec_id: int) -> str | None:
        if not shards:
            return None
        version = self.ws.commit_version(
            QUARANTINE_SCHEMA, shards, name=f"{self.spec.name}.{step_id}.quarantine",
            run_id=self.run_id, execution_id=exec_id, kind="quarantine",
            producer={"run_id": self.run_id, "pipeline": self.spec.name, "step": step_id})
        return version.id

    def _record_fused(self, fused: _Fused, results: list[PartResult] | None, *, status: str) -> None:
        planned = fused.planned
        if results is None:  # the consumer was cached: so is the source
            hit = self.ws.catalog.cached_execution(fused.fingerprint)
            ledger = Ledger.from_dict(json.loads(hit["ledger"] or "{}")) if hit else Ledger()
            quarantine = hit["quarantine_version"] if hit else None
            seconds = 0.0
            reason = "unchanged"
        else:
            ledger = reduce(Ledger.merge, (r.source_ledger or Ledger() for r in results), Ledger())
            ledger.check(planned.id)
            quarantine = None
            seconds = 0.0  # its time is inside the consumer's
            previous = self.ws.catalog.previous_execution(self.spec.name, planned.id)
            if previous is not None and previous["fingerprint"] == fused.fingerprint:
                # A fused source has no output of its own to cache: it ran because its consumer did.
                reason = f"unchanged; read again inside {planned.consumers[0]}"
            else:
                reason = self._explain(planned, planned.step.config.model_dump(mode="json"),
                                       fused.code_version, fused.files, fused.fingerprint, None)
        exec_id = self.ws.catalog.start_execution(
            run_id=self.run_id, step_id=planned.id, uses=planned.spec.uses,
            fingerprint=fused.fingerprint, status=status,
            config=json.dumps(planned.step.config.model_dump(mode="json")),
            code_version=fused.code_version, inputs=json.dumps(fused.files),
            quarantine_version=quarantine, ledger=json.dumps(ledger.to_dict()), metrics="{}",
            reason=reason if status == "ran" else "unchanged", seconds=seconds)
        if results is not None:
            quarantine = self._commit_quarantine(
                planned.id, [q for r in results for q in r.source_quarantine], exec_id)
            self.ws.catalog.finish_execution(exec_id, quarantine_version=quarantine)
        self.reports[planned.id] = StepReport(
            planned.id, planned.spec.uses, status, ledger.rows_in, ledger.rows_out, ledger.dropped,
            ledger.quarantined, seconds, reason, fused.fingerprint, None,
            self._quarantine_ref(planned.id, quarantine), {})



def run_pipeline(ws: Workspace, spec: PipelineSpec, base_dir: Path, *, workers: int = 1,
                 resume: bool = False, reporter: Reporter | None = None,
                 batch_size: int = 65_536, executor: str = "local",
                 address: str | None = None) -> RunResult:
    """Validate ``spec`` and run it in ``ws``; raises on the first failing step.

    ``executor`` is ``"local"`` (a process pool of ``workers``) or ``"ray"`` (Ray tasks on the
    cluster at ``address`` or ``RAY_ADDRESS``, else on a local Ray with ``workers`` CPUs).
    """
    from datamill.store.workspace import using_workspace

    with using_workspace(ws):
        planned = plan(spec, base_dir)
        runner = _Run(ws, spec, base_dir, workers=workers, resume=resume,
                      reporter=reporter or NullReporter(), batch_size=batch_size,
                      executor=executor, address=address)
        return runner.run(planned)


class Pipeline:
    """A pipeline from YAML or Python.

    >>> p = Pipeline.from_dict({"name": "demo", "steps": [
    ...     {"id": "raw", "uses": "read.csv", "with": {"paths": ["a.csv"]}}]})
    >>> p.name
    'demo'
    """

    def __init__(self, spec: PipelineSpec, base_dir: Path | None = None) -> None:
        self.spec = spec
        self.base_dir = base_dir or Path.cwd()

    @property
    def name(self) -> str:
        return self.spec.name

    @classmethod
    def from_yaml(cls, path: str | Path) -> Pipeline:
        """Load a YAML pipeline file (paths in it are relative to the file)."""
        spec, base_dir = load_spec(Path(path))
        return cls(spec, base_dir)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base_dir: Path | None = None) -> Pipeline:
        """Build from a dict shaped like the YAML."""
        spec, default_dir = load_spec(data)
        return cls(spec, base_dir or default_dir)

    def validate(self) -> list[PlannedStep]:
        """Check everything that can be checked without running; return the execution order."""
        return plan(self.spec, self.base_dir)

    def run(self, workspace: Workspace | None = None, *, workers: int = 1, resume: bool = False,
            reporter: Reporter | None = None, executor: str = "local",
            address: str | None = None) -> RunResult:
        """Run in ``workspace`` (default: the one found from the current directory).

        ``executor="ray"`` runs the same tasks on Ray (``address`` or ``RAY_ADDRESS``, else a
        local Ray); the output versions are the same as with the local executor.
        """
        ws = workspace or Workspace.find()
        return run_pipeline(ws, self.spec, self.base_dir, workers=workers, resume=resume,
                            reporter=reporter, executor=executor, address=address)


