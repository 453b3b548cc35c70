"""What a run records about where it ran: git commit, packages, host."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from datamill.__about__ import __version__

__all__ = ["capture_environment"]

_PACKAGES = ("pyarrow", "polars", "pydantic", "sqlalchemy", "fsspec", "numpy")


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def capture_environment(directory: Path) -> dict[str, Any]:
    """Git commit and dirty flag (inside a repo), versions, host and Python."""
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    env: dict[str, Any] = {
        "datamill": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "host": platform.node(),
        "packages": packages,
    }
    commit = _git(directory, "rev-parse", "HEAD")
    if commit:
        env["git"] = {"commit": commit, "dirty": bool(_git(directory, "status", "--porcelain"))}
    return env
