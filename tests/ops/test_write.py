"""``write.dataset`` stores every column's statistics in the manifest as it writes the version."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.validate import TableStats, profile, stored_profile

runner = CliRunner()
EXACT = ("rows", "count", "missing")


def _part(i: int, rows: int) -> pa.Table:
    """One input file: every kind of column a profile handles, nulls and NaN included."""
    base = i * rows
    return pa.table({
        "id": [f"r{base + j}" for j in range(rows)],
        "x": [float("nan") if j % 97 == 0 else (base + j) * 0.5 if j % 11 else None for j in range(rows)],
        "n": pa.array([(base + j) % 17 - 8 for j in range(rows)], pa.int32()),
        "flag": [j % 3 == 0 for j in range(rows)],
        "cat": pa.array([["a", "b", "c"][j % 3] for j in range(rows)]).dictionary_encode(),
        "text": [None if j % 5 == 0 else "word " * (j % 7) + "héllo ✓" for j in range(rows)],
        "when": pa.array([1_600_000_000_000_000 + (base + j) * 1_000_000 for j in range(rows)],
                         pa.timestamp("us")),
        "tags": [[f"t{k}" for k in range(j % 4)] for j in range(rows)],
        "blob": [bytes([j % 256]) * (j % 5) for j in range(rows)],
        "nested": [{"a": j} for j in range(rows)],
        "void": pa.nulls(rows),
    })


@pytest.fixture
def parts(tmp_path: Path) -> list[str]:
    paths = []
    for i, rows in enumerate((700, 1, 1300, 0)):  # one with a single row, one empty
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(_part(i, rows), path)
        paths.append(str(path))
    return paths


def _spec(paths: list[str], **write: Any) -> dict[str, Any]:
    return {"name": "w", "steps": [
        {"id": "raw", "uses": "read.parquet", "with": {"paths": paths}},
        {"id": "out", "uses": "write.dataset", "input": "raw", "with": write},
    ], "outputs": {"written": "out"}}


def _columns(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["columns"]}


def _same(a: Any, b: Any) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12))


@pytest.mark.parametrize("workers", [1, 2])
def test_stored_statistics_equal_one_pass_over_the_version(ws: Workspace, parts: list[str], workers: int) -> None:
    Pipeline.from_dict(_spec(parts)).run(ws, workers=workers)
    ds = ws.open("written")
    stored = ds.profile
    assert stored is not None and stored_profile(ws, ds.id) == stored
    assert not ws.catalog.outputs_of("stats.profile", ds.id)  # no scan was run for them
    once = profile(ds)  # one pass over the written version
    assert stored["rows"] == once["rows"] == ds.num_rows == 2001
    got, want = _columns(stored), _columns(once)
    assert list(got) == list(want) == ds.schema.names
    for name, column in want.items():
        for key in EXACT:
            assert got[name][key] == column[key], (name, key)
        assert got[name]["kind"] == column["kind"]
        assert got[name]["distinct"] == column["distinct"], name  # HLL registers merge exactly
        for key in ("min", "max", "mean", "nan"):
            if column.get("numeric"):
                assert _same(got[name]["numeric"].get(key), column["numeric"].get(key)), (name, key)
    assert _columns(stored)["cat"]["top"]["items"] == _columns(once)["cat"]["top"]["items"]
    assert _columns(stored)["void"]["missing"] == 2001


def test_version_id_does_not_depend_on_the_statistics(ws: Workspace, parts: list[str], tmp_path: Path) -> None:
    Pipeline.from_dict(_spec(parts)).run(ws)
    other = Workspace.init(tmp_path / "other")
    Pipeline.from_dict(_spec(parts, profile=False)).run(other)
    with_stats, without = ws.open("written"), other.open("written")
    assert with_stats.id == without.id
    assert without.profile is None and "profile" not in without.manifest
    assert stored_profile(other, without.id) is None


def test_an_existing_manifest_gains_the_statistics_it_lacked(ws: Workspace) -> None:
    table = pa.table({"x": [1, 2, 3]})
    plain = ws.write("t", table)
    assert plain.profile is None
    again = ws.write("t", table, stats=TableStats())
    assert again.id == plain.id
    assert again.profile is not None and again.profile["columns"][0]["numeric"]["max"] == 3
    assert ws.open("t").profile == again.profile  # read back from the store


def test_no_rows_still_lists_the_columns(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}), path)
    Pipeline.from_dict(_spec([str(path)])).run(ws)
    ds = ws.open("written")
    stored = ds.profile
    assert stored is not None and stored["rows"] == 0
    assert ds.schema.names == ["id", "a", "b", "source"]  # an empty file keeps its columns
    assert [c["name"] for c in stored["columns"]] == ds.schema.names


@pytest.fixture
def in_workspace(ws: Workspace, parts: list[str]) -> Iterator[Workspace]:
    Pipeline.from_dict(_spec(parts)).run(ws)
    old = os.getcwd()
    os.chdir(ws.root)
    try:
        yield ws
    finally:
        os.chdir(old)


def test_show_prints_the_stored_statistics(in_workspace: Workspace) -> None:
    out = runner.invoke(app, ["show", "written"])
    assert out.exit_code == 0, out.output
    assert "statistics (stored when written" in out.stdout and "no statistics yet" not in out.stdout
    doc = json.loads(runner.invoke(app, ["show", "written", "--json"]).stdout)
    assert doc["profile"]["rows"] == 2001
    assert _columns(doc["profile"])["x"]["numeric"]["max"] == 1949.5
