"""One call that validates a dataset: schema checks, anomalies and drift against a reference.

`validate` is what ``datamill validate``, the ``validate`` step's table-level mode and the demo
call. With a schema, the data is checked against it (`datamill.validate.anomalies.check`).
With a reference (training data, last month's version), drift is tested column by column
(`datamill.validate.drift.drift`) with the thresholds of the schema's ``drift`` entries, or of
its ``skew`` entries when ``mode="skew"`` (training vs serving). With a reference and no
schema, the schema is inferred from the reference first, as TFDV does: serving data is checked
against what training looked like, so a column serving lacks is named.

>>> import pyarrow as pa
>>> train = pa.table({"fare": [float(i % 40) for i in range(2000)], "tips": [1.0] * 2000})
>>> serving = pa.table({"fare": [float(i % 40) for i in range(500)]})
>>> report = validate(serving, reference=train, profiles=False)
>>> report["verdict"], [(f["check"], f["column"]) for f in report["findings"]]
('fail', [('missing_column', 'tips')])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

from datamill.core.columns import PROVENANCE
from datamill.core.errors import ConfigError
from datamill.validate.anomalies import check
from datamill.validate.drift import drift, drift_findings
from datamill.validate.findings import FailOn, Finding, validation_report
from datamill.validate.profile import statistics_of
from datamill.validate.schema import Schema, infer_schema

__all__ = ["schema_thresholds", "validate"]


def schema_thresholds(schema: Schema | None, mode: Literal["drift", "skew"] = "drift") -> dict[str, dict[str, Any]]:
    """The per-column drift (or skew) rules of a schema, as `drift` takes them.

    >>> from datamill.validate.schema import ColumnSchema, DriftRule
    >>> s = Schema(columns={"x": ColumnSchema(type="double", drift=DriftRule(method="psi", threshold=0.2))})
    >>> schema_thresholds(s)
    {'x': {'method': 'psi', 'threshold': 0.2}}
    """
    if schema is None:
        return {}
    out = {}
    for name, column in schema.columns.items():
        rule = column.skew if mode == "skew" else column.drift
        if rule is not None:
            out[name] = {"method": rule.method, "threshold": rule.threshold}
    return out


def _schema_of(data: Any) -> pa.Schema:
    if isinstance(data, pa.Table | pa.RecordBatch) or hasattr(data, "schema"):
        return data.schema
    raise ConfigError("validate: give the current data as a table or a dataset to test drift")


def _describe(data: Any, given: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if given is not None:
        return dict(given)
    if hasattr(data, "id") and hasattr(data, "num_rows"):
        return {"ref": getattr(data, "ref", None), "version": data.id, "rows": data.num_rows}
    rows = getattr(data, "num_rows", None)
    return {"rows": rows} if rows is not None else None


def validate(
    current: Any,
    *,
    schema: Schema | None = None,
    reference: Any = None,
    mode: Literal["drift", "skew"] = "drift",
    fail_on: FailOn = "error",
    label: str | None = None,
    slice_by: str | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = PROVENANCE,
    profiles: bool = True,
    current_info: Mapping[str, Any] | None = None,
    reference_info: Mapping[str, Any] | None = None,
    check_options: Mapping[str, Any] | None = None,
    drift_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``current``: against ``schema``, and for drift against ``reference``; the report.

    Inputs are `pyarrow.Table` s, datamill `Dataset` s or iterables of batches (drift also takes
    Parquet paths). ``label``: the label column, tested for ``label_drift``; ``slice_by``: drift
    is tested within each value of this column too. ``profiles``: add both sides' statistics
    (``profile``, ``reference_profile``) for the HTML report (a version's stored statistics
    where it has them: no scan). Columns in ``exclude`` (where rows
    came from: ``id``, ``source``, ``page``, ``meta``) and time columns are not drift-tested unless
    named in ``columns``. The result is
    `datamill.validate.findings.validation_report`'s document; its ``verdict`` is ``fail`` when
    a finding reaches ``fail_on``.
    """
    if schema is None and reference is None:
        raise ConfigError("validate needs a schema, a reference to compare with, or both "
                          "(`datamill schema infer REF > schema.yaml` writes a schema)")
    if mode not in ("drift", "skew"):
        raise ConfigError(f"`mode` is drift or skew, got {mode!r}")
    if schema is None:
        schema = infer_schema(reference, exclude=tuple(exclude))
    findings: list[Finding] = check(current, schema, **dict(check_options or {}))
    results: list[dict[str, Any]] = []
    if reference is not None:
        if columns is None:
            # Time columns move by construction (next month's data is later): their drift says
            # nothing. Freshness is the monitors' job; name a time column to test it anyway.
            columns = [f.name for f in _schema_of(current) if f.name not in exclude
                       and not pa.types.is_temporal(f.type)]
        results = drift(reference, current, columns=columns, exclude=exclude, label=label, slice_by=slice_by,
                        thresholds=schema_thresholds(schema, mode), **dict(drift_options or {}))
        # A column missing from one side, or retyped, is already named by the check; its
        # "could not be tested" drift result would say the same thing twice.
        explained = {f.column for f in findings if f.check in ("missing_column", "new_column", "type_change")}
        findings += [f for f in drift_findings(results) if f.column not in explained or f.check != "drift"
                     or f.value is not None]
    return validation_report(
        findings, drift=results, fail_on=fail_on,
        input=_describe(current, current_info), reference=_describe(reference, reference_info),
        profile=statistics_of(current) if profiles else None,
        reference_profile=statistics_of(reference) if profiles and reference is not None else None,
    )
