"""The ``validate`` step in a pipeline: bad rows quarantined with reasons, bad batches fail the run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from datamill.core.errors import ConfigError, PipelineError
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.validate import validate as validate_data
from datamill.validate.schema import infer_schema
from datamill.validate.step import Validate, row_violations

SCHEMA = {"schema_version": 1, "columns": {
    "id": {"type": "string", "unique": True},
    "age": {"type": "int64", "required": True, "min": 0, "max": 120},
    "shop": {"type": "string", "domain": ["north", "south"]},
    "mail": {"type": "string", "format": "email"},
}}


def _table(n: int = 40) -> pa.Table:
    return pa.table({
        "id": [f"r{i}" for i in range(n)],
        "age": [20 + i % 50 for i in range(n)],
        "shop": ["north" if i % 2 else "south" for i in range(n)],
        "mail": [f"u{i}@example.org" for i in range(n)],
    })


def _run(ws: Workspace, tmp_path: Path, table: pa.Table, config: dict[str, object]) -> dict[str, object]:
    ws.write("people", table)
    spec = {"name": "gate", "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": "people"}},
        {"id": "gate", "uses": "validate", "input": "input", "with": config},
    ], "outputs": {"people_valid": "gate"}}
    return Pipeline.from_dict(spec, base_dir=tmp_path).run(ws).to_dict()


def test_bad_rows_are_quarantined_with_their_reasons_and_the_ledger_balances(ws: Workspace, tmp_path: Path) -> None:
    rows = _table().to_pylist()
    rows[3]["age"] = None
    rows[5]["age"] = 300
    rows[7]["shop"] = "<script>east</script>"
    rows[9]["mail"] = "not-an-address"
    result = _run(ws, tmp_path, pa.Table.from_pylist(rows), {"schema": SCHEMA})
    step = next(s for s in result["steps"] if s["id"] == "gate")  # type: ignore[union-attr]
    assert step["rows_in"] == 40 and step["rows_out"] == 36 and step["quarantined"] == {"schema_violation": 4}
    kept = ws.open("people_valid").to_arrow()
    assert kept.num_rows == 36 and not {"r3", "r5", "r7", "r9"} & set(kept["id"].to_pylist())
    quarantine = ws.open(step["quarantine"].split(" ")[0] if isinstance(step["quarantine"], str) else
                         f"@{step['quarantine']}").to_arrow().to_pylist()
    errors = {q["id"]: q["error"] for q in quarantine}
    assert errors["r3"] == "age: missing in a required column"
    assert errors["r5"] == "age: 300 is outside [0.0, 120.0]"
    assert "is not in the domain" in errors["r7"] and "not-an-address" in errors["r9"]


def test_a_missing_column_fails_the_run_naming_it(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="missing_column in mail"):
        _run(ws, tmp_path, _table().drop_columns(["mail"]), {"schema": SCHEMA})


def test_fail_on_never_lets_the_batch_through_and_counts_findings(ws: Workspace, tmp_path: Path) -> None:
    result = _run(ws, tmp_path, _table().drop_columns(["mail"]), {"schema": SCHEMA, "fail_on": "never"})
    step = next(s for s in result["steps"] if s["id"] == "gate")  # type: ignore[union-attr]
    assert step["rows_out"] == 40 and step["metrics"]["findings.error"] >= 1


def test_the_schema_can_come_from_a_file_next_to_the_pipeline(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "people.yaml").write_text(infer_schema(_table(200)).to_yaml())
    result = _run(ws, tmp_path, _table(), {"schema_path": "people.yaml"})
    assert result["status"] == "succeeded"


def test_config_needs_exactly_one_schema() -> None:
    with pytest.raises(ConfigError):
        Validate()
    with pytest.raises(ConfigError):
        Validate(schema=SCHEMA, schema_path="x.yaml")


def test_row_violations_on_an_empty_batch() -> None:
    from datamill.validate.schema import Schema

    bad, reasons = row_violations(pa.record_batch({"age": pa.array([], pa.int64())}), Schema.model_validate(SCHEMA))
    assert bad.tolist() == [] and reasons == []


def test_validate_names_the_serving_column_training_had_and_reports_json_safe(ws: Workspace) -> None:
    train = _table(400).append_column("tips", pa.array([1.5] * 400))
    report = validate_data(_table(100), reference=train, mode="skew")
    missing = [f for f in report["findings"] if f["check"] == "missing_column"]
    assert [(f["column"], f["severity"]) for f in missing] == [("tips", "error")]
    assert report["verdict"] == "fail" and report["profile"]["rows"] == 100
    json.dumps(report, allow_nan=False)
