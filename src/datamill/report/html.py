"""Render a validation report (or a profile) as one self-contained, offline HTML page.

The page has inline CSS and inline SVG charts and nothing else: no script, no web font, no image
or stylesheet from a URL, so it opens from ``file://``, from an e-mail attachment, or on an
air-gapped machine. Everything that comes from the data (column names, category values,
examples, messages, dataset names) is escaped by Jinja2's autoescape in the page and by
`html.escape` inside the charts, and long text is cut in the view (the full text is in the hover).

It renders the JSON documents as they are (``datamill validate --json``, ``datamill profile
--json``; shapes in docs/validate.md and docs/reports.md) and imports nothing of
`datamill.validate`, so a report saved yesterday renders the same today.

>>> page = render_html({"verdict": "pass", "counts": {"error": 0, "warning": 0, "info": 0},
...                     "findings": [], "drift": []})
>>> page.startswith("<!DOCTYPE html>") and "PASS" in page
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from datamill.report.charts import (
    categorical_svg,
    format_number,
    histogram_svg,
    number,
    sparkline_svg,
    truncate,
)

__all__ = ["render_html", "render_profile_html", "write_html"]

SEVERITIES = ("error", "warning", "info")
_NAME_WIDTH = 48  # characters of a column name shown in a table cell; the rest is in the hover
_TIP_WIDTH = 1000  # hover text is cut too, so a megabyte-long name does not make a megabyte page
_EXAMPLE_WIDTH = 80


def _template_source(name: str) -> str:
    return (resources.files("datamill.report") / "templates" / name).read_text(encoding="utf-8")


@cache
def _environment() -> Any:
    # Imported here so `import datamill.report` stays cheap for callers that only want PNGs.
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_source),
        autoescape=True,  # every {{ value }} is HTML-escaped unless it is our own Markup (the SVG)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _fmt
    env.filters["stat"] = _stat
    env.filters["cut"] = _cut
    env.filters["tip"] = lambda v: truncate(_text(v), _TIP_WIDTH)
    env.filters["pct"] = _pct
    return env


def _markup(svg: str) -> Any:
    from markupsafe import Markup

    return Markup(svg)  # charts.py escapes every piece of data text it puts in the SVG


def _map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else empty: a report from elsewhere may lack any part."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return "(null)"
    if isinstance(value, str):
        return value if value != "" else "(empty)"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)


def _cut(value: Any, width: int = _NAME_WIDTH) -> str:
    return truncate(_text(value), width)


def _fmt(value: Any) -> str:
    """A table cell's number: exact integers with separators, floats to 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    x = number(value)
    if x is None:
        return truncate(format_number(value), 40)
    if x != 0 and abs(x) < 1e-3:
        return f"{x:.3g}"
    if abs(x) >= 1e15:
        return f"{x:.4g}"
    if abs(x) >= 1e4:  # ".4g" would turn 12345.6 into 1.235e+04
        return f"{x:,.0f}"
    return f"{x:,.4g}"


def _stat(value: Any) -> str:
    """A statistic's cell: like `_fmt`, but big numbers short (``1.41B``) so a column reads at a glance."""
    x = number(value)
    if x is not None and abs(x) >= 1e6 and not isinstance(value, bool):
        return format_number(x, 3)
    return _fmt(value)


def _pct(value: Any) -> str:
    x = number(value)
    return "—" if x is None else f"{x:.1%}"


def _css() -> Any:
    return _markup(_template_source("report.css"))


def _dataset(kind: str, info: Any) -> dict[str, Any] | None:
    if not isinstance(info, Mapping):
        return None
    name = info.get("ref") or info.get("name") or info.get("path")
    return {"kind": kind, "name": name, "version": info.get("version"), "rows": info.get("rows")}


