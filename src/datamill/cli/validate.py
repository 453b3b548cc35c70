"""``datamill monitor`` (and the findings table every validating command prints).

Exit codes: 0 the verdict passed; 1 it failed (a finding reached ``--fail-on``); 2 bad usage;
3 and up, something broke.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, print_json, table
from datamill.core.errors import DatamillError

__all__ = ["FailOnOption", "monitor", "print_findings", "verdict_exit"]

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
