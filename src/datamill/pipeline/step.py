"""The four step kinds: Source, Transform, Aggregate and Sink.

A step is a pydantic config (fingerprinted: it *is* the cache key), a registry name and one
method. Steps only describe an outcome; the runner applies it and keeps the ledger, so every
executor behaves the same.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, ValidationError

from datamill.core.env import hide_url_passwords, is_secret_name
from datamill.core.errors import ConfigError, did_you_mean
from datamill.core.statistics import OutputStats
from datamill.pipeline.ledger import EXAMPLES_PER_REASON, Ledger
from datamill.pipeline.outcome import Outcome, quarantine_records

__all__ = [
    "Aggregate",
    "OutputStats",
    "Sink",
    "Source",
    "Step",
    "StepConfig",
    "StepContext",
    "Transform",
    "config_error",
]

Kind = Literal["source", "transform", "aggregate", "sink"]


class StepConfig(BaseModel):
    """Base of every step's config: frozen, and unknown options are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


C = TypeVar("C", bound=StepConfig)
S = TypeVar("S")
M = TypeVar("M")


def config_error(step: str, config_class: type[BaseModel], err: ValidationError) -> ConfigError:
    """Turn a pydantic error into one that names the step, the field path, the value and the fix."""
    fields = list(config_class.model_fields)
    lines = []
    for problem in err.errors():
        loc = ".".join(str(p) for p in problem["loc"]) or "(config)"
        if problem["type"] == "extra_forbidden":
            hint = did_you_mean(str(problem["loc"][-1]), fields, quote="`")
            options = ", ".join(f"`{f}`" for f in fields) or "none"
            lines.append(f"step {step!r} has no option `{loc}`.{hint or f' Options: {options}.'}")
        elif problem["type"] == "missing":
            lines.append(f"step {step!r}: `{loc}` is required but was not given.")
        else:
            msg = problem["msg"][0].lower() + problem["msg"][1:]
            # A credential given where it does not fit must not end up in a terminal or a log.
            secret = any(is_secret_name(str(part)) for part in problem["loc"])
            got = "a value that is not shown (it looks like a credential)" if secret else hide_url_passwords(
                repr(problem.get("input")))
            lines.append(f"step {step!r}: `{loc}` {msg}, got {got}.")
    return ConfigError("\n".join(lines))


@dataclass
class StepContext:
    """What a running step may use: its ledger, metrics, a seed and where it is in the data."""

    step_id: str
    seed: int = 0
    shard_index: int = 0
    num_shards: int = 1
    input_index: int = 0
    input_schemas: list[pa.Schema] = field(default_factory=list)
    ledger: Ledger = field(default_factory=Ledger)
    metrics: dict[str, float] = field(default_factory=dict)
    quarantine_batches: list[pa.RecordBatch] = field(default_factory=list)
    # The object store of the run, for steps that write objects of their own (token shards);
    # None outside a run.
    store: Any = None

    def metric(self, name: str, value: float) -> None:
        """Add ``value`` to the metric ``name`` (metrics are summed over shards)."""
        self.metrics[name] = self.metrics.get(name, 0.0) + float(value)

    def drop(self, count: int, *, reason: str) -> None:
        """Count rows a Source skipped on purpose (they never became a batch)."""
        self.ledger.rows_in += count
        self.ledger.add_dropped(reason, count)

    def quarantine(
        self, rows: list[Mapping[str, Any]], *, reason: str, error: str | list[str]
    ) -> None:
        """Quarantine rows a Source could not turn into records (a malformed line, bad bytes).

        Each row is a dict of what was recoverable (``id``, ``source``, ``line``, ``raw``...).
        """
        if not rows:
            return
        self.ledger.rows_in += len(rows)
        self.ledger.add_quarantined(reason, len(rows))
        self.quarantine_batches.append(
            quarantine_records(rows, step=self.step_id, reason=reason, errors=error)
        )

    def record(self, outcome: Outcome, *, rows_in: int | None = None) -> pa.RecordBatch:
        """Account for an outcome and return its kept rows (the runner calls this)."""
        kept = outcome.kept
        self.ledger.rows_in += outcome.batch.num_rows if rows_in is None else rows_in
        self.ledger.rows_out += kept.num_rows
        self.ledger.created += outcome.created
        self.ledger.merged += outcome.merged
        for reason, count in outcome.dropped.items():
            self.ledger.add_dropped(reason, count)
            if self.ledger.wants_examples(reason):
                self.ledger.add_examples(reason, outcome.dropped_rows(reason, EXAMPLES_PER_REASON))
        for reason, count in outcome.quarantined.items():
            self.ledger.add_quarantined(reason, count)
        if outcome.quarantined:
            self.quarantine_batches.extend(outcome.quarantine_batches(self.step_id))
        return kept


