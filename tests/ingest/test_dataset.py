from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import datamill as dm
from datamill.ingest.dataset import DatasetReader
from datamill.store.workspace import using_workspace
from datamill.testing import run_step


def _spec(ref: str, **options: object) -> dict[str, object]:
    return {"name": "again", "steps": [{"id": "docs", "uses": "read.dataset", "with": {"ref": ref, **options}},
                                       {"id": "keep", "uses": "filter.expr", "input": "docs",
                                        "with": {"expr": "pl.col('n') > 0"}}]}


def test_reads_a_stored_version_and_reruns_only_when_it_changes(tmp_path: Path) -> None:
    ws = dm.Workspace.init(tmp_path / "ws")
    ws.write("nums", pa.table({"id": ["a", "b", "c"], "n": [0, 1, 2]}), rows_per_shard=2)
    first = dm.Pipeline.from_dict(_spec("nums"), base_dir=tmp_path).run(ws)
    assert first.step("docs").rows_out == 3 and first.step("keep").rows_out == 2
    assert dm.Pipeline.from_dict(_spec("nums"), base_dir=tmp_path).run(ws).step("docs").status == "cached"
    ws.write("nums", pa.table({"id": ["d"], "n": [5]}))
    again = dm.Pipeline.from_dict(_spec("nums"), base_dir=tmp_path).run(ws)
    assert again.step("docs").status == "ran" and again.step("keep").rows_out == 1
    pinned = dm.Pipeline.from_dict(_spec("nums@1"), base_dir=tmp_path).run(ws)
    assert pinned.step("keep").rows_out == 2


def test_columns_and_unknown_names_give_clear_errors(tmp_path: Path) -> None:
    ws = dm.Workspace.init(tmp_path / "ws")
    ws.write("nums", pa.table({"id": ["a"], "n": [1], "extra": ["x"]}))
    with using_workspace(ws):
        result = run_step(DatasetReader(ref="nums", columns=["id", "n"]))
        assert result.output.column_names == ["id", "n"]
        with pytest.raises(dm.SchemaError, match="no column 'nope'"):
            run_step(DatasetReader(ref="nums", columns=["nope"]))
        with pytest.raises(dm.NotFoundError):
            run_step(DatasetReader(ref="missing"))
