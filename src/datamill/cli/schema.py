"""``datamill schema infer | check``: write a dataset's schema as YAML, check a dataset against one.

Both read the dataset version shard by shard (one streaming pass, bounded memory); neither
writes a new version, so nothing is recorded as a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, print_json, table
from datamill.core.columns import PROVENANCE
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["schema_app"]

schema_app = typer.Typer(help="Infer a dataset's schema (YAML), check data against it.", no_args_is_help=True)

_STYLE = {"error": "red", "warning": "yellow", "info": "blue"}


def _short(value: Any, width: int = 40) -> str:
    text = "—" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@schema_app.command("infer")
def infer(
    ref: Annotated[str, typer.Argument(help="The dataset: name, name@3 or name@<hash>.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the YAML here (default: stdout).")] = None,
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", "-x", help="Leave this column out (repeat; default: id, source, page, meta).")] = None,
    max_domain: Annotated[int, typer.Option(min=1, max=100_000,
                                            help="Most distinct values of a categorical column.")] = 1000,
    as_json: JsonFlag = False,
) -> None:
    """Infer a schema: types, missing bounds, ranges, domains, formats, uniqueness, drift thresholds.

    The YAML is meant to be read and edited; docs/schema.md explains every field.
    Exit codes: 0 done; 2 bad usage (an unknown dataset).
    """
    from datamill.validate.schema import infer_schema

    try:
        ws = workspace()
        dataset = ws.open(ref)
        schema = infer_schema(dataset, max_domain=max_domain,
                              exclude=tuple(exclude) if exclude is not None else PROVENANCE)
    except DatamillError as err:
        fail(err, as_json)
    text = schema.to_yaml()
    if output is not None:
        output.write_text(text, encoding="utf-8")
    if as_json:
        print_json({"input": ref, "version": dataset.ref, "output": str(output) if output else None,
                    "schema": schema.model_dump(mode="json", exclude_none=True)})
    elif output is None:
        typer.echo(text, nl=False)
    else:
        console.print(f"{len(schema.columns)} columns of {dataset.ref} → {output}", markup=False)


@schema_app.command("check")
def check(
    ref: Annotated[str, typer.Argument(help="The dataset: name, name@3 or name@<hash>.")],
    schema_path: Annotated[Path, typer.Option("--schema", "-s", help="Schema YAML (from `datamill schema infer`).")],
    fail_on: Annotated[str, typer.Option(help="Fail (exit 1) on findings of this severity or worse: "
                                              "info, warning, error or never.")] = "error",
    error_share: Annotated[float, typer.Option(min=0.0, max=1.0, help=(
        "A share of bad rows this far above what the schema allows is an error, not a warning."))] = 0.01,
    isolation_forest: Annotated[bool, typer.Option(
        help="Also look for multi-column outliers with scikit-learn's IsolationForest (a sample).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check a dataset against a schema: missing/new columns, types, missing values, domains,
    ranges, formats, uniqueness, mixed formats and units, outliers, duplicate rows.

    Exit codes: 0 the verdict passed; 1 it failed; 2 bad usage (unknown dataset, bad schema).
    """
    from datamill.validate.anomalies import check as run_check
    from datamill.validate.findings import validation_report
    from datamill.validate.schema import load_schema

    try:
        if fail_on not in {"info", "warning", "error", "never"}:
            raise ConfigError(f"--fail-on must be info, warning, error or never, got {fail_on!r}")
        schema = load_schema(schema_path)
        ws = workspace()
        dataset = ws.open(ref)
        findings = run_check(dataset, schema, error_share=error_share, isolation_forest=isolation_forest)
        report = validation_report(findings, fail_on=fail_on,  # type: ignore[arg-type]
                                   input={"ref": ref, "version": dataset.ref, "rows": dataset.num_rows,
                                          "schema": str(schema_path)})
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
    else:
        rows = [[f["severity"], f["check"], f["column"] or "(table)", f["message"],
                 ", ".join(_short(v, 20) for v in f["examples"]) or "—"] for f in report["findings"]]
        if rows:
            console.print(table(["severity", "check", "column", "finding", "examples"], rows))
        counts = report["counts"]
        console.print(f"{report['verdict'].upper()} (fail on {fail_on}) · {counts['error']} error(s), "
                      f"{counts['warning']} warning(s), {counts['info']} info · {dataset.ref}", markup=False,
                      style=_STYLE["error"] if report["verdict"] == "fail" else "green")
    if report["verdict"] == "fail":
        raise typer.Exit(1)
