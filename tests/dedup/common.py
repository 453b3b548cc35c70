"""What the dedup tests share: real passages, the docs' YAML examples, a 1-vs-2-workers run."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

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


def near_copies(n: int, seed: int = 0) -> list[str]:
    """``n`` texts: real passages, and about 40% near copies (1 word in 100 changed, upper case)."""
    rng = random.Random(seed)
    out = []
    for row in corpus_rows(n):
        out.append(row["text"])
        if rng.random() < 0.4:
            edited = [w if rng.random() > 0.01 else "changed" for w in row["text"].split()]
            out.append("  ".join(edited).upper())
    return out[:n]


def write_10k_near_copies(path: Path) -> Path:
    """Issue 6's determinism corpus: 10,000 documents, a third of them near copies, shuffled."""
    texts = near_copies(10_000 // 2 + 3000)
    rng = random.Random(3)
    rows = []
    for i in range(10_000):
        text = texts[i] if i < len(texts) else " ".join(w for w in rng.choice(texts).split() if rng.random() > 0.01)
        rows.append({"id": f"d{i:05d}", "text": text})
    rng.shuffle(rows)
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return path


def near_dedup_10k_spec(data: Path) -> dict[str, Any]:
    """read.jsonl (small batches, so several partitions) -> dedup.minhash at 0.8."""
    return {"name": "dd", "steps": [
        {"id": "docs", "uses": "read.jsonl", "with": {"paths": [str(data)], "batch_rows": 700}},
        {"id": "near", "uses": "dedup.minhash", "input": "docs", "with": {"threshold": 0.8}},
    ]}


def invalid_utf8(*values: bytes) -> pa.Array:
    """A string array holding ``values`` as they are, invalid UTF-8 included (Arrow checks nothing)."""
    offsets = [0]
    for value in values:
        offsets.append(offsets[-1] + len(value))
    return pa.Array.from_buffers(
        pa.string(), len(values), [None, pa.array(offsets, pa.int32()).buffers()[1], pa.py_buffer(b"".join(values))]
    )
