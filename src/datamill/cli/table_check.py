"""``datamill table-check``: what a table mixes (representations, types, units) and what
``clean.table`` would change, with a suggested config block."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, err_console, print_json, table
from datamill.core.errors import ConfigError, DatamillError, NotFoundError

__all__ = ["table_check"]

_FILE_HINT = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".json", ".ndjson", ".gz", ".zst", ".bz2", ".xz")


def _read_file(path: str) -> tuple[Any, dict[str, int]]:
    """Batches of a file through its ``read.*`` step (all CSV columns as strings), and what it quarantined."""
    from datamill.ingest import reader_for
    from datamill.pipeline.registry import resolve_step
    from datamill.pipeline.step import Source, StepContext
    from datamill.pipeline.task import stream_step

    reader = resolve_step(reader_for(path))({"paths": [str(Path(path).resolve())]})
    assert isinstance(reader, Source)
    quarantined: dict[str, int] = {}

    def batches() -> Any:
        for partition in reader.partitions():
            ctx = StepContext(step_id=reader.label)
            yield from stream_step(reader, ctx, partition=partition)
            for reason, n in ctx.ledger.quarantined.items():
                quarantined[reason] = quarantined.get(reason, 0) + n

    return batches(), quarantined


def _load_config(path: Path | None) -> Any:
    from datamill.clean.table import CleanTable

    if path is None:
        return CleanTable().config
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read the clean.table options in {str(path)!r}: {err}") from err
    if isinstance(data, dict) and isinstance(data.get("with"), dict):
        data = data["with"]  # a whole step was given: take its options
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} should hold clean.table options as a mapping, "
                          "e.g. `case: {sex: majority}`.")
    return CleanTable(data).config


def _changes_text(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return "—"
    return "; ".join(f"{c['from']} → {c['to']}: {c['count']:,}" if c["count"] is not None
                     else f"{c['from']} → {c['to']}" for c in changes)


def table_check(
    target: Annotated[str, typer.Argument(help="A dataset ref (name, name@3, name@<hash>) or a table file "
                                          "(CSV, TSV, Parquet, JSONL).")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="YAML file of clean.table options (its `with:` block) to check against.")] = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 1 when clean.table would change anything.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Find mixed representations, types and units per column, and what clean.table would change.

    Exit codes: 0 done (1 with --strict when something would change); 2 bad usage or config;
    3 runtime failure.
    """
    import yaml

    from datamill.clean.table import plan_cleaning, suggested_config
    from datamill.clean.table_profile import TableState

    try:
        options = _load_config(config)
        path = Path(target)
        quarantined: dict[str, int] = {}
        if path.is_file():
            batches, quarantined = _read_file(target)
            kind = "file"
        elif target.lower().endswith(_FILE_HINT) and "@" not in target:
            raise NotFoundError(f"no file {target!r}; give a table file that exists or a dataset ref "
                                "(`datamill datasets` lists them).")
        else:
            batches = workspace().open(target).batches()
            kind = "dataset"
        state = TableState(options.profile_options())
        for batch in batches:
            state.update(batch)
        report = state.report()
        plan = plan_cleaning(report, options)
        suggestion = suggested_config(report, options)
    except DatamillError as err:
        fail(err, as_json)
    changes = plan.to_dict()
    total = sum(c["count"] or 0 for col in changes.values() for c in col["changes"])
    columns = []
    for col in report.to_dict()["columns"]:
        planned = changes.get(col["name"], {})
        columns.append({**col, "clean_type": planned.get("type") or _typed(col["type"]),
                        "notes": planned.get("notes", []), "changes": planned.get("changes", [])})
    doc = {"source": target, "kind": kind, "rows": report.rows, "read_quarantined": quarantined,
           "columns": columns, "changes": total, "suggested_config": suggestion}
    if as_json:
        print_json(doc)
    else:
        _render(doc, yaml.safe_dump(_step_block(target, kind, suggestion), sort_keys=False, allow_unicode=True))
    if strict and total:
        raise typer.Exit(1)


def _typed(arrow_type: str) -> str:
    return {"large_string": "string", "string_view": "string", "double": "float64"}.get(arrow_type, arrow_type)


def _step_block(target: str, kind: str, suggestion: dict[str, Any]) -> list[dict[str, Any]]:
    clean = {"id": "clean", "uses": "clean.table", "input": "raw", "with": suggestion}
    if kind == "file":
        from datamill.ingest import reader_for

        return [{"id": "raw", "uses": reader_for(target), "with": {"paths": [target]}}, clean]
    return [clean]


def _render(doc: dict[str, Any], step_yaml: str) -> None:
    reads = ", ".join(f"{k}: {v:,}" for k, v in doc["read_quarantined"].items())
    console.print(f"{doc['source']} · {doc['rows']:,} rows · {len(doc['columns'])} columns"
                  + (f" · quarantined while reading: {reads}" if reads else ""), markup=False)
    rows = [[c["name"], c["type"], c["clean_type"], f"{c['missing']:,}" if c["missing"] else "—",
             _changes_text(c["changes"])] for c in doc["columns"]]
    console.print(table(["column", "type", "clean.table type", "missing tokens", "clean.table would change"], rows))
    findings = [(c["name"], f) for c in doc["columns"] for f in c["findings"]]
    notes = [(c["name"], n) for c in doc["columns"] for n in c["notes"]]
    if findings or notes:
        console.print("\nFound:", markup=False)
        for name, finding in findings:
            examples = ", ".join(repr(k) for k in list(finding["examples"])[:3])
            console.print(f"  {name}: {finding['message']}" + (f"  e.g. {examples}" if examples else ""),
                          markup=False)
        for name, note in notes:
            console.print(f"  {name}: {note}", markup=False)
    if not findings:
        console.print("\nNo mixed representations found.", markup=False)
    console.print(f"\nclean.table would change {doc['changes']:,} value(s). Suggested steps:\n", markup=False)
    console.print(step_yaml.rstrip(), markup=False)
    if doc["suggested_config"] == {}:
        err_console.print("(the defaults of clean.table already cover what was found)", markup=False)
