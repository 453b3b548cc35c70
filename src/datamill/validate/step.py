"""The ``validate`` step: check every batch against a schema inside a pipeline.

Rows that break a row rule of the schema (a missing value in a required column, a value outside
the domain or the range, a string off its format) go to quarantine with the column and the
rule, unless ``quarantine_rows`` is off. Then the batch's other findings (a missing or retyped
column, a missing-rate jump, repeated ids, mixed formats or units …, `anomalies.check` on the
batch) that reach ``fail_on`` fail the run, with every finding in the error. What was found is
counted in the metrics ``findings.error``, ``findings.warning`` and ``findings.info``.

Table-level checks that need every row at once (drift against a reference, uniqueness across
batches) are `datamill validate`'s job; this step is the gate that keeps bad rows out of what
comes after it.

>>> import pyarrow as pa
>>> from datamill.pipeline import StepContext
>>> schema = {"schema_version": 1, "columns": {"age": {"type": "int64", "required": True, "min": 0, "max": 120}}}
>>> step, ctx = Validate(schema=schema), StepContext("validate")
>>> out = step.process(pa.record_batch({"age": [30, None, 300, 41]}), ctx)
>>> ctx.record(out)["age"].to_pylist(), ctx.ledger.quarantined
([30, 41], {'schema_violation': 2})
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from datamill.core.errors import PipelineError
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register
from datamill.pipeline.registry import base_dir
from datamill.validate.anomalies import check
from datamill.validate.findings import at_least
from datamill.validate.formats import format_mask
from datamill.validate.schema import ColumnSchema, Schema, load_schema

__all__ = ["Validate", "ValidateConfig", "ValidationFailed", "row_violations"]

# Checks the row rules already settle by quarantining the rows: not a reason to fail the run too.
_ROW_CHECKS = {"required", "out_of_domain", "out_of_range", "format"}


class ValidationFailed(PipelineError):
    """A batch broke the schema badly enough to stop the run (``fail_on``)."""


class ValidateConfig(StepConfig):
    """Which schema, what to quarantine, what fails the run."""

    # ``schema`` is what people write; pydantic models own a ``schema`` attribute, so the field
    # is ``schema_`` and answers to both names.
    model_config = {**StepConfig.model_config, "populate_by_name": True}

    schema_: dict[str, Any] | None = Field(None, alias="schema", description="The schema, inline (YAML's shape).")
    schema_path: str | None = Field(None, description="A schema YAML file, relative to the pipeline file.")
    quarantine_rows: bool = Field(True, description="Quarantine rows that break a row rule.")
    fail_on: Literal["info", "warning", "error", "never"] = Field(
        "error", description="Fail the run when a batch finding is at least this severe.")

    @model_validator(mode="after")
    def _one_schema(self) -> ValidateConfig:
        if (self.schema_ is None) == (self.schema_path is None):
            raise ValueError("give the schema inline (`schema:`) or as a file (`schema_path:`), one of the two")
        return self


def _numbers(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.float64(), safe=False)


def row_violations(batch: pa.RecordBatch, schema: Schema) -> tuple[np.ndarray, list[list[str]]]:
    """Which rows break a row rule, and each such row's reasons (``column: rule``).

    >>> s = Schema.from_yaml("schema_version: 1\\ncolumns:\\n  c: {type: string, domain: [a, b]}\\n")
    >>> bad, why = row_violations(pa.record_batch({"c": ["a", "z", None]}), s)
    >>> bad.tolist(), why
    ([False, True, False], [[], ['c: "z" is not in the domain'], []])
    """
    n = batch.num_rows
    reasons: list[list[str]] = [[] for _ in range(n)]
    for name, rule in schema.columns.items():
        if name not in batch.schema.names:
            continue
        values = batch.column(batch.schema.get_field_index(name))
        for mask, describe in _column_rules(values, rule):
            for i in np.flatnonzero(mask):
                reasons[i].append(f"{name}: {describe(values[int(i)].as_py())}")
    bad = np.fromiter((bool(r) for r in reasons), dtype=bool, count=n)
    return bad, reasons


def _column_rules(values: pa.Array, rule: ColumnSchema) -> list[tuple[np.ndarray, Any]]:
    def as_mask(array: Any) -> np.ndarray:
        return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)

    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    rules: list[tuple[np.ndarray, Any]] = []
    if rule.required:
        rules.append((as_mask(pc.is_null(values)), lambda v: "missing in a required column"))
    is_number = pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(
        values.type)
    if rule.domain is not None and not pa.types.is_floating(values.type):
        allowed = pa.array([str(v) for v in rule.domain], pa.string())
        text = pc.cast(values, pa.string(), safe=False)
        rules.append((as_mask(pc.invert(pc.is_in(text, value_set=allowed))) & ~as_mask(pc.is_null(values)),
                      lambda v: f"{json.dumps(v, ensure_ascii=False, default=str)[:80]} is not in the domain"))
    if is_number and (rule.min is not None or rule.max is not None):
        numbers = _numbers(values)
        low = as_mask(pc.less(numbers, rule.min)) if rule.min is not None else np.zeros(len(values), bool)
        high = as_mask(pc.greater(numbers, rule.max)) if rule.max is not None else np.zeros(len(values), bool)
        rules.append((low | high, lambda v: f"{v} is outside [{rule.min}, {rule.max}]"))
    if rule.format is not None and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        rules.append((~as_mask(format_mask(values, rule.format)) & ~as_mask(pc.is_null(values)),
                      lambda v: f"{str(v)[:80]!r} is not a {rule.format}"))
    return rules


@register("validate")
class Validate(Transform[ValidateConfig]):
    """Quarantine rows that break the schema's row rules; fail the run on batch findings.

    Ledger: kept rows out; rows breaking a row rule quarantined as ``schema_violation`` with
    their reasons. Metrics: ``findings.error``, ``findings.warning``, ``findings.info``.
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        if self.config.schema_path is not None:
            path = Path(self.config.schema_path).expanduser()
            self._schema = load_schema(path if path.is_absolute() else base_dir() / path)
        else:
            self._schema = Schema.model_validate(self.config.schema_)

    def code_hashes(self) -> list[str]:
        """The schema's content: editing the schema file re-runs the step."""
        from datamill.core.fingerprint import fingerprint

        return [fingerprint(self._schema.model_dump(mode="json"))]

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Quarantine the bad rows, then judge the rest of the batch."""
        outcome = Outcome(batch)
        if self.config.quarantine_rows and batch.num_rows:
            bad, reasons = row_violations(batch, self._schema)
            if bad.any():
                outcome.quarantine(pa.array(bad), reason="schema_violation",
                                   error=["; ".join(r) for r in reasons])
        findings = check(batch, self._schema)
        for finding in findings:
            ctx.metric(f"findings.{finding.severity}", 1)
        fatal = [f for f in findings if at_least(f.severity, self.config.fail_on)
                 and not (self.config.quarantine_rows and f.check in _ROW_CHECKS)]
        if fatal:
            listed = "; ".join(f"{f.severity} {f.check} in {f.column or 'the table'}: {f.message}" for f in fatal[:10])
            raise ValidationFailed(f"step {ctx.step_id!r}: the data broke the schema ({len(fatal)} finding(s) at "
                                   f"{self.config.fail_on} or worse): {listed}")
        return outcome
