"""Findings: what schema checks, anomaly detectors, drift tests and monitors report, in one shape.

A `Finding` names the check that raised it, the column it concerns (``None`` for the table), a
severity, a message a person reads, and the measured value beside its threshold, with a few
example values. `validation_report` gathers findings and per-column drift results into the
stable JSON document that ``datamill validate --json`` prints, that the HTML report renders
(``datamill.report``), and whose ``verdict`` decides the exit code.

>>> f = Finding("missing_rate", "tips", "error", "30.0% missing (reference 0.0%)", value=0.3, threshold=0.05)
>>> report = validation_report([f], fail_on="error")
>>> report["verdict"], report["counts"]
('fail', {'error': 1, 'warning': 0, 'info': 0})
>>> validation_report([f], fail_on="never")["verdict"]
'pass'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from datamill.core.errors import ConfigError

__all__ = [
    "CHECKS",
    "REPORT_SCHEMA_VERSION",
    "SEVERITIES",
    "FailOn",
    "Finding",
    "Severity",
    "at_least",
    "validation_report",
    "verdict",
]

Severity = Literal["info", "warning", "error"]
FailOn = Literal["info", "warning", "error", "never"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
REPORT_SCHEMA_VERSION = 1

# Every check name a finding may carry, with what it means (docs/validate.md lists the same).
CHECKS: dict[str, str] = {
    "missing_column": "a column of the schema (or the reference) is absent",
    "new_column": "a column not in the schema (or the reference) appeared",
    "type_change": "a column's type differs from the schema's",
    "required": "a required column has missing values",
    "missing_rate": "the share of missing values rose above the schema's bound",
    "out_of_domain": "values outside a categorical column's domain",
    "out_of_range": "numbers below the minimum or above the maximum",
    "format": "strings that do not match the column's format (e-mail, URL, date …)",
    "not_unique": "repeated values in a column that must be unique",
    "mixed_format": "one value written several ways (\"0\", \"0.0\", \"\")",
    "mixed_units": "values in two modes a unit factor apart (1000, 60, 2.54 …)",
    "outliers": "values far outside the bulk (robust z-score or IQR)",
    "duplicate_rows": "whole rows repeated",
    "drift": "the distribution moved from the reference's",
    "label_drift": "the label's distribution moved from the reference's",
    "concept_drift": "a model fitted on the reference scores worse on the current data",
    "freshness": "the newest data is older than the SLA",
    "volume": "the row count is unusual against the version history",
    "schema_change": "the columns or types changed between versions",
    "step_failed": "a check could not run",
}

_RANK = {"info": 0, "warning": 1, "error": 2, "never": 3}


def at_least(severity: str, bar: str) -> bool:
    """Whether ``severity`` reaches ``bar`` (``never`` is reached by nothing).

    >>> at_least("error", "warning"), at_least("info", "warning"), at_least("error", "never")
    (True, False, False)
    """
    if severity not in _RANK or bar not in _RANK:
        raise ConfigError(f"severity must be one of info, warning, error (or never), got {severity!r}/{bar!r}")
    return _RANK[severity] >= _RANK[bar]


def _plain(value: Any) -> Any:
    """JSON-safe: NaN and infinities become text, numpy scalars become Python numbers."""
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@dataclass(frozen=True)
class Finding:
    """One thing a check found: which check, which column, how bad, and the evidence.

    ``value`` is the measured quantity (a share, a statistic, a count) and ``threshold`` the bound
    it crossed; ``examples`` are a few offending values (at most 5 are kept); ``details`` holds
    anything else a reader of the JSON may want (counts per value, both modes of a mixed unit …).

    >>> Finding("out_of_range", "fare", "warning", "3 values above 500", examples=(900.0, 1200.0)).to_dict()["examples"]
    [900.0, 1200.0]
    """

    check: str
    column: str | None
    severity: Severity
    message: str
    value: float | None = None
    threshold: float | None = None
    examples: tuple[Any, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ConfigError(f"unknown check {self.check!r}; known: {', '.join(sorted(CHECKS))}")
        if self.severity not in SEVERITIES:
            raise ConfigError(f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}")

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {
            "check": self.check, "column": self.column, "severity": self.severity, "message": self.message,
            "value": _plain(self.value), "threshold": _plain(self.threshold),
            "examples": [_plain(v) for v in self.examples[:5]], "details": _plain(dict(self.details)),
        }


def verdict(findings: Iterable[Finding | Mapping[str, Any]], fail_on: FailOn = "error") -> Literal["pass", "fail"]:
    """``fail`` when any finding reaches ``fail_on``.

    >>> verdict([Finding("drift", "x", "warning", "PSI 0.15")], "warning")
    'fail'
    """
    for f in findings:
        severity = f.severity if isinstance(f, Finding) else f["severity"]
        if at_least(severity, fail_on):
            return "fail"
    return "pass"


def validation_report(
    findings: Iterable[Finding],
    *,
    drift: Iterable[Mapping[str, Any]] = (),
    fail_on: FailOn = "error",
    input: Mapping[str, Any] | None = None,
    reference: Mapping[str, Any] | None = None,
    profile: Mapping[str, Any] | None = None,
    reference_profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The stable JSON report (``schema_version`` 1) of a validation.

    ``drift`` holds one mapping per column (and slice) tested, as `datamill.validate.drift`
    returns them; ``input`` and ``reference`` describe the two datasets (``ref``, ``version``,
    ``rows``); ``profile`` and ``reference_profile`` are `datamill.validate.profile` reports.
    Findings are ordered by severity (errors first), then column.
    """
    if fail_on not in _RANK:
        raise ConfigError(f"`fail_on` must be info, warning, error or never, got {fail_on!r}")
    ordered = sorted(findings, key=lambda f: (-_RANK[f.severity], f.column or "", f.check))
    counts = {s: sum(f.severity == s for f in ordered) for s in ("error", "warning", "info")}
    return {
        "report": "datamill.validate",
        "schema_version": REPORT_SCHEMA_VERSION,
        "verdict": verdict(ordered, fail_on),
        "fail_on": fail_on,
        "counts": counts,
        "input": _plain(dict(input)) if input else None,
        "reference": _plain(dict(reference)) if reference else None,
        "findings": [f.to_dict() for f in ordered],
        "drift": [_plain(dict(d)) for d in drift],
        "profile": _plain(dict(profile)) if profile else None,
        "reference_profile": _plain(dict(reference_profile)) if reference_profile else None,
    }