def _config_class_of(cls: type) -> type[StepConfig] | None:
    for base in getattr(cls, "__orig_bases__", ()):
        for arg in typing.get_args(base):
            if isinstance(arg, type) and issubclass(arg, StepConfig):
                return arg
    return None


class Step(Generic[C]):
    """Base of the four kinds. Subclass one of them, not this."""

    kind: ClassVar[Kind]
    name: ClassVar[str] = ""
    version: ClassVar[int] = 1  # bump when the same input would give a different output
    config_class: ClassVar[type[StepConfig]] = StepConfig
    multi_input: ClassVar[bool] = False  # True for steps such as `concat`
    # Set by the registry for steps loaded from a user's file: its source feeds the cache key.
    code_hash: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found = _config_class_of(cls)
        if found is not None:
            cls.config_class = found

    def __init__(self, config: C | Mapping[str, Any] | None = None, /, **options: Any) -> None:
        if isinstance(config, StepConfig):
            if options:
                raise ConfigError(f"step {self.label!r}: pass a config object or options, not both")
            self.config: C = config  # type: ignore[assignment]
            return
        values = {**(dict(config) if config else {}), **options}
        try:
            self.config = self.config_class.model_validate(values)  # type: ignore[assignment]
        except ValidationError as err:
            raise config_error(self.label, self.config_class, err) from err

    @property
    def label(self) -> str:
        """The registry name, or the class name for an unregistered step."""
        return self.name or type(self).__name__

    def required_columns(self) -> dict[str, str]:
        """Columns the step needs, mapped to the config field that names them (for validation)."""
        return {}

    def writer_options(self) -> dict[str, Any]:
        """Shard writer options for this step's output (``write.dataset`` sets them)."""
        return {}

    def output_stats(self, schema: pa.Schema) -> OutputStats | None:
        """An empty state for statistics of the rows this step writes, computed in the same pass
        and stored in the output version's manifest; None (the default) computes none.
        ``write.dataset`` profiles every column unless ``profile: false``."""
        return None

    def code_hashes(self) -> list[str]:
        """Hashes of user code the step runs (a function file); they feed the cache key."""
        return []

    def output_schema(self, input_schemas: list[pa.Schema]) -> pa.Schema | None:
        """The output schema when it can be known before running; None when it cannot."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class Source(Step[C]):
    """Reads records from outside the store. Yields batches; bad input goes to ``ctx.quarantine``.

    ``partitions()`` splits the input into independent pieces (JSON dicts); a piece with a
    ``path`` names a file (any fsspec URL) whose content hash feeds the cache key and lineage.
    A live source (a database server, an API, a web site: `is_live`) has nothing to hash: it is
    read again on every run, and the steps after it re-run only when what it read changed.
    """

    kind: ClassVar[Kind] = "source"

    def is_live(self) -> bool:
        """Whether the input lives outside any file (read on every run, never from the cache)."""
        return False

    def partitions(self) -> list[dict[str, Any]]:
        """The independent pieces of input, in a stable order."""
        raise NotImplementedError

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Yield the records of one piece as batches."""
        raise NotImplementedError


class Transform(Step[C]):
    """Batch in, batch out, no state across batches."""

    kind: ClassVar[Kind] = "transform"

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Return what happens to the rows of ``batch``."""
        raise NotImplementedError


class Aggregate(Step[C], Generic[C, S, M]):
    """A global pass as mergeable partial state: partial → merge → finalize → apply.

    The same four methods run on one core, a process pool or a cluster.
    """

    kind: ClassVar[Kind] = "aggregate"

    def partial(self, batches: Iterator[pa.RecordBatch], ctx: StepContext) -> S:
        """Summarise one shard."""
        raise NotImplementedError

    def merge(self, left: S, right: S) -> S:
        """Combine two summaries (must be associative)."""
        raise NotImplementedError

    def finalize(self, state: S) -> M:
        """Turn the merged summary into what ``apply`` needs."""
        raise NotImplementedError

    def apply(self, batch: pa.RecordBatch, model: M, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Use the finalized model on one batch."""
        raise NotImplementedError

    def output(self, model: M) -> pa.Table | None:
        """A summary that *is* the step's output (token shards' table), or None to run ``apply``.

        A step that returns one accounts for its input rows in ``partial`` (as merged or
        dropped); the runner counts the summary's rows as created.
        """
        return None

    def output_files(self, model: M) -> list[dict[str, Any]]:
        """Objects besides the output's shards that the version owns (``path``, ``sha256``)."""
        return []

    def output_metrics(self, model: M) -> dict[str, float]:
        """Metrics only the finalized model knows."""
        return {}


class Sink(Step[C]):
    """Writes its input. ``write.dataset`` writes a version into the store."""

    kind: ClassVar[Kind] = "sink"
