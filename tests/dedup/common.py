"""What the dedup tests share: real passages, the docs' YAML examples, a 1-vs-2-workers run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datamill import Pipeline, RunResult, Workspace

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "corpus" / "docs.jsonl"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "dedup.md"


def corpus_rows(n: int, offset: int = 0) -> list[dict[str, str]]:
    """Rows ``offset`` to ``offset + n`` of the shared corpus (public-domain books and speeches)."""
    rows = []
    with CORPUS.open(encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i >= offset + n:
                break
            if i >= offset:
                row = json.loads(line)
                rows.append({"id": row["id"], "text": row["text"]})
    return rows


def docs_example(section: str) -> str:
    """The first YAML block under the docs/dedup.md heading that starts with ``section``."""
    found = re.search(rf"## {re.escape(section)}.*?```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert found is not None, f"no YAML example under '## {section}' in {DOCS}"
    return found.group(1)


@contextmanager
def one_and_two_workers(
    spec: dict[str, Any], tmp_path: Path
) -> Iterator[tuple[RunResult, RunResult, Workspace, Workspace]]:
    """Run ``spec`` in two fresh workspaces, with 1 and with 2 workers; closes both after."""
    one_ws, two_ws = Workspace.init(tmp_path / "a"), Workspace.init(tmp_path / "b")
    try:
        one = Pipeline.from_dict(spec, base_dir=tmp_path).run(one_ws, workers=1)
        two = Pipeline.from_dict(spec, base_dir=tmp_path).run(two_ws, workers=2)
        yield one, two, one_ws, two_ws
    finally:
        one_ws.close()
        two_ws.close()
