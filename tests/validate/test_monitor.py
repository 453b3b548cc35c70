"""Monitors over version history: volume, schema changes and freshness, from manifests alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, SchemaError
from datamill.store import Workspace
from datamill.validate.monitor import (
    freshness_finding,
    monitor,
    parse_sla,
    schema_change_findings,
    volume_findings,
)
from tests.e2e.cli import cli, cli_json

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def _write(ws: Workspace, rows: int, *, extra: bool = False, day: str = "2026-11-22") -> None:
    data = {"id": [f"r{i}" for i in range(rows)], "x": list(range(rows)),
            "at": pa.array([dt.datetime.fromisoformat(f"{day} 06:00")] * rows, pa.timestamp("us"))}
    if extra:
        data["y"] = ["a"] * rows
    ws.write("daily", pa.table(data))


def test_a_steady_history_raises_nothing(ws: Workspace) -> None:
    for rows in (100, 103, 98, 101, 99):
        _write(ws, rows)
    report = monitor(ws, "daily", sla="36h", time_column="at", now=NOW)
    assert report["verdict"] == "pass" and report["findings"] == []
    assert [h["rows"] for h in report["history"]] == [100, 103, 98, 101, 99]


def test_a_collapsed_volume_is_an_error_and_names_the_numbers(ws: Workspace) -> None:
    for rows in (100, 103, 98, 101, 12):
        _write(ws, rows)
    (finding,) = monitor(ws, "daily")["findings"]
    assert finding["check"] == "volume" and finding["severity"] == "error" and finding["column"] is None
    assert finding["details"]["rows"] == 12 and finding["details"]["history_median"] == 100.5


def test_schema_changes_name_the_column_and_only_the_last_change_counts(ws: Workspace) -> None:
    _write(ws, 10)
    _write(ws, 11, extra=True)          # y added: info
    ws.write("daily", pa.table({"id": ["a"], "x": ["1"], "at": pa.array([None], pa.timestamp("us"))}))
    report = monitor(ws, "daily")
    by = {(f["column"], f["severity"]) for f in report["findings"] if f["check"] == "schema_change"}
    # Between @2 and @3: x changed type (error), y was removed (error). Between @1 and @2: y added (info).
    assert by == {("y", "info"), ("x", "error"), ("y", "error")}
    assert report["verdict"] == "fail"


def test_freshness_by_column_and_by_write_time(ws: Workspace) -> None:
    _write(ws, 5, day="2026-11-20")
    stale = monitor(ws, "daily", sla="24h", time_column="at", now=NOW)["findings"]
    assert [(f["check"], f["column"], f["severity"]) for f in stale] == [("freshness", "at", "error")]
    assert monitor(ws, "daily", sla="7d", time_column="at", now=NOW)["findings"] == []
    # Without a column: when the version was written (just now).
    assert monitor(ws, "daily", sla="1h")["findings"] == []


def test_freshness_reads_text_dates_and_refuses_a_column_without_any(ws: Workspace) -> None:
    ws.write("texts", pa.table({"id": ["a", "b", "c"], "when": ["2026-11-01 10:00:00", "2026-11-21 09:30:00", "n/a"],
                                "word": ["x", "y", "z"]}))
    (finding,) = monitor(ws, "texts", sla="24h", time_column="when", now=NOW)["findings"]
    assert finding["details"]["newest"].startswith("2026-11-21T09:30")
    with pytest.raises(SchemaError, match="no timestamps"):
        monitor(ws, "texts", sla="24h", time_column="word", now=NOW)
    with pytest.raises(SchemaError, match="not in"):
        monitor(ws, "texts", sla="24h", time_column="nope", now=NOW)


def test_unknown_dataset_and_bad_sla_are_clear(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="no dataset named"):
        monitor(ws, "missing")
    with pytest.raises(ConfigError, match="number and a unit"):
        parse_sla("tomorrow")


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=30))
def test_volume_never_flags_a_repeat_of_the_median(history: list[int]) -> None:
    import statistics

    median = statistics.median(history)
    if median == int(median):
        assert volume_findings([*history, int(median)]) == []


def test_schema_change_findings_are_info_when_historical() -> None:
    found = schema_change_findings({"a": "int64"}, {}, historical=True)
    assert [(f.check, f.severity) for f in found] == [("schema_change", "info")]


def test_freshness_accepts_aware_and_naive_stamps() -> None:
    aware = dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone(dt.timedelta(hours=-5)))  # 15:00 UTC
    assert freshness_finding(aware, "1h", now=NOW) is None
    assert freshness_finding(dt.date(2026, 11, 20), "2d", now=NOW) is not None


@pytest.mark.slow
def test_monitor_cli_exit_codes_and_json(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    ws = Workspace.find(tmp_path)
    for rows in (50, 52, 49, 51, 3):
        _write(ws, rows)
    ws.close()
    doc = cli_json(tmp_path, "monitor", "daily", code=1)
    assert doc["verdict"] == "fail" and doc["findings"][0]["check"] == "volume"
    assert cli_json(tmp_path, "monitor", "daily", "--fail-on", "never")["verdict"] == "pass"
    out = cli(tmp_path, "monitor", "daily", code=1).stdout
    assert "volume" in out and "FAIL" in out
    assert "no dataset named" in cli(tmp_path, "monitor", "nope", code=2).stderr
