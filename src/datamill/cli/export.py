"""``datamill export``: write a dataset version to a JSONL, Parquet or CSV file (thin: see
``datamill.clean.export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, human_bytes, print_json
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["export"]


def export(
    ref: Annotated[str, typer.Argument(help="Dataset reference: name, name@N, name@<hash> or @<hash>.")],
    to: Annotated[Path, typer.Option("--to", help="File to write (replaced if it exists).")],
    format: Annotated[
        str | None, typer.Option("--format", help="jsonl, parquet or csv; default from the file's suffix.")
    ] = None,
    columns: Annotated[
        list[str] | None,
        typer.Option("--columns", "-c", help="Only these columns, in this order (comma-separated or repeated)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a dataset version to one file, batch by batch (JSONL: one UTF-8 object per row).

    Exit codes: 0 written · 2 bad reference, column or format · 3 the file could not be written.
    """
    from datamill.clean.export import export_dataset

    wanted = [c.strip() for value in columns or [] for c in value.split(",") if c.strip()] or None
    try:
        ds = workspace().open(ref)
        result = export_dataset(ds, to, format=format, columns=wanted)  # type: ignore[arg-type]
    except (DatamillError, OSError) as err:
        fail(err, as_json)
    except ValueError as err:  # pyarrow refusing a type for the chosen format
        fail(ConfigError(f"cannot write {ref!r} as {format or to.suffix.lstrip('.')}: {err}"), as_json)
    name = f"{ds.name}@{ds.seq}" if ds.name else ds.ref
    if as_json:
        print_json({"ref": name, "version": ds.id, "path": result.path, "format": result.format,
                    "rows": result.rows, "bytes": result.bytes, "columns": result.columns})
        return
    console.print(f"{name} → {result.path}: {result.rows:,} rows, {human_bytes(result.bytes)} ({result.format})",
                  markup=False)
