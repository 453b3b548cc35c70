"""The examples in the docs run as written."""

from __future__ import annotations

from pathlib import Path

from datamill import Pipeline
from datamill.store import Workspace

DOCS = Path(__file__).resolve().parents[1] / "docs" / "examples"


def test_readme_user_step_runs_in_the_docs_pipeline(ws: Workspace) -> None:
    result = Pipeline.from_yaml(DOCS / "pipeline.yaml").run(ws)

    long = result.step("long")
    assert long.dropped["too_short"] > 0
    assert long.rows_in == long.rows_out + long.dropped["too_short"]
    texts = ws.open("long_comments").to_arrow(["text"])["text"].to_pylist()
    assert min(len(t) for t in texts) >= 20
