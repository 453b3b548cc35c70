"""``datamill filter-report``: a pipeline of the quality filters run by the CLI, then its report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.e2e.cli import cli

FILTERS = {"repetition": "filter.gopher_repetition", "quality": "filter.gopher_quality", "c4": "filter.c4",
           "fineweb": "filter.fineweb"}
PIPELINE = """\
name: web
steps:
  - {id: raw, uses: read.jsonl, with: {paths: [docs.jsonl]}}
  - {id: repetition, uses: filter.gopher_repetition, input: raw}
  - {id: quality, uses: filter.gopher_quality, input: repetition, with: {keep_stats: true}}
  - {id: c4, uses: filter.c4, input: quality}
  - {id: fineweb, uses: filter.fineweb, input: c4}
outputs: {clean: fineweb}
"""
MARKUP = "[bold red]ALERT[/bold red] [link=http://evil.example]click[/link]"




WORDS = {
    "adjective": ("old", "quiet", "busy", "narrow", "distant", "bright", "careful", "early", "tired", "patient",
                  "small", "famous", "green", "silent", "wooden", "broken", "gentle", "hungry", "proud"),
    "noun": ("river", "village", "teacher", "market", "letter", "garden", "council", "harbour", "winter", "road",
             "farmer", "doctor", "bridge", "library", "kitchen", "soldier", "window", "mountain", "station"),
    "verb": ("reached", "watched", "followed", "described", "crossed", "repaired", "opened", "remembered",
             "visited", "admired", "built", "painted", "found", "carried", "left"),
    "place": ("across the valley", "near the church", "behind the mill", "under the old tree", "along the coast",
              "beyond the hills", "inside the hall", "at the edge of town", "by the lake", "on the square"),
    "time": ("that morning", "before dawn", "in the spring", "after the storm", "last year", "every Sunday",
             "at noon", "for many weeks", "during the war", "with some care"),
}


def sentence(rng: random.Random) -> str:
    """One plain English sentence."""

    def pick(kind: str) -> str:
        return rng.choice(WORDS[kind])

    return (f"The {pick('adjective')} {pick('noun')} {pick('verb')} the {pick('adjective')} {pick('noun')} and "
            f"the {pick('noun')} {pick('place')} {pick('time')}.")


def prose(rng: random.Random) -> str:
    """A few lines of sentences, different for each seed."""
    return "\n".join(" ".join(sentence(rng) for _ in range(rng.randint(2, 3))) for _ in range(rng.randint(4, 6)))


def corpus(seed: int = 7) -> list[dict[str, str]]:
    """30 prose documents, then junk: each trips one rule."""
    rng = random.Random(seed)
    docs = [{"id": f"prose-{i}", "text": prose(rng)} for i in range(30)]
    junk = [
        "\n".join(f"- {sentence(rng)}" for _ in range(12)),                          # gopher_bullet_lines
        "\n".join(["Buy cheap watches now."] * 12),                                  # gopher_dup_line_frac
        prose(rng) + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
        "\n".join(["Home", "About", "Contact", "Blog", "Shop", "Help", "Login"]),
        "Click here " + MARKUP,
        prose(rng) + "\n" + " ".join(f"#topic{i}" for i in range(60)),              # gopher_symbol_ratio
    ]
    docs += [{"id": f"junk-{i}", "text": text} for i, text in enumerate(junk)]
    return docs


@pytest.fixture
def project(tmp_path: Path) -> Path:
    with (tmp_path / "docs.jsonl").open("w", encoding="utf-8") as out:
        for doc in corpus():
            out.write(json.dumps(doc) + "\n")
    (tmp_path / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    cli(tmp_path, "init")
    return tmp_path


@pytest.mark.slow
def test_filter_report_json_accounts_for_every_rule_of_every_filter(project: Path) -> None:
    run = json.loads(cli(project, "run", "pipeline.yaml", "--json").stdout)
    assert run["status"] == "succeeded"

    report = json.loads(cli(project, "filter-report", "latest", "--json", "--examples", "2").stdout)

    assert report["run_id"] == run["run_id"]
    assert [s["id"] for s in report["steps"]] == list(FILTERS)
    for step in report["steps"]:
        assert step["uses"] == FILTERS[step["id"]]
        assert step["dropped"] == sum(r["count"] for r in step["rules"]) == step["rows_in"] - step["rows_out"]
        if step["rules"]:
            assert step["rules"][-1]["cumulative_share"] == pytest.approx(step["dropped_share"])
        for rule in step["rules"]:
            assert rule["description"], rule  # every rule of the built-in filters says what it checks
            assert rule["share"] == pytest.approx(rule["count"] / step["rows_in"])
            assert 1 <= len(rule["examples"]) <= 2
    by_id = {s["id"]: s for s in report["steps"]}
    reasons = {r["reason"] for s in report["steps"] for r in s["rules"]}
    assert {"gopher_dup_line_frac", "gopher_bullet_lines", "gopher_symbol_ratio", "c4_lorem_ipsum"} <= reasons
    assert by_id["quality"]["rows_out"] > 20  # the prose gets through
    # Rules are listed in the filter's order, not by count.
    quality_order = [r["reason"] for r in by_id["quality"]["rules"]]
    from datamill.clean.quality import GopherQuality

    assert quality_order == [r for r in GopherQuality.drop_reasons if r in quality_order]
    assert "Rae et al. 2021" in by_id["quality"]["rules"][0]["description"]


@pytest.mark.slow
def test_filter_report_table_shows_rules_and_examples_as_plain_text(project: Path) -> None:
    run = json.loads(cli(project, "run", "pipeline.yaml", "--json").stdout)

    out = cli(project, "filter-report", run["run_id"][:8], "--examples", "5").stdout

    assert f"run {run['run_id']}" in out
    for step_id, uses in FILTERS.items():
        assert f"{step_id} ({uses})" in out
    assert "gopher_bullet_lines" in out and "Rae et al. 2021" in out
    assert "junk-1: Buy cheap watches now." in out
    # A dropped row's text is shown as written, never read as rich markup.
    assert MARKUP in out


@pytest.mark.slow
def test_filter_report_keeps_one_step_with_step(project: Path) -> None:
    cli(project, "run", "pipeline.yaml", "--json")

    report = json.loads(cli(project, "filter-report", "latest", "--step", "c4", "--json").stdout)

    assert [s["id"] for s in report["steps"]] == ["c4"]
    assert report["steps"][0]["rules"][0]["reason"] == "c4_lorem_ipsum"


@pytest.mark.slow
def test_filter_report_says_what_is_wrong_with_a_run_or_step(project: Path) -> None:
    empty = json.loads(cli(project, "filter-report", "latest", "--json", code=2).stdout)
    assert "no runs yet" in empty["error"]
    cli(project, "run", "pipeline.yaml", "--json")

    missing = cli(project, "filter-report", "ffffffff", code=2)
    assert "no run with id 'ffffffff'" in missing.stderr
    wrong_step = json.loads(cli(project, "filter-report", "latest", "--step", "qualty", "--json", code=2).stdout)
    assert "has no step 'qualty'. Did you mean 'quality'?" in wrong_step["error"]

