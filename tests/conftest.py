"""Shared fixtures: a fresh workspace per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from datamill.store import Workspace

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """An empty workspace (SQLite + local objects) in a temp directory."""
    workspace = Workspace.init(tmp_path)
    yield workspace
    workspace.close()
