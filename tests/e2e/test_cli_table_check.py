"""`datamill table-check` end to end: on files, on dataset refs, with a config, on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.cli import cli, cli_json

# Each test starts the CLI in a subprocess a few times.
pytestmark = pytest.mark.slow

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"






def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["columns"]}


def test_table_check_json_on_adult_finds_question_marks_and_casts(tmp_path: Path) -> None:
    doc = cli_json(tmp_path, "table-check", str(TABULAR / "adult.csv"))

    columns = by_name(doc)
    assert doc["rows"] == 32561 and doc["kind"] == "file"
    assert {n: c["missing"] for n, c in columns.items() if c["missing"]} == {
        "workclass": 1836, "occupation": 1843, "native-country": 583}
    workclass = columns["workclass"]
    assert {"from": "null token", "to": "null", "count": 1836, "examples": {" ?": 1836}} in workclass["changes"]
    assert columns["age"]["clean_type"] == "int64"
    assert {f["code"] for f in workclass["findings"]} >= {"missing_tokens", "whitespace"}
    assert doc["suggested_config"] == {}


def test_table_check_prints_a_table_findings_and_a_step_to_copy(tmp_path: Path) -> None:
    out = cli(tmp_path, "table-check", str(TABULAR / "metro_traffic_volume.csv")).stdout

    assert "holiday" in out and "null token → null: 48,143" in out
    assert "'None'" in out
    steps = yaml.safe_load(out[out.index("- id: raw"):])
    assert steps[1]["uses"] == "clean.table"
    assert steps[1]["with"] == {"case": {"weather_description": "majority"}}


def test_table_check_strict_fails_when_something_would_change(tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text("a,b\nx,1\ny,2\n")

    cli(tmp_path, "table-check", str(TABULAR / "dirty_energy_consumption.csv"), "--strict", code=1)
    doc = cli_json(tmp_path, "table-check", str(clean), "--strict", code=1)  # "1", "2" become int64
    assert by_name(doc)["b"]["changes"][0] == {"from": "int", "to": "int64", "count": 2, "examples": {"1": 1, "2": 1}}
    cli(tmp_path, "table-check", str(clean), "--strict", "--config", str(_config(tmp_path, {"cast": "none"})))


def _config(tmp_path: Path, options: dict[str, Any]) -> Path:
    path = tmp_path / "clean.yaml"
    path.write_text(yaml.safe_dump(options))
    return path


def test_table_check_with_a_config_shows_its_changes(tmp_path: Path) -> None:
    config = _config(tmp_path, {"with": {"case": {"weather_main": "upper"}, "nulls": []}})

    doc = cli_json(tmp_path, "table-check", str(TABULAR / "metro_traffic_volume.csv"), "--config", str(config))

    columns = by_name(doc)
    assert columns["holiday"]["missing"] == 0
    change = columns["weather_main"]["changes"][0]
    assert (change["from"], change["to"], change["count"]) == ("case variant", "upper", 48204)


def test_table_check_reads_a_dataset_ref(tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text("name,sex,age\na, Male,39\nb,male,?\nc,Male ,-\n")
    cli(tmp_path, "init")
    cli(tmp_path, "ingest", str(data), "--to", "people")

    doc = cli_json(tmp_path, "table-check", "people")

    columns = by_name(doc)
    assert doc["kind"] == "dataset" and doc["rows"] == 3
    assert columns["age"]["missing"] == 2 and columns["age"]["clean_type"] == "int64"
    assert doc["suggested_config"] == {"case": {"sex": "majority"}}


def test_table_check_shows_user_text_literally(tmp_path: Path) -> None:
    data = tmp_path / "markup.csv"
    data.write_text("tag\n[bold]x[/bold]\n [red]y\n")

    out = cli(tmp_path, "table-check", str(data)).stdout

    assert "' [red]y'" in out


def test_table_check_explains_bad_input(tmp_path: Path) -> None:
    missing = cli(tmp_path, "table-check", "nope.csv", code=2)
    assert "no file 'nope.csv'" in missing.stderr

    bad = _config(tmp_path, {"cast": {"a": "integer"}})
    data = tmp_path / "a.csv"
    data.write_text("a\n1\n")
    error = cli_json(tmp_path, "table-check", str(data), "--config", str(bad), code=2)
    assert "'integer' is not a type clean.table casts to" in error["error"]

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    doc = cli_json(tmp_path, "table-check", str(empty))
    assert doc["rows"] == 0 and doc["columns"] == []
