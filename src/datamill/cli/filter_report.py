"""``datamill filter-report RUN``: what each filtering step of a run removed, rule by rule."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, print_json, table
from datamill.core.errors import DatamillError

__all__ = ["filter_report", "render_filter_report"]

_EXCERPT_CHARS = 160


def _excerpt(row: dict[str, Any], text_column: str) -> str:
    """One line of a dropped row's text: whitespace collapsed, unprintable characters blanked."""
    value = row.get(text_column)
    if not isinstance(value, str):
        value = next((v for k, v in row.items() if isinstance(v, str) and k != "id"), "")
    flat = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS - 1] + "…"


def render_filter_report(report: dict[str, Any]) -> None:
    """Print a filter report (from `datamill.track.filter_report`) as tables and examples."""
    console.print(f"run {report['run_id']} · pipeline {report['pipeline']} · {report['status']}", markup=False)
    if not report["steps"]:
        console.print("no step of this run dropped rows.", markup=False)
    for step in report["steps"]:
        console.print()
        console.print(Text(
            f"{step['id']} ({step['uses']}): {step['rows_in']:,} in, {step['rows_out']:,} out, "
            f"{step['dropped']:,} dropped ({step['dropped_share']:.1%})"
            + (f", quarantined {sum(step['quarantined'].values()):,}" if step["quarantined"] else ""),
            style="bold"))
        if not step["rules"]:
            continue
        console.print(table(
            ["rule", "dropped", "share", "cumulative", "what it checks (source)"],
            [[r["reason"], f"{r['count']:,}", f"{r['share']:.1%}", f"{r['cumulative_share']:.1%}",
              r["description"] or "—"] for r in step["rules"]]))
        text_column = str(step["config"].get("text_column", "text"))
        for rule in step["rules"]:
            for row in rule["examples"]:
                line = Text("  ")
                line.append(rule["reason"], style="dim")
                line.append(f"  {row.get('id', '?')}: ")
                line.append(_excerpt(row, text_column))
                console.print(line)


def filter_report(
    run: Annotated[str, typer.Argument(help="Run id, a unique prefix of one, or `latest`.")],
    step: Annotated[str | None, typer.Option("--step", help="Only this step (its id in the pipeline).")] = None,
    examples: Annotated[int, typer.Option("--examples", min=0, max=5,
                                          help="Dropped rows to show per rule (a run keeps 5).")] = 2,
    as_json: JsonFlag = False,
) -> None:
    """What each filtering step of a run dropped: per rule, the count, its share of the step's input,
    the cumulative share in rule order, where the rule comes from, and example rows.

    Exit codes: 0 done; 2 no such run or step; 3 the workspace could not be read.
    """
    from datamill.track.filter_report import filter_report as build

    try:
        report = build(workspace(), run, step=step, examples=examples)
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    render_filter_report(report)
