"""``datamill dedup`` on a real corpus file, end to end through the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.e2e.cli import cli, cli_json

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "data" / "corpus" / "docs.jsonl"


@pytest.fixture
def corpus_ws(tmp_path: Path) -> Path:
    """A workspace holding `docs`: 120 real passages, 24 near copies and 18 exact copies."""
    rng = random.Random(0)
    with CORPUS.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line, _ in zip(lines, range(120), strict=False)]
    with (tmp_path / "docs.jsonl").open("w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"id": f"d{i:04d}", "text": text}) + "\n")
            if i % 5 == 0:  # about 1 word in 100 dropped: Jaccard about 0.95
                near = " ".join(w for w in text.split() if rng.random() > 0.01)
                out.write(json.dumps({"id": f"n{i:04d}", "text": near}) + "\n")
            if i % 7 == 0:
                out.write(json.dumps({"id": f"x{i:04d}", "text": text}) + "\n")
    cli(tmp_path, "init")
    cli(tmp_path, "ingest", "docs.jsonl", "--to", "docs")
    return tmp_path


def test_dedup_removes_copies_explains_each_and_is_cached(corpus_ws: Path) -> None:
    report = cli_json(corpus_ws, "dedup", "docs", "--near", "0.8", "--no-progress")
    assert report["rows_in"] == 162
    assert report["saved"]["rows"] == report["rows_in"] - report["rows_out"] >= 40
    assert report["saved"]["bytes"] > 0 and report["saved"]["words"] > 0
    assert report["output"].startswith("docs.dedup@")
    example = report["examples"][0]
    assert example["survivor"]["text"] and example["duplicate"]["text"]
    kept = {row["id"] for row in cli_json(corpus_ws, "head", "docs.dedup", "-n", "1000")["rows"]}
    assert all(f"d{i:04d}" in kept for i in range(120) if i % 5 and i % 7)  # originals keep their ids
    removed = cli_json(corpus_ws, "head", report["explained"][0], "-n", "1000")["rows"]
    assert len(removed) == report["saved"]["rows"]
    assert all(row["duplicate_of"] in kept and row["id"] not in kept for row in removed)
    again = cli_json(corpus_ws, "dedup", "docs", "--near", "0.8", "--no-progress")
    assert [s["status"] for s in again["run"]["steps"]] == ["cached", "cached"]
    assert again["saved"] == report["saved"]


def test_dedup_text_report_and_errors(corpus_ws: Path) -> None:
    shown = cli(corpus_ws, "dedup", "docs", "--near", "0.9", "--no-progress").stdout
    assert "clusters" in shown and "largest clusters" in shown and ".removed@" in shown
    missing = cli_json(corpus_ws, "dedup", "nope", code=2)
    assert "nope" in missing["error"]
    bad = cli(corpus_ws, "dedup", "docs", "--keep", "best", code=2)
    assert "score" in bad.stderr


def test_dedup_by_default_removes_exact_then_near_copies(corpus_ws: Path) -> None:
    report = cli_json(corpus_ws, "dedup", "docs", "--no-progress", "--out", "docs.clean")
    assert [s["id"] for s in report["run"]["steps"]] == ["input", "exact", "near"]
    assert report["removed"]["exact_duplicate"] == 18  # every 7th passage was copied verbatim
    assert report["removed"]["near_duplicate"] >= 20
    assert report["output"].startswith("docs.clean@") and len(report["explained"]) == 2


def test_dedup_lines_and_decontamination_report_what_they_found(corpus_ws: Path) -> None:
    with CORPUS.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line, _ in zip(lines, range(40), strict=False)]
    # An evaluation set with one item lifted from passage 3 (a 20-word question) and one unseen.
    words = texts[3].split()
    (corpus_ws / "quiz.jsonl").write_text(
        json.dumps({"text": " ".join(words[10:30])}) + "\n"
        + json.dumps({"text": "an evaluation question that no training passage contains anywhere at all"}) + "\n",
        encoding="utf-8")
    report = cli_json(corpus_ws, "dedup", "docs", "--lines", "--decontaminate", "quiz.jsonl", "--no-progress")
    assert [s["id"] for s in report["run"]["steps"]] == ["input", "exact", "near", "lines", "decontaminate"]
    assert report["lines"] is not None and report["lines"]["units_removed"] >= 0
    [leak] = report["contamination"]
    assert leak["eval"].endswith("quiz.jsonl") and leak["documents"] >= 1
    assert leak["examples"] and leak["examples"][0]["id"] == "d0003"
    assert report["removed"]["contaminated"] == leak["documents"]
    shown = cli(corpus_ws, "dedup", "docs", "--lines", "--decontaminate", "quiz.jsonl", "--no-progress").stdout
    assert "contamination:" in shown and "quiz.jsonl" in shown
