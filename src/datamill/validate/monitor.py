"""Monitors over a dataset's version history: freshness, volume and schema changes.

Everything here reads the catalog and the version manifests, never the data: each version's row
count, schema and per-column min/max (which the store keeps from the Parquet footers) are enough,
so monitoring a dataset of any size costs milliseconds. Only freshness on a column the footers do
not cover (a string column of dates) reads that one column.

>>> volume_findings([1000, 1010, 990, 1005, 20])[0].severity
'error'
>>> parse_sla("36h")
datetime.timedelta(days=1, seconds=43200)
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Sequence
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.errors import ConfigError, SchemaError
from datamill.validate.findings import FailOn, Finding, Severity, validation_report

__all__ = ["freshness_finding", "monitor", "parse_sla", "schema_change_findings", "volume_findings"]

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
# Robust z-scores (0.6745·|x − median| / MAD) past these raise a warning, then an error.
VOLUME_Z = (3.5, 7.0)
# With no spread in the history (every version the same size), a change of this share is unusual.
VOLUME_FLAT_SHARE = (0.2, 0.5)


def parse_sla(text: str | dt.timedelta) -> dt.timedelta:
    """A duration such as ``90m``, ``36h``, ``7d`` or ``2w`` (or a `timedelta`, returned as is).

    >>> parse_sla("90m").total_seconds()
    5400.0
    """
    if isinstance(text, dt.timedelta):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*", str(text))
    if not match:
        raise ConfigError(f"cannot read the SLA {text!r}: write a number and a unit, e.g. 90m, 36h, 7d, 2w")
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def volume_findings(rows: Sequence[int], *, min_history: int = 3) -> list[Finding]:
    """A ``volume`` finding when the last count is unusual against the ones before it.

    The history's median and median absolute deviation give a robust z-score, so one earlier
    outlier does not hide the next. A version with no rows is always an error. Fewer than
    ``min_history`` earlier versions: nothing is judged.

    >>> volume_findings([100, 102, 98, 101, 99])
    []
    >>> [f.severity for f in volume_findings([100, 100, 100, 100, 160])]
    ['error']
    """
    if not rows:
        return []
    last, history = int(rows[-1]), [int(r) for r in rows[:-1]]
    if last == 0 and any(history):
        return [Finding("volume", None, "error", "the newest version has no rows", value=0.0,
                        details={"history_median": statistics.median(history)})]
    if len(history) < min_history:
        return []
    median = statistics.median(history)
    mad = statistics.median(abs(r - median) for r in history)
    details = {"rows": last, "history_median": median, "history_mad": mad, "versions": len(history)}
    if mad > 0:
        z = 0.6745 * (last - median) / mad
        bars, value = VOLUME_Z, z
        what = f"robust z-score {z:+.1f}"
    else:
        share = (last - median) / median if median else math.inf
        bars, value = VOLUME_FLAT_SHARE, share
        what = f"{share:+.0%} against a history that never moved"
    level: Severity | None = "error" if abs(value) > bars[1] else "warning" if abs(value) > bars[0] else None
    if level is None:
        return []
    return [Finding("volume", None, level, f"{last:,} rows where the last {len(history)} versions had a "
                    f"median of {median:,.0f} ({what})", value=float(value), threshold=bars[0], details=details)]


def _fields(manifest: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["type"] for f in manifest["schema"]["fields"]}


def schema_change_findings(before: dict[str, str], after: dict[str, str], *, label: str = "",
                           historical: bool = False) -> list[Finding]:
    """Columns removed (error), retyped (error) or added (info) between two schemas (name → type).

    ``historical`` changes (not between the last two versions) are reported as ``info``.

    >>> [(f.column, f.severity) for f in schema_change_findings({"a": "int64", "b": "string"},
    ...                                                         {"a": "double", "c": "string"})]
    [('a', 'error'), ('b', 'error'), ('c', 'info')]
    """
    found = []
    where = f" ({label})" if label else ""

    def level(severity: str) -> Any:
        return "info" if historical else severity

    for name, kind in before.items():
        if name not in after:
            found.append(Finding("schema_change", name, level("error"), f"column removed{where}",
                                 details={"before": kind, "after": None}))
        elif after[name] != kind:
            found.append(Finding("schema_change", name, level("error"), f"type {kind} → {after[name]}{where}",
                                 details={"before": kind, "after": after[name]}))
    for name, kind in after.items():
        if name not in before:
            found.append(Finding("schema_change", name, "info", f"column added ({kind}){where}",
                                 details={"before": None, "after": kind}))
    return found


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time())
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise SchemaError(f"cannot read {value!r} as a date or timestamp") from exc
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _age(delta: dt.timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:,.1f} days" if hours >= 72 else f"{hours:.1f} h"


def freshness_finding(newest: Any, sla: str | dt.timedelta, *, now: dt.datetime | None = None,
                      column: str | None = None) -> Finding | None:
    """A ``freshness`` error when ``newest`` (a timestamp, or ISO text) is older than ``sla``.

    Naive timestamps are taken as UTC.

    >>> now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    >>> freshness_finding("2026-01-01 06:00:00", "12h", now=now).message
    'newest data is 18.0 h old (SLA 12.0 h): 2026-01-01T06:00:00+00:00'
    >>> freshness_finding("2026-01-01 18:00", "12h", now=now) is None
    True
    """
    limit = parse_sla(sla)
    stamp = _as_utc(newest)
    age = (now or dt.datetime.now(dt.UTC)) - stamp
    if age <= limit:
        return None
    return Finding("freshness", column, "error",
                   f"newest data is {_age(age)} old (SLA {_age(limit)}): {stamp.isoformat()}",
                   value=age.total_seconds(), threshold=limit.total_seconds(), details={"newest": stamp.isoformat()})


def _newest(workspace: Any, ref: str, manifest: dict[str, Any], column: str) -> Any:
    fields = _fields(manifest)
    if column not in fields:
        raise SchemaError(f"column {column!r} is not in {ref}; columns: {', '.join(fields)}")
    summary = manifest.get("summary", {}).get(column, {})
    if summary.get("max") is not None and not fields[column].startswith(("string", "large_string")):
        return summary["max"]
    # Text dates: the footers' max is the lexical one, so parse the column (ISO text sorts anyway,
    # but "3/4/2021" does not); polars infers the format from the values.
    dataset = workspace.open(ref)
    values = pa.chunked_array([b.column(0) for b in dataset.batches(columns=[column])],
                              type=dataset.schema.field(column).type)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            parsed = pl.Series(values.combine_chunks()).str.strip_chars().str.to_datetime(strict=False)
        except pl.exceptions.ComputeError:  # no value looks like a date
            parsed = pl.Series([None], dtype=pl.Datetime)
        values = pa.chunked_array([parsed.to_arrow()])
    newest = pc.max(values).as_py()
    if newest is None:
        raise SchemaError(f"column {column!r} of {ref} holds no timestamps to judge freshness by")
    return newest


def monitor(
    workspace: Any,
    name: str,
    *,
    sla: str | dt.timedelta | None = None,
    time_column: str | None = None,
    now: dt.datetime | None = None,
    min_history: int = 3,
    fail_on: FailOn = "error",
) -> dict[str, Any]:
    """Freshness, volume and schema changes of dataset ``name`` over its versions.

    Freshness (with ``sla``) compares the newest value of ``time_column`` (or, without one, when
    the newest version was written) with now. Volume compares the newest version's rows with the
    ones before it (`volume_findings`). Schema changes are reported for every pair of
    consecutive versions: the last pair at full severity, earlier ones as ``info``.
    Returns the validation report (`validation_report`) with a ``history`` list added.
    """
    history = workspace.catalog.history(name)
    if not history:
        raise ConfigError(f"no dataset named {name!r}; `datamill datasets` lists them")
    manifests = [workspace.manifest(h["id"]) for h in history]
    findings: list[Finding] = []
    for i in range(1, len(manifests)):
        findings += schema_change_findings(_fields(manifests[i - 1]), _fields(manifests[i]),
                                           label=f"@{history[i - 1]['seq']} → @{history[i]['seq']}",
                                           historical=i < len(manifests) - 1)
    findings += volume_findings([h["num_rows"] for h in history], min_history=min_history)
    latest = history[-1]
    if sla is not None:
        if time_column:
            newest = _newest(workspace, f"{name}@{latest['seq']}", manifests[-1], time_column)
        else:
            newest = dt.datetime.fromtimestamp(latest["created_at"], dt.UTC)
        stale = freshness_finding(newest, sla, now=now, column=time_column)
        findings += [stale] if stale else []
    report = validation_report(findings, fail_on=fail_on,
                               input={"ref": f"{name}@{latest['seq']}", "version": latest["id"],
                                      "rows": latest["num_rows"]})
    report["history"] = [
        {"seq": h["seq"], "version": h["id"], "rows": h["num_rows"], "bytes": h["num_bytes"],
         "created_at": dt.datetime.fromtimestamp(h["created_at"], dt.UTC).isoformat(),
         "columns": len(m["schema"]["fields"])}
        for h, m in zip(history, manifests, strict=True)
    ]
    return report
