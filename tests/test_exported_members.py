"""The public surface is deliberate: `__all__` is pinned and capability packages keep apart."""

from __future__ import annotations

import ast
from pathlib import Path

import datamill as dm

SRC = Path(__file__).resolve().parents[1] / "src" / "datamill"
SHARED = {"core", "store", "pipeline", "testing"}


def test_top_level_all_is_pinned() -> None:
    assert sorted(dm.__all__) == sorted([
        "Aggregate", "ConfigError", "Dataset", "DatamillError", "LedgerError", "NotFoundError",
        "Outcome", "Pipeline", "PipelineError", "RunResult", "SchemaError", "Sink", "Source",
        "StepConfig", "StepContext", "StoreError", "Transform", "Workspace", "__version__", "init",
        "open", "register", "transform",
    ])
    for name in dm.__all__:
        assert hasattr(dm, name), name


def test_capability_packages_do_not_reach_into_each_others_private_modules() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        package = path.relative_to(SRC).parts[0]
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("datamill."):
                parts = node.module.split(".")
                target = parts[1]
                private = any(p.startswith("_") for p in parts[2:])
                if target != package and private:
                    problems.append(f"{path.relative_to(SRC)} imports {node.module}")
    assert problems == []


def test_shared_packages_do_not_import_capabilities() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        package = path.relative_to(SRC).parts[0]
        if package not in {"core", "store"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("datamill."):
                target = node.module.split(".")[1]
                if target not in SHARED and target != "__about__":
                    problems.append(f"{path.relative_to(SRC)} imports {node.module}")
    assert problems == []


def test_every_builtin_step_is_in_the_lazy_import_map() -> None:
    from datamill.pipeline import registered_steps
    from datamill.pipeline.registry import _BUILTINS

    builtin = {n for n, cls in registered_steps().items() if cls.__module__.startswith("datamill.")
               and not n.startswith("demo.")}
    assert builtin == set(_BUILTINS)
