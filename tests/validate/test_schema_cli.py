"""`datamill schema infer | check` on a real table in a workspace."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow.csv as pv
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.store import Workspace
from datamill.validate.schema import Schema, load_schema

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    train = TABULAR / "chicago_taxi_train.csv"
    if not train.exists():
        pytest.skip(f"{train} is not staged")
    ws = Workspace.init(tmp_path)
    table = pv.read_csv(train)
    ws.write("train", table.slice(0, 5000))
    ws.write("fresh", table.slice(5000).drop_columns(["tips"]))
    ws.close()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_infer_then_check(workspace: Path) -> None:
    out = runner.invoke(app, ["schema", "infer", "train"])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("schema_version: 1\n") and "payment_type:" in out.stdout

    assert runner.invoke(app, ["schema", "infer", "train", "-o", "schema.yaml"]).exit_code == 0
    written = load_schema(workspace / "schema.yaml")
    # Quantiles come from a KLL sketch, whose compaction is randomised: compare the rest.
    assert {n: (c.type, c.domain, c.required) for n, c in written.columns.items()} == {
        n: (c.type, c.domain, c.required) for n, c in Schema.from_yaml(out.stdout).columns.items()}

    ok = runner.invoke(app, ["schema", "check", "train", "--schema", "schema.yaml"])
    assert ok.exit_code == 0, ok.output
    assert "PASS" in ok.stdout

    bad = runner.invoke(app, ["schema", "check", "fresh", "--schema", "schema.yaml", "--json"])
    assert bad.exit_code == 1, bad.output
    report = json.loads(bad.stdout)
    assert report["verdict"] == "fail" and report["counts"]["error"] == 1
    assert report["findings"][0]["check"] == "missing_column" and report["findings"][0]["column"] == "tips"

    never = runner.invoke(app, ["schema", "check", "fresh", "--schema", "schema.yaml", "--fail-on", "never"])
    assert never.exit_code == 0 and "missing_column" in never.stdout and "tips" in never.stdout


def test_bad_usage_exits_2(workspace: Path) -> None:
    (workspace / "bad.yaml").write_text("schema_version: 1\ncolumns:\n  a: {type: int64, rnage: 1}\n")
    assert runner.invoke(app, ["schema", "infer", "nope"]).exit_code == 2
    out = runner.invoke(app, ["schema", "check", "train", "--schema", "bad.yaml", "--json"])
    assert out.exit_code == 2 and "line 3" in json.loads(out.stdout)["error"]
    assert runner.invoke(app, ["schema", "check", "train", "--schema", "missing.yaml"]).exit_code == 2
    assert runner.invoke(app, ["schema", "check", "train", "--schema", "bad.yaml", "--fail-on", "x"]).exit_code == 2
