"""What each filtering step of a run removed, rule by rule, with examples: ``datamill filter-report``."""

from __future__ import annotations

from typing import Any

from datamill.core.errors import ConfigError, DatamillError, NotFoundError, did_you_mean
from datamill.pipeline.ledger import EXAMPLES_PER_REASON
from datamill.pipeline.registry import resolve_step
from datamill.store.workspace import Workspace
from datamill.track.runs import run_details

__all__ = ["filter_report", "resolve_run_id"]


def resolve_run_id(ws: Workspace, run: str) -> str:
    """The full id of ``run``: an id, a unique id prefix, or ``latest`` (the newest run)."""
    return str(ws.catalog.run(run)["id"])


def _known_reasons(uses: str) -> dict[str, str]:
    """A built-in step's drop reasons in rule order, with what each means (empty when not declared).

    Only registry names are looked up: a step from a user's file is not imported for a report.
    """
    if ":" in uses:
        return {}
    try:
        cls = resolve_step(uses)
    except DatamillError:
        return {}
    reasons = getattr(cls, "drop_reasons", None)
    return dict(reasons) if isinstance(reasons, dict) else {}


def _step_report(step: dict[str, Any], examples: int) -> dict[str, Any]:
    known = _known_reasons(str(step.get("uses") or ""))
    dropped: dict[str, int] = {str(k): int(v) for k, v in (step.get("dropped") or {}).items()}
    rows_in = int(step.get("rows_in") or 0)
    # A filter that declares its rules drops a row under the first rule it fails: in rule order,
    # the running total is the share of the input gone once the rules so far have run.
    order = sorted(dropped, key=lambda r: (0, list(known).index(r)) if r in known else (1, -dropped[r], r))
    kept_examples = step.get("examples") or {}
    rules = []
    total = 0
    for reason in order:
        count = dropped[reason]
        total += count
        rules.append({
            "reason": reason,
            "count": count,
            "share": count / rows_in if rows_in else 0.0,
            "cumulative_share": total / rows_in if rows_in else 0.0,
            "description": known.get(reason),
            "examples": list(kept_examples.get(reason, []))[:examples],
        })
    quarantined = {str(k): int(v) for k, v in (step.get("quarantined") or {}).items()}
    return {
        "id": step["id"],
        "uses": step.get("uses"),
        "status": step.get("status"),
        "rows_in": rows_in,
        "rows_out": int(step.get("rows_out") or 0),
        "dropped": total,
        "dropped_share": total / rows_in if rows_in else 0.0,
        "quarantined": quarantined,
        "config": step.get("config") or {},
        "rules": rules,
    }


def filter_report(ws: Workspace, run_id: str, *, step: str | None = None,
                  examples: int = EXAMPLES_PER_REASON) -> dict[str, Any]:
    """Every filtering step of a run (a step that dropped rows, or a filter that declares its rules).

    With ``step``, that step whatever it did.

    For each rule (drop reason): how many rows it dropped, their share of the step's input, the
    cumulative share in rule order, what the rule means and where it comes from (for the built-in
    quality filters) and up to ``examples`` dropped rows, as the run recorded them (long strings
    cut to 500 characters). ``run_id`` is an id, a unique prefix or ``latest``; ``step`` keeps one
    step.
    """
    if examples < 0:
        raise ConfigError(f"filter report: `examples` must be 0 or more, got {examples}.")
    details = run_details(ws, resolve_run_id(ws, run_id))
    steps = details["steps"]
    if step is not None:
        chosen = [s for s in steps if s["id"] == step]
        if not chosen:
            names = [s["id"] for s in steps]
            raise NotFoundError(f"run {details['run_id']} has no step {step!r}.{did_you_mean(step, names)} "
                                f"Its steps: {', '.join(names) or 'none'}.")
        filtering = chosen
    else:
        filtering = [s for s in steps
                     if any((s.get("dropped") or {}).values()) or _known_reasons(str(s.get("uses") or ""))]
    return {
        "run_id": details["run_id"],
        "pipeline": details["pipeline"],
        "status": details["status"],
        "steps": [_step_report(s, examples) for s in filtering],
    }
