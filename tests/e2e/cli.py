"""Run the real ``datamill`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli(cwd: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``datamill ARGS`` in ``cwd`` (no DATAMILL_HOME, no colour) and check its exit code."""
    base = {k: v for k, v in os.environ.items() if k != "DATAMILL_HOME"}
    done = subprocess.run([sys.executable, "-m", "datamill", *args], cwd=cwd, text=True, capture_output=True,
                          env={**base, "NO_COLOR": "1", **(env or {})}, timeout=300)
    assert done.returncode == code, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def cli_json(cwd: Path, *args: str, code: int = 0) -> Any:
    """``cli`` with ``--json``, its stdout parsed."""
    return json.loads(cli(cwd, *args, "--json", code=code).stdout)
