"""What every command shares: the workspace, failing with the right exit code, ``--json``."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

import typer

from datamill.cli.render import err_console, print_json
from datamill.core.errors import DatamillError

__all__ = ["JsonFlag", "fail", "pipeline_name", "workspace"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def fail(err: BaseException, as_json: bool = False) -> NoReturn:
    """Print ``err`` (as JSON too with ``--json``) and exit with its code (3 when unknown)."""
    code = err.exit_code if isinstance(err, DatamillError) else 3
    message = f"{type(err).__name__}: {err}"
    if as_json:
        print_json({"error": message, "type": type(err).__name__, "exit_code": code})
    err_console.print(message, markup=False)
    raise typer.Exit(code)


def workspace() -> Any:
    """The workspace the current directory (or ``DATAMILL_HOME``) is in."""
    from datamill.store import Workspace

    return Workspace.find()


def pipeline_name(command: str, ref: str) -> str:
    """The name of the pipeline a command runs on a dataset: ``command-<dataset name>``.

    >>> pipeline_name("tokenize", "corpus.v2@3")
    'tokenize-corpus-v2'
    """
    base = re.sub(r"[^A-Za-z0-9_\-]+", "-", ref.split("@", 1)[0]).strip("-") or "dataset"
    return f"{command}-{base}"
