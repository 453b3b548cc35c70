"""The cache key of a step execution, and why an execution could not come from the cache."""

from __future__ import annotations

import json
from typing import Any

from datamill.__about__ import __version__
from datamill.pipeline.step import Step

__all__ = ["code_version", "config_changes", "explain_rerun"]


def code_version(step: Step[Any]) -> str:
    """What code the step runs: datamill's version, the step's own version, and the hashes of
    a user's step file or function file.

    >>> from datamill.ops.columns import Select
    >>> code_version(Select(columns=["a"])).split("; ")[1]
    'select v1'
    """
    parts = [f"datamill {__version__}", f"{step.label} v{step.version}"]
    if step.code_hash:
        parts.append(f"code {step.code_hash[:16]}")
    parts.extend(h[:24] for h in step.code_hashes())
    return "; ".join(parts)


def config_changes(old: Any, new: Any, path: str = "config") -> list[str]:
    """The dotted paths where two configs differ.

    >>> config_changes({"expr": "a", "reason": "x"}, {"expr": "b", "reason": "x"})
    ['config.expr']
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out.extend(config_changes(old.get(key), new.get(key), f"{path}.{key}"))
        return out
    return [] if old == new else [path]


def explain_rerun(previous: dict[str, Any] | None, *, uses: str, config: dict[str, Any],
                  code: str, inputs: list[dict[str, Any]], fingerprint: str) -> str:
    """Why a step ran, compared with its previous execution in the same pipeline.

    >>> explain_rerun(None, uses="select", config={}, code="", inputs=[], fingerprint="f")
    'first run'
    """
    if previous is None:
        return "first run"
    reasons = []
    if previous["uses"] != uses:
        reasons.append(f"uses changed ({previous['uses']} → {uses})")
    reasons.extend(f"{p} changed" for p in config_changes(json.loads(previous["config"]), config))
    if previous["code_version"] != code:
        reasons.append(f"code changed ({previous['code_version']} → {code})")
    # A source's inputs are its files (keyed by url), other steps' are upstream steps.
    before = {i.get("step") or i.get("url"): i for i in json.loads(previous["inputs"] or "[]")}
    for now in inputs:
        if "url" in now:
            old = before.get(now["url"])
            if str(now["url"]).startswith("live:"):
                reasons.append("reads a live source (a database, an API or a web site): read on every run")
            elif old is None or old.get("sha256") != now["sha256"]:
                reasons.append(f"input {now['url']} changed")
            continue
        old = before.get(now["step"])
        if old is None:
            reasons.append(f"new input {now['step']}")
        elif old.get("version") != now.get("version") or old.get("source") != now.get("source"):
            reasons.append(f"input {now['step']} changed")
    if previous["fingerprint"] != fingerprint and not reasons:
        reasons.append("seed or input order changed")
    if not reasons and not previous.get("output_version"):
        return "no output of its own last time (it was read inside its consumer)"
    return "; ".join(reasons) or "cache entry not usable"
