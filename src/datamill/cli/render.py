"""Terminal rendering: tables for people, JSON for programs."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "human_bytes", "print_json", "run_table", "table"]


def _console(stderr: bool) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal (a pipe, CI) rich assumes 80 columns and wraps tables mid-word.
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, no_color=bool(os.environ.get("NO_COLOR")), soft_wrap=True,
                   highlight=False, width=width)


console = _console(False)
err_console = _console(True)


def print_json(value: Any) -> None:
    """Exactly one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, indent=2, default=str, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "—"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Table:
    """A plain rich table (text is shown literally: no markup is interpreted)."""
    out = Table(title=title, show_edge=False, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        out.add_column(_plain(column), overflow="fold")
    for row in rows:
        out.add_row(*["—" if v is None else _plain(v) for v in row])
    return out


def _plain(value: Any) -> Any:
    from rich.text import Text

    return Text(str(value))


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in counts.items()) or "—"


def run_table(result: dict[str, Any]) -> Table:
    """The table every run ends with."""
    rows = []
    for step in result["steps"]:
        out = f"{step['rows_out']:,}"
        # A step that splits rows (a chunker) or folds them says so next to its output.
        if step.get("created"):
            out += f" (+{step['created']:,} split)"
        if step.get("merged"):
            out += f" (−{step['merged']:,} folded)"
        rows.append([
            step["id"], step["status"], f"{step['rows_in']:,}", out,
            _counts(step["dropped"]), _counts(step["quarantined"]),
            "—" if step["status"] == "cached" else f"{step['seconds']:.1f} s",
            "" if step["status"] == "cached" else step.get("reason", ""),
        ])
    return table(["step", "status", "rows in", "rows out", "dropped", "quarantined", "time",
                  "why it ran"], rows)
