"""Every library imported when a datamill module loads is a declared core dependency.

A module-level import of a package that only the dev extras install works in the test venv and
breaks `make demo` on a fresh machine (numpy once did). Imports inside functions are how optional
extras (datasets, langchain-core, psycopg...) are used, and are not checked here.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "datamill"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normal(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def _module_level_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_module_level_imports_are_core_dependencies() -> None:
    declared = _declared()
    distributions = packages_distributions()
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        for name in _module_level_imports(ast.parse(path.read_text())):
            if name in sys.stdlib_module_names or name in ("datamill", "__future__"):
                continue
            dists = {_normal(d) for d in distributions.get(name, [name])}
            if not dists & declared:
                missing.append(f"{path.relative_to(SRC)} imports {name} ({', '.join(sorted(dists))})")
    assert missing == [], "add these to [project] dependencies, or import them inside a function:\n" + "\n".join(
        missing)
