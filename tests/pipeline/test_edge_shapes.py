"""Pipeline shapes that once went wrong: fused sources changing role, concat of sources,
zero-row outputs, batch boundaries."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from datamill import Pipeline
from datamill.store import Workspace
from tests.pipeline.conftest import write_pipeline


def test_fused_source_that_gains_a_second_consumer_runs_again(project: Path, ws: Workspace) -> None:
    one = {"name": "grow", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 2, "rows": 5}},
        {"id": "dbl", "uses": "./steps.py:Double", "input": "gen"}], "outputs": {"d": "dbl"}}
    Pipeline.from_yaml(write_pipeline(project, one)).run(ws)
    two = {**one, "steps": [*one["steps"], {"id": "pick", "uses": "select", "input": "gen",
                                             "with": {"columns": ["x"]}}], "outputs": {"d": "dbl", "p": "pick"}}

    result = Pipeline.from_yaml(write_pipeline(project, two)).run(ws)

    assert result.step("gen").status == "ran" and result.step("gen").output is not None
    assert "read inside its consumer" in result.step("gen").reason
    assert ws.open("p").num_rows == 10


def test_concat_of_two_sources_keeps_every_column_and_counts_each_once(project: Path, ws: Workspace) -> None:
    spec = {"name": "cc", "steps": [
        {"id": "a", "uses": "./steps.py:Counting", "with": {"parts": 1, "rows": 4, "bad_every": 2}},
        {"id": "b", "uses": "./steps.py:Counting", "with": {"parts": 2, "rows": 7, "bad_every": 3}},
        {"id": "both", "uses": "concat", "input": ["a", "b"], "with": {"id_prefixes": ["a/", "b/"]}}],
        "outputs": {"both": "both"}}

    result = Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)

    assert result.step("a").quarantined == {"malformed_row": 2}
    assert result.step("b").quarantined == {"malformed_row": 6}
    both = ws.open("both")
    assert both.schema.names == ["id", "x", "text"]
    assert both.num_rows == 2 + 8


def test_step_that_keeps_no_rows_still_has_its_own_schema(project: Path, ws: Workspace) -> None:
    spec = {"name": "none", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 2, "rows": 5}},
        {"id": "dbl", "uses": "./steps.py:Double", "input": "gen"},
        {"id": "nothing", "uses": "filter.expr", "input": "dbl", "with": {"expr": "pl.col('x') < 0"}},
        {"id": "ren", "uses": "rename", "input": "nothing", "with": {"columns": {"x": "y"}}},
        {"id": "pick", "uses": "select", "input": "ren", "with": {"columns": ["y"]}}],
        "outputs": {"empty": "pick"}}

    Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)

    empty = ws.open("empty")
    assert empty.num_rows == 0 and empty.schema.names == ["id", "y"]


def test_version_id_does_not_depend_on_batch_boundaries(ws: Workspace) -> None:
    table = pa.table({"id": [str(i) for i in range(300_000)], "x": list(range(300_000))})

    whole = ws.write("a", table)
    small = ws.write("b", iter(table.to_batches(max_chunksize=50_000)), schema=table.schema)

    assert whole.id == small.id


def test_header_only_csv_still_gives_its_columns_downstream(tmp_path: Path, ws: Workspace) -> None:
    (tmp_path / "h.csv").write_text("name,score\n")
    spec = {"name": "hdr", "steps": [
        {"id": "raw", "uses": "read.csv", "with": {"paths": [str(tmp_path / "h.csv")]}},
        {"id": "pick", "uses": "select", "input": "raw", "with": {"columns": ["score"]}}],
        "outputs": {"scores": "pick"}}

    Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    scores = ws.open("scores")
    assert scores.num_rows == 0 and scores.schema.names == ["id", "score"]


def test_many_tiny_shards_are_read_by_few_tasks_and_written_as_few_shards(project: Path, ws: Workspace) -> None:
    # A reader makes one shard per file; the steps after it must not keep one task per file.
    spec = {"name": "tiny", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 40, "rows": 3}},
        {"id": "keep", "uses": "select", "input": "gen", "with": {"columns": ["x"]}},
        {"id": "pick", "uses": "select", "input": "keep", "with": {"columns": ["x"]}}],
        "outputs": {"kept": "keep", "picked": "pick"}}

    result = Pipeline.from_yaml(write_pipeline(project, spec)).run(ws, workers=2)

    assert result.status == "succeeded"
    assert len(ws.open("kept").manifest["shards"]) == 40  # read inside `keep`: one task per file
    picked = ws.open("picked")
    assert len(picked.manifest["shards"]) == 1 and picked.num_rows == 120
    assert sorted(picked.to_arrow()["x"].to_pylist()) == sorted(ws.open("kept").to_arrow()["x"].to_pylist())
