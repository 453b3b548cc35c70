"""``datamill validate`` and ``datamill monitor`` (and the findings table every validating command prints).

Exit codes: 0 the verdict passed; 1 it failed (a finding reached ``--fail-on``); 2 bad usage;
3 and up, something broke.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, print_json, table
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["FailOnOption", "demo_validation", "monitor", "print_findings", "validate", "verdict_exit"]

_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}

FailOnOption = Annotated[str, typer.Option(
    "--fail-on", help="Exit 1 when a finding is at least this severe: info, warning, error or never.")]


def _cut(value: Any, width: int = 60) -> str:
    text = "—" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_findings(report: dict[str, Any]) -> None:
    """The findings as a table (text shown literally), then the verdict line."""
    from rich.text import Text

    rows = [[f["severity"], f["column"] or "(table)", f["check"], _cut(f["message"], 90),
             _cut(", ".join(map(str, f["examples"])), 40) if f["examples"] else "—"]
            for f in report["findings"]]
    if rows:
        console.print(table(["severity", "column", "check", "what", "examples"], rows))
    counts = report["counts"]
    line = Text(f"{report['verdict'].upper()}", style="bold green" if report["verdict"] == "pass" else "bold red")
    line.append(f" · {counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes"
                f" · fails on {report['fail_on']}", style="")
    console.print(line)


def verdict_exit(report: dict[str, Any]) -> None:
    """Exit 1 when the verdict failed."""
    if report["verdict"] == "fail":
        raise typer.Exit(1)


def monitor(
    name: Annotated[str, typer.Argument(help="The dataset name (its versions are the history).")],
    sla: Annotated[str | None, typer.Option(
        help="Freshness SLA, e.g. 24h or 7d: the newest data must be younger than this.")] = None,
    time_column: Annotated[str | None, typer.Option(
        help="Judge freshness by this column's newest value (default: when the newest version was written).")] = None,
    min_history: Annotated[int, typer.Option(min=1, help="Earlier versions needed to judge volume.")] = 3,
    fail_on: FailOnOption = "error",
    as_json: JsonFlag = False,
) -> None:
    """Freshness, volume and schema changes over a dataset's versions; exits 1 when the verdict fails.

    Reads only the catalog and the version manifests (row counts, schemas, min/max), so it is
    instant whatever the data's size.
    """
    from datamill.validate.monitor import monitor as run_monitor

    try:
        report = run_monitor(workspace(), name, sla=sla, time_column=time_column, min_history=min_history,
                             fail_on=fail_on)  # type: ignore[arg-type]
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
    else:
        rows = [[f"@{h['seq']}", h["version"][:12], f"{h['rows']:,}", h["columns"], h["created_at"][:19]]
                for h in report["history"]]
        console.print(table(["version", "id", "rows", "columns", "written (UTC)"], rows, title=f"{name}: history"))
        print_findings(report)
    verdict_exit(report)


def _drift_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for d in report["drift"]:
        where = d["column"] + (f" [{d['slice']['column']}={d['slice']['value']}]" if d.get("slice") else "")
        statistic = "—" if d.get("statistic") is None else f"{d['statistic']:.4g}"
        threshold = "—" if d.get("threshold") is None else f"{d['threshold']:.4g}"
        verdict = d.get("skipped") or ("drifted" if d.get("drifted") else "ok")
        rows.append([where, d["kind"], d["method"], statistic, threshold, d["severity"] if d.get("drifted") else "",
                     verdict])
    return rows


def validate(
    ref: Annotated[str, typer.Argument(help="The dataset to validate: name, name@3 or name@<hash>.")],
    schema: Annotated[Path | None, typer.Option(
        help="A schema YAML (`datamill schema infer`). Without one, it is inferred from --reference.")] = None,
    reference: Annotated[str | None, typer.Option(
        help="Compare with this dataset: drift, or training/serving skew with --mode skew.")] = None,
    mode: Annotated[str, typer.Option(help="Which thresholds of the schema apply: drift or skew.")] = "drift",
    label: Annotated[str | None, typer.Option(help="The label column: tested for label drift.")] = None,
    slice_by: Annotated[str | None, typer.Option(help="Test drift within each value of this column too.")] = None,
    html: Annotated[Path | None, typer.Option(help="Write an offline HTML report here.")] = None,
    png_dir: Annotated[Path | None, typer.Option(
        help="Write each chart as a PNG into this folder (needs the [plots] extra).")] = None,
    fail_on: FailOnOption = "error",
    as_json: JsonFlag = False,
) -> None:
    """Check a dataset against a schema and for drift against a reference; exit 1 when the verdict fails.

    The --json report lists every finding with the column it concerns (a missing column is named)
    and every drift test with its statistic, threshold and chart data; its shape is stable
    (schema_version 1, docs/validate.md). Exit codes: 0 pass; 1 fail; 2 bad usage; 3 and up, broken.
    """
    from datamill.validate.schema import load_schema
    from datamill.validate.validation import validate as run_validate

    try:
        if schema is None and reference is None:
            raise ConfigError("give --schema, --reference or both: what should the data be checked against?")
        ws = workspace()
        current = ws.open(ref)
        other = ws.open(reference) if reference else None
        report = run_validate(
            current, schema=load_schema(schema) if schema else None, reference=other,
            mode=mode, fail_on=fail_on, label=label, slice_by=slice_by,  # type: ignore[arg-type]
            current_info={"ref": ref, "version": current.id, "rows": current.num_rows},
            reference_info={"ref": reference, "version": other.id, "rows": other.num_rows} if other else None)
        if html is not None:
            from datamill.report import write_html

            write_html(report, html, title=f"Validation of {ref}" + (f" against {reference}" if reference else ""))
        if png_dir is not None:
            from datamill.report import write_pngs

            write_pngs(report, png_dir)
    except DatamillError as err:
        fail(err, as_json)
    except OSError as err:
        fail(ConfigError(f"cannot write the report: {err}"), as_json)
    if as_json:
        print_json(report)
    else:
        if report["drift"]:
            console.print(table(["column", "kind", "method", "statistic", "threshold", "severity", "verdict"],
                                _drift_rows(report), title=f"{ref} against {reference}"))
        print_findings(report)
        if html is not None:
            console.print(f"HTML report: {html}", markup=False)
    verdict_exit(report)


def demo_validation(ws: Any, folder: Path, *, quiet: bool) -> dict[str, Any]:
    """The tabular demo's checks: taxi serving against training (skew), metro 2017 against 2016
    (drift), and monitors over metro's years written as versions; HTML reports in ``folder``."""
    import pyarrow.compute as pc

    from datamill.core.columns import PROVENANCE
    from datamill.report import write_html
    from datamill.validate import TableStats, infer_schema, monitor, validate

    schema = infer_schema(ws.open("taxi_train"), exclude=PROVENANCE)
    (folder / "taxi_schema.yaml").write_text(schema.to_yaml(), encoding="utf-8")
    checks = {
        "taxi_skew": ("taxi_serving", "taxi_train", "skew", "error"),
        "metro_drift": ("metro_2017", "metro_2016", "drift", "never"),
    }
    out: dict[str, Any] = {}
    for name, (current, reference, mode, fail_on) in checks.items():
        cur, ref = ws.open(current), ws.open(reference)
        report = validate(cur, schema=schema if name == "taxi_skew" else None, reference=ref, mode=mode,  # type: ignore[arg-type]
                          fail_on=fail_on,  # type: ignore[arg-type]
                          current_info={"ref": current, "version": cur.id, "rows": cur.num_rows},
                          reference_info={"ref": reference, "version": ref.id, "rows": ref.num_rows})
        path = write_html(report, folder / f"{name}.html", title=f"{current} against {reference} ({mode})")
        out[name] = {"verdict": report["verdict"], "counts": report["counts"], "html": str(path),
                     "findings": report["findings"]}
        if not quiet:
            console.print(f"\n{current} against {reference} ({mode}; `datamill validate {current} "
                          f"--reference {reference}`):", markup=False)
            print_findings({**report, "findings": report["findings"][:8]})
            console.print(f"HTML report: {path}", markup=False)
    # A feed that lands a year at a time: each year a new version of metro_hourly.
    metro = ws.open("metro").to_arrow()
    years = pc.year(metro["date_time"])
    for year in range(2013, 2019):
        ws.write("metro_hourly", metro.filter(pc.equal(years, year)), stats=TableStats.for_schema(metro.schema))
    watch = monitor(ws, "metro_hourly", sla="30d", time_column="date_time")
    out["metro_monitor"] = {"verdict": watch["verdict"], "counts": watch["counts"], "findings": watch["findings"]}
    if not quiet:
        console.print("\nmetro_hourly, one version a year (`datamill monitor metro_hourly --sla 30d "
                      "--time-column date_time`):", markup=False)
        print_findings(watch)
    return out
