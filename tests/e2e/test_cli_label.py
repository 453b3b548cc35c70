"""``datamill label …`` end to end on the real YouTube spam comments, through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from datamill.store import Workspace
from tests.e2e.cli import cli, cli_json

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "datamill" / "examples" / "youtube_spam"

FRAGILE_LFS = '''
from datamill.label import KeywordLF, labeling_function

LABELS = ["ham", "spam"]
subscribe = KeywordLF("subscribe", ["subscribe"], "spam")


@labeling_function
def trips_on_psy(x):
    if "psy" in x.text.lower():
        raise KeyError("psy")
    return None
'''


@pytest.fixture(scope="module")
def spam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace after its pipeline ran: `spam_comments` (1,956 real comments, gold labels)."""
    folder = tmp_path_factory.mktemp("spam") / "demo"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    cli(folder, "init")
    cli_json(folder, "run", "pipeline.yaml")
    return folder


def test_label_apply_analyze_and_aggregate_the_spam_comments(spam: Path) -> None:
    applied = cli_json(spam, "label", "apply", "lfs.py", "spam_comments", "--out", "spam.votes", "--no-progress")

    assert applied["output"].startswith("spam.votes@")
    assert applied["items"] == 1956 and applied["sources"] == 7
    assert [lf["lf"] for lf in applied["lfs"]][:2] == ["keyword_my", "keyword_subscribe"]
    step = applied["run"]["steps"][-1]
    assert step["rows_in"] == step["rows_out"] + sum(step["quarantined"].values()) + sum(step["dropped"].values())

    analyzed = cli_json(spam, "label", "analyze", "spam.votes", "--gold-column", "label")
    by_name = {lf["lf"]: lf for lf in analyzed["lfs"]}
    assert by_name["regex_check_out"]["polarity"] == ["spam"] and by_name["regex_check_out"]["accuracy"] > 0.95
    assert analyzed["gold_items"] == 1956 and 0.7 < analyzed["coverage"] < 0.8
    assert len(analyzed["correlation"]) == 7

    reports = {m: cli_json(spam, "label", "aggregate", "spam.votes", "--method", m, "--gold-column", "label",
                           "--no-progress") for m in ("mv", "ds", "model")}
    for method, report in reports.items():
        assert report["method"] == method and report["gold_items"] == 1956
        assert 0 < report["accuracy"] <= report["accuracy_covered"] <= 1
        assert report["dropped"] == {"uncovered": 1956 - report["covered"]}
        step = report["run"]["steps"][-1]
        assert step["rows_in"] == step["rows_out"] + sum(step["dropped"].values())
    assert reports["model"]["accuracy_covered"] > 0.8
    # The fitted class balance is a metric of the run, recorded once (not once per shard).
    priors = {k: v for k, v in reports["model"]["run"]["steps"][-1]["metrics"].items() if k.startswith("class_prior.")}
    assert len(priors) == 2 and abs(sum(priors.values()) - 1) < 1e-9
    assert reports["model"]["accuracy"] > reports["ds"]["accuracy"]  # DS learns nothing from one-class LFs
    rows = cli_json(spam, "head", reports["model"]["output"], "-n", "3")["rows"]
    assert {"weak_label", "weak_label_probs", "weak_label_confidence", "votes"} <= set(rows[0])

    again = cli_json(spam, "label", "aggregate", "spam.votes", "--method", "model", "--gold-column", "label",
                     "--no-progress")
    assert [s["status"] for s in again["run"]["steps"]] == ["cached", "cached"]
    assert again["accuracy"] == reports["model"]["accuracy"]


def test_label_apply_quarantines_rows_an_lf_raises_on(spam: Path) -> None:
    (spam / "fragile.py").write_text(FRAGILE_LFS, encoding="utf-8")

    report = cli_json(spam, "label", "apply", "fragile.py", "spam_comments", "--out", "fragile", "--no-progress")

    step = report["run"]["steps"][-1]
    quarantined = step["quarantined"]["lf_error"]
    assert quarantined > 10 and step["rows_out"] == 1956 - quarantined == report["items"]
    shown = cli_json(spam, "show", "fragile", "--quarantine")
    assert "trips_on_psy: KeyError" in str(shown)


def test_label_commands_fail_clearly(spam: Path) -> None:
    missing = cli_json(spam, "label", "apply", "nope.py", "spam_comments", code=2)
    assert "nope.py" in missing["error"]
    no_votes = cli_json(spam, "label", "analyze", "spam_comments", code=2)
    assert "no column 'votes'" in no_votes["error"]
    bad_method = cli(spam, "label", "aggregate", "spam_comments", "--method", "vote", code=2)
    assert "--method must be mv, ds or model" in bad_method.stderr


def test_label_apply_and_aggregate_an_empty_dataset(spam: Path) -> None:
    ws = Workspace.find(spam)
    try:
        ws.write("nothing", pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string()),
                                      "label": pa.array([], pa.int64())}))
    finally:
        ws.close()

    applied = cli_json(spam, "label", "apply", "lfs.py", "nothing", "--no-progress")

    assert applied["items"] == 0 and applied["sources"] == 7 and applied["coverage"] == 0.0
    # A pipeline's empty output keeps only `id` (the runner has no batch to take a schema from),
    # so aggregating it says which column is missing rather than labelling nothing.
    labelled = cli_json(spam, "label", "aggregate", applied["output"], "--no-progress", code=2)
    assert "needs column(s) 'votes'" in labelled["error"]


def test_label_agreement_on_long_ratings_and_on_lf_votes(spam: Path) -> None:
    ratings = [{"item": f"c{i}", "rater": r, "label": ("spam" if (i + k) % 3 else "ham")}
               for i in range(30) for k, r in enumerate(["ann", "bob", "cy"]) if (i + k) % 4]
    ws = Workspace.find(spam)
    try:
        ws.write("ratings", pa.Table.from_pylist(ratings))
    finally:
        ws.close()

    report = cli_json(spam, "label", "agreement", "ratings")

    assert report["items"] == 30 and sorted(r["rater"] for r in report["raters"]) == ["ann", "bob", "cy"]
    assert report["classes"] == ["ham", "spam"]
    assert set(report["statistics"]) == {"percent_agreement", "fleiss_kappa", "krippendorff_alpha"}
    assert report["human_level_performance"]["items"] > 0
    lf_votes = cli_json(spam, "label", "agreement", "youtube_spam.votes", "--votes-column", "votes")
    assert len(lf_votes["raters"]) == 7 and lf_votes["items"] == 1956
    shown = cli(spam, "label", "agreement", "ratings").stdout
    assert "krippendorff_alpha" in shown and "human-level performance" in shown
