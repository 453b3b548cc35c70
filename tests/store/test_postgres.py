"""The store against a real PostgreSQL server (``DATAMILL_TEST_PG_URL``; `.ci/run` starts one)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pyarrow as pa
import pytest
import sqlalchemy as sa

from datamill.core.errors import ConfigError, NotFoundError
from datamill.store import Workspace
from datamill.store.db import HEAD_REVISION

pytestmark = pytest.mark.postgres


def _table(n: int) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in range(n)], "n": list(range(n))})


@pytest.fixture
def pg_ws(tmp_path: Path, pg_url: str) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path, db=pg_url)
    yield workspace
    workspace.close()


def test_postgres_init_runs_migrations_to_head(pg_ws: Workspace, pg_url: str,
                                                tmp_path: Path) -> None:
    assert pg_ws.engine.dialect.name == "postgresql"
    config = json.loads((tmp_path / ".datamill" / "config.json").read_text())
    assert config["db"] == pg_url
    assert not (tmp_path / ".datamill" / "meta.db").exists()
    with pg_ws.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [
            HEAD_REVISION]
    tables = set(sa.inspect(pg_ws.engine).get_table_names())
    assert {"alembic_version", "versions", "refs", "runs", "executions", "checkpoints",
            "files"} <= tables


def test_postgres_reinit_and_find_reuse_the_database(pg_ws: Workspace, tmp_path: Path) -> None:
    written = pg_ws.write("numbers", _table(3))

    again = Workspace.init(tmp_path)
    found = Workspace.find(tmp_path / ".datamill")

    assert again.open("numbers").id == found.open("numbers").id == written.id
    again.close()
    found.close()


def test_postgres_write_same_content_keeps_seq_new_content_adds_one(pg_ws: Workspace) -> None:
    first = pg_ws.write("numbers", _table(5))
    same = pg_ws.write("numbers", _table(5))
    second = pg_ws.write("numbers", _table(6))

    assert same.id == first.id
    assert (first.seq, same.seq, second.seq) == (1, 1, 2)
    assert [h["id"] for h in pg_ws.catalog.history("numbers")] == [first.id, second.id]
    assert [(d["name"], d["seq"], d["num_rows"]) for d in pg_ws.catalog.datasets()] == [
        ("numbers", 2, 6)]


def test_postgres_open_resolves_every_ref_form(pg_ws: Workspace) -> None:
    v1 = pg_ws.write("numbers", _table(5))
    v2 = pg_ws.write("numbers", _table(7))

    assert pg_ws.open("numbers").id == v2.id
    assert pg_ws.open("numbers@latest").id == v2.id
    assert pg_ws.open("numbers@1").id == v1.id
    assert pg_ws.open(f"numbers@{v1.id[:8]}").id == v1.id
    assert pg_ws.open(f"@{v2.id[:8]}").id == v2.id
    assert pg_ws.open("numbers@1").to_arrow().equals(_table(5))
    assert pg_ws.verify(v2.id, deep=True) is None


def test_postgres_unknown_refs_raise_not_found_with_hints(pg_ws: Workspace) -> None:
    pg_ws.write("numbers", _table(2))

    with pytest.raises(NotFoundError, match=r"no dataset named 'nmbers'\. Did you mean 'numbers'\?"):
        pg_ws.open("nmbers")
    with pytest.raises(NotFoundError, match=r"numbers@9 does not exist; 'numbers' has versions 1 to 1"):
        pg_ws.open("numbers@9")
    with pytest.raises(NotFoundError, match=r"no version id starts with 'ffffffffff'"):
        pg_ws.open("@ffffffffff")
    with pytest.raises(ConfigError, match=r"is not valid"):
        pg_ws.write("no spaces", _table(1))


def test_postgres_records_runs_and_executions(pg_ws: Workspace) -> None:
    version = pg_ws.write("numbers", _table(4))
    pg_ws.catalog.start_run("run-1", "demo", {"name": "demo"}, {"python": "3"})
    exec_id = pg_ws.catalog.start_execution(
        run_id="run-1", step_id="raw", uses="read.csv", fingerprint="f" * 64, status="running",
        config="{}", code_version="v1", inputs="[]")
    pg_ws.catalog.finish_execution(exec_id, status="ran", output_version=version.id, seconds=0.5)
    pg_ws.catalog.finish_run("run-1", "succeeded", outputs={"numbers": version.ref})

    run = pg_ws.catalog.run("run-")
    assert run["status"] == "succeeded"
    assert json.loads(run["outputs"]) == {"numbers": version.ref}
    assert [(s["step_id"], s["status"]) for s in run["steps"]] == [("raw", "ran")]
    assert pg_ws.catalog.cached_execution("f" * 64)["output_version"] == version.id
    assert pg_ws.catalog.producer(version.id)["id"] == exec_id


def test_postgres_concurrent_writers_get_distinct_consecutive_seqs(pg_ws: Workspace) -> None:
    writers, each = 8, 4
    barrier = Barrier(writers)

    def write(w: int) -> list[int]:
        barrier.wait()
        seqs = []
        for k in range(each):
            table = pa.table({"id": [f"{w}-{k}"], "n": [w * 100 + k]})
            seqs.append(pg_ws.write("shared", table).seq)
        return seqs

    with ThreadPoolExecutor(writers) as pool:
        got = [s for seqs in pool.map(write, range(writers)) for s in seqs]

    assert sorted(got) == list(range(1, writers * each + 1))
    history = pg_ws.catalog.history("shared")
    assert [h["seq"] for h in history] == list(range(1, writers * each + 1))
    assert len({h["id"] for h in history}) == writers * each


INIT_ON_GO = textwrap.dedent("""
    import os, sys
    import pyarrow as pa
    from datamill.store import Workspace
    print("ready", flush=True)
    while not os.path.exists(sys.argv[3]):
        pass
    ws = Workspace.init(sys.argv[1], db=sys.argv[2])
    print(ws.write("from-" + sys.argv[4], pa.table({"id": [sys.argv[4]]})).seq, flush=True)
""")


def test_postgres_processes_initialising_one_fresh_database_at_once_all_succeed(
        tmp_path: Path, pg_url: str) -> None:
    script = tmp_path / "init_on_go.py"
    script.write_text(INIT_ON_GO)
    go = tmp_path / "go"
    children = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / f"ws{i}"), pg_url,
                          str(go), str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for i in range(4)
    ]
    try:
        for child in children:  # imports done: all start migrating at the same moment
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
        go.touch()
        results = [c.communicate(timeout=60) for c in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    assert [c.returncode for c in children] == [0] * 4, [err[-2000:] for _, err in results]
    assert [out.strip() for out, _ in results] == ["1"] * 4
    ws = Workspace.init(tmp_path / "ws0")
    assert sorted(d["name"] for d in ws.catalog.datasets()) == [f"from-{i}" for i in range(4)]
    ws.close()
