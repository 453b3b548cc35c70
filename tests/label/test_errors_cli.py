"""``datamill label errors`` on real YouTube comments ingested into a temp workspace."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from datamill.cli.main import app
from datamill.store import Workspace

SPAM = Path(__file__).resolve().parents[3] / "shared" / "data" / "youtube_spam"
runner = CliRunner()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Path]:
    Workspace.init(tmp_path).close()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def invoke(*args: str, code: int = 0) -> str:
    out = runner.invoke(app, list(args))
    assert out.exit_code == code, out.output
    return out.stdout


def flipped_copy(folder: Path, share: float = 0.1, seed: int = 0) -> tuple[Path, np.ndarray]:
    """Youtube01-Psy.csv with ``share`` of its labels flipped and the true one kept in GOLD."""
    source = SPAM / "Youtube01-Psy.csv"
    if not source.exists():
        pytest.skip(f"{source} is not staged")
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(rows), dtype=bool)
    flipped[rng.choice(len(rows), size=round(share * len(rows)), replace=False)] = True
    for row, flip in zip(rows, flipped, strict=True):
        row["GOLD"] = row["CLASS"]
        row["CLASS"] = str(1 - int(row["CLASS"])) if flip else row["CLASS"]
    path = folder / "psy_noisy.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, flipped


def test_label_errors_json_on_real_comments_with_gold(workspace: Path) -> None:
    path, flipped = flipped_copy(workspace)
    invoke("ingest", str(path), "--to", "psy")

    report = json.loads(invoke("label", "errors", "psy", "--label-column", "CLASS", "--text-column", "CONTENT",
                               "--gold-column", "GOLD", "--top", "5", "--no-progress", "--json"))

    assert report["output"].startswith("psy.label-errors@")
    assert report["items"] == report["labelled"] == 350 and report["missing_label"] == 0
    assert [c["class"] for c in report["classes"]] == ["0", "1"]
    assert 0 < report["issues"] == sum(c["issues"] for c in report["classes"])
    assert 0.0 < report["estimated_noise_rate"] < 0.5
    assert len(report["issue_list"]) == 5 and [i["issue_rank"] for i in report["issue_list"]] == [1, 2, 3, 4, 5]
    first = report["issue_list"][0]
    assert first["given_label"] != first["suggested_label"] and first["CONTENT"]
    gold = report["gold"]
    assert gold["wrong"] == int(flipped.sum()) == 35 and gold["gold_items"] == 350
    assert gold["recall"] >= 0.5 and gold["precision"] >= 0.5
    step = report["run"]["steps"][-1]
    assert step["rows_in"] == step["rows_out"] + sum(step["dropped"].values()) + sum(step["quarantined"].values())
    rows = json.loads(invoke("head", report["output"], "-n", "2", "--json"))["rows"]
    assert {"label_quality", "label_issue", "suggested_label", "issue_rank", "CONTENT"} <= set(rows[0])

    again = json.loads(invoke("label", "errors", "psy", "--label-column", "CLASS", "--text-column", "CONTENT",
                              "--no-progress", "--json"))
    assert [s["status"] for s in again["run"]["steps"]] == ["cached", "cached"]
    assert again["issues"] == report["issues"]


def test_label_errors_prints_hostile_text_literally(workspace: Path) -> None:
    hostile = ['<script>alert("x")</script> free money [bold red]click[/] now',
               "\x1b[31mred\x1b[0m subscribe to my channel", "<b>great</b> song &amp; voice"]
    path = workspace / "hostile.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["CONTENT", "CLASS"])
        for i in range(48):  # two spam texts, one ham text; four spam comments labelled ham
            spam = i % 2 == 1
            text = hostile[(i // 2) % 2] if spam else hostile[2]
            writer.writerow([text, "ham" if i in (1, 3, 5, 7) or not spam else "spam"])
    invoke("ingest", str(path), "--to", "hostile")

    out = invoke("label", "errors", "hostile", "--label-column", "CLASS", "--text-column", "CONTENT", "--folds", "3",
                 "--no-progress")

    assert "likely label errors" in out and "estimated noise" in out
    assert "<script>" in out and "[bold red]click[/]" in out  # shown as text, no markup interpreted
    assert "\x1b" not in out and "\\u001b[31mred" in out  # a terminal escape is shown, never sent


def test_label_errors_usage_errors(workspace: Path) -> None:
    invoke("ingest", str(SPAM / "Youtube01-Psy.csv"), "--to", "psy")

    error = json.loads(invoke("label", "errors", "psy", "--label-column", "CLASS", "--json", code=2))
    assert "--text-column" in error["error"]
    error = json.loads(invoke("label", "errors", "psy", "--label-column", "NOPE", "--text-column", "CONTENT",
                              "--no-progress", "--json", code=2))
    assert "NOPE" in error["error"]
