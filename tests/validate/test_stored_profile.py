"""A version's statistics, once computed, are found again without a scan (``datamill show``,
``validate``)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from datamill.cli.profile import profile_spec
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.validate import StatsOptions, TableStats, statistics_of, stored_profile, validate


def test_show_finds_the_whole_table_profile_and_ignores_partial_ones(ws: Workspace) -> None:
    version = ws.write("t", pa.table({"id": ["a", "b", "c"], "x": [1.0, 2.0, 4.0]}))
    assert stored_profile(ws, version.id) is None

    Pipeline.from_dict(profile_spec("t", columns=["x"])).run(ws)
    assert stored_profile(ws, version.id) is None  # one column only: not the version's statistics

    Pipeline.from_dict(profile_spec("t", slice_by="id")).run(ws)
    report = stored_profile(ws, version.id)
    assert report is not None and report["rows"] == 3
    x = next(c for c in report["columns"] if c["name"] == "x")
    assert x["numeric"]["mean"] == 7 / 3
    assert [p["value"] for p in report["slices"]["values"]] == ["a", "b", "c"]

    other = ws.write("t", pa.table({"id": ["z"], "x": [9.0]}))
    assert stored_profile(ws, other.id) is None


def test_validate_reports_the_statistics_stored_with_a_version_without_a_scan(ws: Workspace) -> None:
    table = pa.table({"g": ["a", "b", "c", "a", "b", "a"], "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    # Statistics with one top value only: a fresh default scan would report three.
    written = ws.write("t", table, stats=TableStats(StatsOptions(top_k=1)))
    plain = ws.write("u", table.slice(1))
    assert statistics_of(written) == written.profile
    report = validate(plain, reference=written)
    assert report["reference_profile"] == written.profile
    assert len(_column(report["reference_profile"], "g")["top"]["items"]) == 1
    assert len(_column(report["profile"], "g")["top"]["items"]) == 3  # no stored statistics: scanned
    assert report["profile"]["rows"] == 5


def _column(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["columns"] if c["name"] == name)
