"""Run records as documents: one run in full, and two runs side by side."""

from __future__ import annotations

import json
from typing import Any

from datamill.store.workspace import Workspace

__all__ = ["compare_runs", "run_details"]


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def run_details(ws: Workspace, run_id: str) -> dict[str, Any]:
    """A run with its spec, environment, outputs and per-step record."""
    run = ws.catalog.run(run_id)
    steps = []
    for ex in run["steps"]:
        steps.append({
            "id": ex["step_id"], "uses": ex["uses"], "status": ex["status"],
            "fingerprint": ex["fingerprint"], "seconds": ex["seconds"], "reason": ex["reason"],
            "config": _loads(ex["config"], {}), "code_version": ex["code_version"],
            "inputs": _loads(ex["inputs"], []), "output_version": ex["output_version"],
            "quarantine_version": ex["quarantine_version"],
            **_loads(ex["ledger"], {"rows_in": 0, "rows_out": 0, "dropped": {}, "quarantined": {}}),
            "metrics": _loads(ex["metrics"], {}), "error": ex["error"],
        })
    spec = _loads(run["spec"], {})
    order = {step["id"]: i for i, step in enumerate(spec.get("steps", []))}
    steps.sort(key=lambda s: order.get(s["id"], len(order)))
    return {
        "run_id": run["id"], "pipeline": run["pipeline"], "status": run["status"],
        "started_at": run["started_at"], "ended_at": run["ended_at"],
        "seconds": (run["ended_at"] - run["started_at"]) if run["ended_at"] else None,
        "error": run["error"], "outputs": _loads(run["outputs"], {}),
        "environment": _loads(run["environment"], {}), "spec": spec,
        "steps": steps,
    }


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = value


def compare_runs(ws: Workspace, a: str, b: str) -> dict[str, Any]:
    """Two runs side by side: spec differences, inputs, outputs, per-step ledgers and metrics."""
    ra, rb = run_details(ws, a), run_details(ws, b)
    spec_a: dict[str, Any] = {}
    spec_b: dict[str, Any] = {}
    for step in ra["spec"].get("steps", []):
        _flatten(step["id"], {"uses": step.get("uses"), "with": step.get("with", {}),
                              "input": step.get("input")}, spec_a)
    for step in rb["spec"].get("steps", []):
        _flatten(step["id"], {"uses": step.get("uses"), "with": step.get("with", {}),
                              "input": step.get("input")}, spec_b)
    spec_changes = {k: {"a": spec_a.get(k), "b": spec_b.get(k)}
                    for k in sorted(set(spec_a) | set(spec_b)) if spec_a.get(k) != spec_b.get(k)}
    steps = {}
    by_a = {s["id"]: s for s in ra["steps"]}
    by_b = {s["id"]: s for s in rb["steps"]}
    for step_id in list(dict.fromkeys([*by_a, *by_b])):
        sa, sb = by_a.get(step_id, {}), by_b.get(step_id, {})
        steps[step_id] = {
            key: {"a": sa.get(key), "b": sb.get(key)}
            for key in ("status", "rows_in", "rows_out", "dropped", "quarantined", "metrics",
                        "output_version", "seconds")
        }
        steps[step_id]["same_output"] = sa.get("output_version") == sb.get("output_version")
    return {
        "a": {k: ra[k] for k in ("run_id", "pipeline", "status", "seconds", "outputs")},
        "b": {k: rb[k] for k in ("run_id", "pipeline", "status", "seconds", "outputs")},
        "spec_changes": spec_changes,
        "git": {"a": ra["environment"].get("git"), "b": rb["environment"].get("git")},
        "steps": steps,
    }