def _slice_text(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None if value is None else _text(value)
    return f"{_text(value.get('column'))} = {_text(value.get('value'))}"


def _drift_chart(row: Mapping[str, Any], label: str) -> Any:
    chart = row.get("chart")
    if not isinstance(chart, Mapping):
        return None
    kind = chart.get("type")
    reference, current = chart.get("reference") or [], chart.get("current") or []
    if kind == "numeric" and isinstance(chart.get("edges"), list):
        return _markup(histogram_svg(chart["edges"], reference, current, label=label))
    if kind == "categorical" and isinstance(chart.get("categories"), list):
        return _markup(categorical_svg(chart["categories"], reference, current, label=label))
    return None


def _severity(value: Any) -> str:
    return value if value in SEVERITIES else "info"


def _drift_rows(drift: Sequence[Any]) -> list[dict[str, Any]]:
    rows = []
    for d in drift:
        if not isinstance(d, Mapping):
            continue
        column = _text(d.get("column"))
        slice_text = _slice_text(d.get("slice"))
        label = f"{column} ({slice_text})" if slice_text else column
        statistics = _map(d.get("statistics"))
        rows.append({
            "column": d.get("column"), "slice": slice_text, "kind": d.get("kind"), "method": d.get("method"),
            "statistic": d.get("statistic"), "threshold": d.get("threshold"), "p_value": d.get("p_value"),
            "drifted": bool(d.get("drifted")), "severity": _severity(d.get("severity")),
            "reference_rows": d.get("reference_rows"), "current_rows": d.get("current_rows"),
            "statistics": [(str(k), _fmt(v)) for k, v in statistics.items()],
            "chart": _drift_chart(d, f"{label}: reference vs current"),
        })
    # Drifted first, worst first; the report's own order within.
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(rows, key=lambda r: (not r["drifted"], rank[r["severity"]]))


def _finding_groups(findings: Sequence[Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {s: [] for s in SEVERITIES}
    for f in findings:
        if not isinstance(f, Mapping):
            continue
        examples = _list(f.get("examples"))
        details = f.get("details")
        groups[_severity(f.get("severity"))].append({
            "column": f.get("column"), "check": f.get("check"), "message": f.get("message"),
            "value": f.get("value"), "threshold": f.get("threshold"),
            "examples": [(_cut(e, _EXAMPLE_WIDTH), truncate(_text(e), _TIP_WIDTH)) for e in examples[:5]],
            "details": truncate(json.dumps(details, ensure_ascii=False, default=str), 300) if details else None,
        })
    return [(s, groups[s]) for s in SEVERITIES if groups[s]]


def _part(column: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    for key in ("numeric", "temporal", "length"):
        part = column.get(key)
        if isinstance(part, Mapping):
            return key, part
    return None


def _profile_rows(profile: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for column in profile.get("columns") or []:
        if not isinstance(column, Mapping):
            continue
        found = _part(column)
        key, part = found if found else ("", {})
        quantiles = _map(part.get("quantiles"))
        histogram = _map(part.get("histogram"))
        chart = None
        name = _text(column.get("name"))
        if histogram.get("counts") and key in ("numeric", "temporal"):
            chart = _markup(sparkline_svg(histogram.get("edges") or [], histogram["counts"],
                                          label=f"{name}: histogram"))
        elif histogram.get("counts") and not column.get("top"):
            chart = _markup(sparkline_svg(histogram.get("edges") or [], histogram["counts"],
                                          label=f"{name}: length histogram"))
        top = _map(column.get("top"))
        count = number(column.get("count")) or 0.0
        top_items = []
        for item in (top.get("items") or [])[:5]:
            if isinstance(item, Mapping):
                n = number(item.get("count")) or 0.0
                top_items.append({"value": item.get("value"), "count": item.get("count"),
                                  "share": n / count if count else 0.0})
        rows.append({
            "name": column.get("name"), "kind": column.get("kind"), "type": column.get("type"),
            "count": column.get("count"), "missing": column.get("missing"),
            "missing_share": column.get("missing_share"), "distinct": column.get("distinct"),
            "part": "length" if key == "length" else "",
            "min": part.get("min"), "max": part.get("max"), "mean": part.get("mean"),
            "median": quantiles.get("0.5"), "chart": chart, "top": top_items,
        })
    return rows


def _context(report: Mapping[str, Any], title: str | None) -> dict[str, Any]:
    datasets = [d for d in (_dataset("input", report.get("input")), _dataset("reference", report.get("reference")))
                if d]
    counts = _map(report.get("counts"))
    findings = _list(report.get("findings"))
    drift = _drift_rows(_list(report.get("drift")))
    profile = _map(report.get("profile")) or None
    name = datasets[0]["name"] if datasets and datasets[0]["name"] else None
    verdict = report.get("verdict")
    return {
        "title": title or (f"Validation report: {_cut(name, 80)}" if name else "Validation report"),
        "verdict": verdict if verdict in ("pass", "fail") else None,
        "fail_on": report.get("fail_on"),
        "counts": [(s, int(number(counts.get(s)) or 0)) for s in SEVERITIES],
        "datasets": datasets,
        "drift": drift,
        "drifted": sum(r["drifted"] for r in drift),
        "groups": _finding_groups(findings),
        "findings_total": len(findings),
        "profile": _profile_rows(profile) if profile else None,
        "profile_rows": profile.get("rows") if profile else None,
        "schema_version": report.get("schema_version"),
        "css": _css(),
        "is_profile": False,
    }


def render_html(report: Mapping[str, Any], *, title: str | None = None) -> str:
    """One self-contained HTML page for a validation report (``datamill validate --json``).

    Sections: the verdict with counts by severity and the datasets compared; the drift table
    coloured by severity, with a reference-vs-current chart per tested column; the findings
    grouped by severity; and, when ``report["profile"]`` is present, per-column statistics with a
    sparkline or the top values. Missing parts are left out; unknown keys are ignored.

    >>> page = render_html({"verdict": "fail", "counts": {"error": 1}, "findings": [{"check": "required",
    ...     "column": "<id>", "severity": "error", "message": "3 missing"}], "drift": []})
    >>> "&lt;id&gt;" in page and "<id>" not in page
    True
    """
    return str(_environment().get_template("report.html.j2").render(**_context(report, title)))


def render_profile_html(profile: Mapping[str, Any], *, title: str | None = None) -> str:
    """The statistics of one dataset alone (``datamill profile --html``) as a self-contained page.

    ``profile`` is a `datamill.validate.profile` report (``{"rows", "columns": [...]}``), with the
    ``input`` and ``version`` that ``datamill profile --json`` adds when present.

    >>> "price" in render_profile_html({"rows": 2, "columns": [{"name": "price", "kind": "numeric",
    ...     "count": 2, "missing": 0, "numeric": {"min": 1, "max": 2, "histogram": {"edges": [1, 2], "counts": [2]}}}]})
    True
    """
    info = profile.get("input")
    dataset = _dataset("input", info if isinstance(info, Mapping) else
                       {"ref": info, "version": profile.get("version"), "rows": profile.get("rows")})
    name = dataset["name"] if dataset else None
    context = _context({"profile": profile}, title or (f"Profile: {_cut(name, 80)}" if name else "Profile"))
    context.update(datasets=[dataset] if dataset and dataset["name"] else [], is_profile=True)
    return str(_environment().get_template("report.html.j2").render(**context))


def write_html(report: Mapping[str, Any], path: str | Path, *, title: str | None = None) -> Path:
    """Write `render_html` (or `render_profile_html` for a profile report) to ``path`` as UTF-8.

    A report with ``columns`` at the top and no ``verdict`` is taken for a profile.
    """
    is_profile = "columns" in report and "verdict" not in report
    page = render_profile_html(report, title=title) if is_profile else render_html(report, title=title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
