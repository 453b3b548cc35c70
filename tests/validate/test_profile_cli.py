"""`datamill profile` end to end on a real table: JSON statistics, a balanced ledger, a cache hit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.cli import cli, cli_json

# Starts the CLI in a subprocess a few times.
pytestmark = pytest.mark.slow

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"


def test_profile_json_on_adult_reports_every_column_and_balances(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    cli(tmp_path, "ingest", str(TABULAR / "adult.csv"), "--to", "adult")

    doc = cli_json(tmp_path, "profile", "adult", "--rescan", "--no-progress")

    assert doc["rows"] == 32561 and doc["stored"] is False
    columns = {c["name"]: c for c in doc["columns"]}
    assert {"age", "workclass", "sex", "label"} <= set(columns)
    sex = columns["sex"]
    assert (sex["count"], sex["missing"], sex["distinct"]) == (32561, 0, 2)
    assert sex["top"]["items"] == [{"value": " Male", "count": 21790, "lower": 21790, "upper": 21790},
                                   {"value": " Female", "count": 10771, "lower": 10771, "upper": 10771}]
    # " ?" is adult's missing marker: a value here (clean.table turns it into a null).
    assert {"value": " ?", "count": 1836, "lower": 1836, "upper": 1836} in columns["workclass"]["top"]["items"]
    assert columns["age"]["length"]["min"] == 2 and abs(columns["age"]["distinct"] - 73) <= 3
    for step in doc["run"]["steps"]:
        assert step["rows_in"] + step.get("created", 0) == step["rows_out"] + step.get("merged", 0) + sum(
            step["dropped"].values()) + sum(step["quarantined"].values())
    profile_step = next(s for s in doc["run"]["steps"] if s["id"] == "profile")
    assert profile_step["merged"] == 32561 and profile_step["rows_out"] == len(doc["columns"])

    again = cli_json(tmp_path, "profile", "adult", "--rescan", "--no-progress")

    assert [s["status"] for s in again["run"]["steps"]] == ["cached", "cached"]
    assert again["columns"] == doc["columns"] and again["version"] == doc["version"]

    # Without --rescan: the statistics `ingest` stored with the version, no run.
    stored = cli_json(tmp_path, "profile", "adult", "--no-progress")
    assert stored["stored"] is True and stored["run"] is None and stored["rows"] == 32561
    exact = ("name", "rows", "count", "missing", "distinct", "top")
    assert [{k: c[k] for k in exact} for c in stored["columns"]] == [{k: c[k] for k in exact} for c in doc["columns"]]
    assert "stored when written" in cli(tmp_path, "profile", "adult", "--no-progress").stdout


def test_profile_prints_a_table_and_fails_on_an_unknown_dataset(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    cli(tmp_path, "ingest", str(TABULAR / "chicago_taxi_serving.csv"), "--to", "serving")

    out = cli(tmp_path, "profile", "serving", "--column", "trip_miles", "--no-progress").stdout

    assert "trip_miles" in out and "100 rows · 1 columns" in out
    error = cli_json(tmp_path, "profile", "nope", "--no-progress", code=2)
    assert error["type"] == "NotFoundError"
    error = cli_json(tmp_path, "profile", "serving", "--column", "tips", "--no-progress", code=2)
    assert "tips" in error["error"]
