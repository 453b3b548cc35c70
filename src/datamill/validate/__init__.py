"""Validate data: statistics, schema, anomalies, drift and skew, monitors; reports with a verdict.

- `profile`: mergeable per-column statistics in one streaming pass (docs/validate.md);
- `infer_schema` / `load_schema` and `check`: a human-editable schema and the anomalies against it
  (docs/schema.md);
- `drift`: distribution shift between two datasets, per column and per slice, label and concept
  drift (docs/drift.md);
- `monitor`: freshness, volume and schema changes over a dataset's versions;
- `validate`: all of it in one call, giving the stable JSON report (`validation_report`) whose
  verdict ``datamill validate`` turns into an exit code; the ``validate`` step gates a pipeline.

>>> import pyarrow as pa
>>> profile(pa.table({"x": [1, 2, 3]}))["columns"][0]["numeric"]["mean"]
2.0
"""

from datamill.validate.anomalies import check
from datamill.validate.concept import concept_drift
from datamill.validate.drift import drift, drift_findings
from datamill.validate.findings import CHECKS, Finding, validation_report, verdict
from datamill.validate.monitor import monitor
from datamill.validate.profile import (
    Profile,
    ProfileConfig,
    profile,
    profile_table,
    report_from_table,
    statistics_of,
    stored_profile,
)
from datamill.validate.schema import ColumnSchema, DriftRule, Schema, infer_schema, load_schema
from datamill.validate.sketches import DistinctSketch, FrequentItems, QuantileSketch
from datamill.validate.stats import DEFAULT_QUANTILES, ColumnStats, Moments, StatsOptions, TableStats
from datamill.validate.validation import schema_thresholds, validate

__all__ = [
    "CHECKS",
    "DEFAULT_QUANTILES",
    "ColumnSchema",
    "ColumnStats",
    "DistinctSketch",
    "DriftRule",
    "Finding",
    "FrequentItems",
    "Moments",
    "Profile",
    "ProfileConfig",
    "QuantileSketch",
    "Schema",
    "StatsOptions",
    "TableStats",
    "check",
    "concept_drift",
    "drift",
    "drift_findings",
    "infer_schema",
    "load_schema",
    "monitor",
    "profile",
    "profile_table",
    "report_from_table",
    "schema_thresholds",
    "statistics_of",
    "stored_profile",
    "validate",
    "validation_report",
    "verdict",
]
