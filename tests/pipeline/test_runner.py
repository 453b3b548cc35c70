"""The runner: cache, explanations, ledger, quarantine, user steps, validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from datamill import ConfigError, LedgerError, NotFoundError, Pipeline, PipelineError
from datamill.store import Workspace
from tests.pipeline.conftest import write_pipeline


def five_steps(expr: str = "pl.col('x') > 10") -> dict[str, Any]:
    return {
        "name": "five",
        "steps": [
            {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 3, "rows": 50, "bad_every": 7}},
            {"id": "dbl", "uses": "./steps.py:Double", "input": "gen"},
            {"id": "big", "uses": "filter.expr", "input": "dbl", "with": {"expr": expr}},
            {"id": "few", "uses": "sample", "input": "big", "with": {"n": 20}},
            {"id": "out", "uses": "write.dataset", "input": "few", "with": {"rows_per_shard": 8}},
        ],
        "outputs": {"five_out": "out"},
    }


def test_run_writes_outputs_and_balances_every_ledger(project: Path, ws: Workspace) -> None:
    result = Pipeline.from_yaml(write_pipeline(project, five_steps())).run(ws)

    assert result.status == "succeeded"
    assert [s.status for s in result.steps] == ["ran"] * 5
    gen = result.step("gen")
    assert gen.quarantined == {"malformed_row": 3 * 8}
    assert gen.rows_in == 150 and gen.rows_out == 150 - 24
    big = result.step("big")
    assert big.rows_in == big.rows_out + big.dropped["filtered"]
    out = ws.open("five_out")
    assert out.num_rows == 20 and all(s["rows"] <= 8 for s in out.shards)
    assert result.outputs["five_out"] == f"five_out@{out.id[:12]}"


def test_rerun_of_unchanged_pipeline_is_all_cached(project: Path, ws: Workspace) -> None:
    path = write_pipeline(project, five_steps())
    first = Pipeline.from_yaml(path).run(ws)

    second = Pipeline.from_yaml(path).run(ws)

    assert [s.status for s in second.steps] == ["cached"] * 5
    assert second.outputs == first.outputs
    assert second.step("gen").quarantined == first.step("gen").quarantined


def test_changed_config_reruns_that_step_and_downstream_and_says_why(project: Path, ws: Workspace) -> None:
    Pipeline.from_yaml(write_pipeline(project, five_steps())).run(ws)

    result = Pipeline.from_yaml(write_pipeline(project, five_steps("pl.col('x') > 20"))).run(ws)

    assert {s.id: s.status for s in result.steps} == {
        "gen": "cached", "dbl": "cached", "big": "ran", "few": "ran", "out": "ran"}
    assert result.step("big").reason == "config.expr changed"
    assert result.step("few").reason == "input big changed"


def test_changed_user_code_reruns_the_step(project: Path, ws: Workspace) -> None:
    path = write_pipeline(project, five_steps())
    Pipeline.from_yaml(path).run(ws)
    steps = project / "steps.py"
    steps.write_text(steps.read_text().replace("pc.multiply(batch[\"x\"], 2)", "pc.multiply(batch[\"x\"], 3)"))

    result = Pipeline.from_yaml(path).run(ws)

    assert result.step("dbl").status == "ran"
    assert "code changed" in result.step("dbl").reason


def test_deleted_cached_shard_is_recomputed_not_reused(project: Path, ws: Workspace) -> None:
    path = write_pipeline(project, five_steps())
    Pipeline.from_yaml(path).run(ws)
    shard = ws.open("five.big").shards[0]["path"]
    Path(ws.objects.path(shard)).unlink()

    result = Pipeline.from_yaml(path).run(ws)

    assert result.step("big").status == "ran"
    assert "missing" in result.step("big").reason
    assert ws.verify(ws.open("five.big").id) is None


def test_quarantine_is_a_dataset_with_the_original_rows(project: Path, ws: Workspace) -> None:
    result = Pipeline.from_yaml(write_pipeline(project, five_steps())).run(ws)

    quarantine = ws.open("five.gen.quarantine").to_arrow().to_pylist()

    assert result.step("gen").quarantine is not None
    assert len(quarantine) == 24
    assert {r["reason"] for r in quarantine} == {"malformed_row"}
    assert quarantine[0]["step"] == "gen" and quarantine[0]["error"] == "could not parse"


def test_same_output_with_one_or_two_workers(project: Path, tmp_path: Path) -> None:
    path = write_pipeline(project, five_steps())
    one = Pipeline.from_yaml(path).run(Workspace.init(tmp_path / "a"), workers=1)
    two = Pipeline.from_yaml(path).run(Workspace.init(tmp_path / "b"), workers=2)

    assert one.outputs == two.outputs


def test_step_that_loses_rows_fails_the_run_loudly(project: Path, ws: Workspace) -> None:
    spec = {"name": "lossy", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting"},
        {"id": "bad", "uses": "./steps.py:Loses", "input": "gen"}]}

    with pytest.raises((LedgerError, PipelineError), match="bad"):
        Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)

    assert ws.catalog.runs()[0]["status"] == "failed"


def test_config_error_names_the_step_and_the_field(project: Path) -> None:
    spec = five_steps()
    spec["steps"][3]["with"] = {"n": -3}

    with pytest.raises(ConfigError, match=r"step 'few'.*`n` input should be greater than or equal to 0, got -3"):
        Pipeline.from_yaml(write_pipeline(project, spec)).validate()


def test_unknown_option_suggests_the_right_one(project: Path) -> None:
    spec = five_steps()
    spec["steps"][2]["with"] = {"exp": "pl.col('x') > 1"}

    with pytest.raises(ConfigError, match=r"no option `exp`. Did you mean `expr`\?"):
        Pipeline.from_yaml(write_pipeline(project, spec)).validate()


def test_unknown_step_suggests_a_name(project: Path) -> None:
    spec = five_steps()
    spec["steps"][2]["uses"] = "filter.exp"

    with pytest.raises(NotFoundError, match=r"Did you mean 'filter.expr'\?"):
        Pipeline.from_yaml(write_pipeline(project, spec)).validate()


def test_cycle_and_unknown_input_are_rejected_before_running(project: Path) -> None:
    cyclic = {"name": "c", "steps": [
        {"id": "a", "uses": "select", "input": "b", "with": {"columns": ["x"]}},
        {"id": "b", "uses": "select", "input": "a", "with": {"columns": ["x"]}}]}
    with pytest.raises(ConfigError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        Pipeline.from_yaml(write_pipeline(project, cyclic)).validate()

    dangling = five_steps()
    dangling["steps"][1]["input"] = "gem"
    with pytest.raises(ConfigError, match=r"input 'gem' is not a step.*Did you mean 'gen'"):
        Pipeline.from_yaml(write_pipeline(project, dangling)).validate()


def test_missing_column_is_named_with_the_step(project: Path, ws: Workspace) -> None:
    spec = {"name": "cols", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting"},
        {"id": "dbl", "uses": "./steps.py:Double", "input": "gen"},
        {"id": "pick", "uses": "select", "input": "dbl", "with": {"columns": ["x", "nope"]}}]}

    with pytest.raises(Exception, match=r"step 'pick' \(select\) needs column\(s\) 'nope'"):
        Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)


def test_run_records_environment_and_lineage(project: Path, ws: Workspace) -> None:
    from datamill.track import lineage, run_details

    result = Pipeline.from_yaml(write_pipeline(project, five_steps())).run(ws)

    run = run_details(ws, result.run_id)
    assert run["environment"]["packages"]["pyarrow"]
    assert [s["id"] for s in run["steps"]] == ["gen", "dbl", "big", "few", "out"]
    graph = lineage(ws, "five_out")
    steps = {n["step"] for n in graph["nodes"].values() if n["kind"] == "step"}
    assert {"gen", "dbl", "big", "few"} <= steps


def test_decorated_function_in_a_user_file_is_a_step(project: Path, ws: Workspace) -> None:
    (project / "fn_steps.py").write_text(
        "import pyarrow.compute as pc\n"
        "import datamill as dm\n\n\n"
        "@dm.transform\n"
        "def shout(batch):\n"
        "    return batch.set_column(2, 'text', pc.utf8_upper(batch['text']))\n"
    )
    spec = {"name": "fn", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting", "with": {"parts": 1, "rows": 3}},
        {"id": "loud", "uses": "./fn_steps.py:shout", "input": "gen"}],
        "outputs": {"loud": "loud"}}

    Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)

    assert ws.open("loud").to_arrow()["text"].to_pylist() == ["ROW 0 OF 0", "ROW 1 OF 0", "ROW 2 OF 0"]


def test_changed_input_file_reruns_the_reader_and_names_the_file(tmp_path: Path, ws: Workspace) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "x": [1, 2]}), data)
    spec = {"name": "files", "steps": [
        {"id": "raw", "uses": "read.parquet", "with": {"paths": [str(data)]}},
        {"id": "keep", "uses": "filter.expr", "input": "raw", "with": {"expr": "pl.col('x') > 0"}}],
        "outputs": {"kept": "keep"}}
    Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "x": [1, 2, 3]}), data)

    result = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    assert result.step("raw").status == "ran"
    assert result.step("raw").reason == f"input {data} changed"
    assert result.step("keep").reason == "input raw changed"
    assert ws.open("kept").num_rows == 3


def test_config_errors_never_echo_a_credential() -> None:
    from pydantic import BaseModel, ValidationError

    from datamill.pipeline.step import config_error

    class Options(BaseModel):
        api_token: int = 0
        url: int = 0

    try:
        Options(api_token="s3cr3t-value", url="postgresql://bob:hunter2@db/x")  # type: ignore[arg-type]
    except ValidationError as err:
        message = str(config_error("fetch", Options, err))
    assert "s3cr3t-value" not in message and "hunter2" not in message
    assert "not shown (it looks like a credential)" in message
    assert "postgresql://bob:***@db/x" in message


FAILING_STATS = '''
import pyarrow as pa

from datamill.pipeline import Sink, StepConfig


class Broken:
    """Statistics that cannot handle what is written."""

    def update(self, batch, *, pool=None):
        raise ValueError("no kernel for this type")

    def merge(self, other):
        return self

    def report(self):
        return {}


class StatsSink(Sink[StepConfig]):
    def output_stats(self, schema: pa.Schema) -> Broken:
        return Broken()
'''


def test_statistics_that_fail_stop_the_write_and_say_how_to_skip_them(project: Path, ws: Workspace) -> None:
    (project / "sinks.py").write_text(FAILING_STATS)
    spec = {"name": "stats", "steps": [
        {"id": "gen", "uses": "./steps.py:Counting"},
        {"id": "out", "uses": "./sinks.py:StatsSink", "input": "gen"},
    ], "outputs": {"never": "out"}}
    with pytest.raises(PipelineError, match=r"could not compute the statistics .* partition 0: ValueError: no "
                                            r"kernel for this type. Set `profile: false`"):
        Pipeline.from_yaml(write_pipeline(project, spec)).run(ws)
    assert "never" not in {d["name"] for d in ws.catalog.datasets()}
    assert ws.catalog.runs()[0]["status"] == "failed"
