"""A version's statistics, once computed, are found again without a scan (``datamill show``)."""

from __future__ import annotations

import pyarrow as pa

from datamill.cli.profile import profile_spec
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.validate import stored_profile


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
