"""Every library imported when a datamill module loads is a declared core dependency.

A module-level import of a package that only the dev extras install works in the test venv and
breaks `make demo` on a fresh machine (numpy once did). Imports inside functions are how optional
extras (datasets, langchain-core, psycopg...) are used, and are not checked here. A module that
exists only for an extra says so with ``EXTRA = "<name>"`` (``datamill.llm.stream``: torch), and
may import that extra's packages at module level; nothing in the core imports it.
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


def _names(specs: list[str]) -> set[str]:
    return {_normal(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in specs}


def _declared(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _names(project["dependencies"]) | (_names(project["optional-dependencies"][extra]) if extra else set())


def _extra(tree: ast.Module) -> str | None:
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["EXTRA"]
                and isinstance(node.value, ast.Constant)):
            return str(node.value.value)
    return None


def _module_level_imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_module_level_imports_are_core_dependencies() -> None:
    distributions = packages_distributions()
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        declared = _declared(_extra(tree))
        for name in _module_level_imports(tree):
            if name in sys.stdlib_module_names or name in ("datamill", "__future__"):
                continue
            dists = {_normal(d) for d in distributions.get(name, [name])}
            if not dists & declared:
                missing.append(f"{path.relative_to(SRC)} imports {name} ({', '.join(sorted(dists))})")
    assert missing == [], "add these to [project] dependencies, or import them inside a function:\n" + "\n".join(
        missing)


def test_modules_of_an_extra_are_not_imported_by_the_core() -> None:
    extras = {path.relative_to(SRC).with_suffix("").as_posix().replace("/", ".")
              for path in SRC.rglob("*.py") if _extra(ast.parse(path.read_text()))}
    assert extras, "datamill.llm.stream declares EXTRA = 'torch'"
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert node.module.removeprefix("datamill.") not in extras or _extra(ast.parse(path.read_text())), (
                    f"{path.relative_to(SRC)} imports {node.module} at module level; import it inside a function")
