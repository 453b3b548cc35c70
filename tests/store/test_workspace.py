"""Workspace layout: init, find, DATAMILL_HOME, idempotent re-init."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, NotFoundError
from datamill.store import Workspace
from datamill.store.db import HEAD_REVISION


def test_workspace_init_writes_config_and_a_wal_sqlite_database(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path)
    ws.close()

    home = tmp_path / ".datamill"
    config = json.loads((home / "config.json").read_text())
    assert config == {"store": "objects", "db": "sqlite:///meta.db", "storage_options": {}}
    assert (home / "objects" / "versions").is_dir()
    with sqlite3.connect(home / "meta.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == HEAD_REVISION
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"versions", "refs", "runs", "executions", "checkpoints", "files"} <= tables
    assert ws.home == home
    assert ws.root == tmp_path.resolve()


def test_workspace_init_twice_keeps_config_and_data(tmp_path: Path) -> None:
    first = Workspace.init(tmp_path)
    written = first.write("numbers", pa.table({"id": ["a", "b"], "n": [1, 2]}))
    first.close()
    config_before = (tmp_path / ".datamill" / "config.json").read_text()

    second = Workspace.init(tmp_path)

    assert (tmp_path / ".datamill" / "config.json").read_text() == config_before
    assert second.open("numbers").id == written.id
    second.close()


def test_workspace_init_refuses_to_change_an_existing_db(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()

    with pytest.raises(ConfigError, match=r"already a workspace.*edit"):
        Workspace.init(tmp_path, db="sqlite:///other.db")


def test_workspace_find_walks_up_from_a_subdirectory(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMILL_HOME", raising=False)
    Workspace.init(tmp_path).close()
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)

    found = Workspace.find(deep)
    assert found.home == (tmp_path / ".datamill").resolve()
    found.close()

    monkeypatch.chdir(deep)
    from_cwd = Workspace.find()
    assert from_cwd.home == (tmp_path / ".datamill").resolve()
    from_cwd.close()


def test_workspace_find_uses_datamill_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    made = Workspace.init(project)
    made.write("n", pa.table({"id": ["x"]}))
    made.close()
    monkeypatch.chdir(elsewhere)

    for home in (project, project / ".datamill"):
        monkeypatch.setenv("DATAMILL_HOME", str(home))
        ws = Workspace.find()
        assert ws.home == (project / ".datamill").resolve()
        assert ws.open("n").num_rows == 1
        ws.close()


def test_workspace_find_outside_any_workspace_raises_not_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMILL_HOME", raising=False)
    monkeypatch.chdir(tmp_path)

    with pytest.raises(NotFoundError, match=r"no datamill workspace at .*datamill init"):
        Workspace.find()


def test_workspace_find_with_a_wrong_datamill_home_names_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMILL_HOME", str(tmp_path / "nope"))

    with pytest.raises(NotFoundError, match=r"DATAMILL_HOME=.*nope.*datamill init"):
        Workspace.find()


def test_workspace_config_reads_env_vars_in_urls(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DM_TEST_STORE", str(tmp_path / "elsewhere-objects"))
    ws = Workspace.init(tmp_path, store="${DM_TEST_STORE}")
    ws.write("n", pa.table({"id": ["x"]}))
    ws.close()

    assert list((tmp_path / "elsewhere-objects" / "versions").glob("*.json"))
    monkeypatch.delenv("DM_TEST_STORE")
    with pytest.raises(ConfigError, match=r"\$\{DM_TEST_STORE\}"):
        Workspace.find(tmp_path)
