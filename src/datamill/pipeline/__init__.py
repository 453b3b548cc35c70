"""The pipeline engine: step kinds, registry, specs, ledger, runner and executors."""

from datamill.pipeline.ledger import Ledger
from datamill.pipeline.outcome import QUARANTINE_SCHEMA, Outcome
from datamill.pipeline.registry import base_dir, register, registered_steps, resolve_step, transform
from datamill.pipeline.step import (
    Aggregate,
    OutputStats,
    Sink,
    Source,
    Step,
    StepConfig,
    StepContext,
    Transform,
)

__all__ = [
    "QUARANTINE_SCHEMA",
    "Aggregate",
    "Ledger",
    "Outcome",
    "OutputStats",
    "Sink",
    "Source",
    "Step",
    "StepConfig",
    "StepContext",
    "Transform",
    "base_dir",
    "register",
    "registered_steps",
    "resolve_step",
    "transform",
]
