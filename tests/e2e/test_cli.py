"""The CLI end to end, on the bundled demo data and on broken files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.cli import cli, cli_json

EXAMPLE = Path(__file__).resolve().parents[2] / "src" / "datamill" / "examples" / "youtube_spam"






@pytest.fixture
def demo(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    cli(tmp_path / "demo", "init")
    return tmp_path / "demo"


def test_run_json_follows_the_contract(demo: Path) -> None:
    result = cli_json(demo, "run", "pipeline.yaml")

    assert result["status"] == "succeeded" and result["run_id"]
    assert list(result["outputs"]) == ["spam_comments"]
    assert result["outputs"]["spam_comments"].startswith("spam_comments@")
    for step in result["steps"]:
        assert {"id", "status", "rows_in", "rows_out", "dropped", "quarantined", "seconds"} <= set(step)
        assert step["status"] in ("ran", "cached", "failed")
        assert step["rows_in"] == step["rows_out"] + sum(step["dropped"].values()) + sum(
            step["quarantined"].values())
    raw = next(s for s in result["steps"] if s["id"] == "raw")
    assert raw["rows_out"] == 1957 and raw["quarantined"] == {"malformed_row": 1, "undecodable": 1}


def test_second_run_is_cached_and_a_change_says_why(demo: Path) -> None:
    cli_json(demo, "run", "pipeline.yaml")
    again = cli_json(demo, "run", "pipeline.yaml")
    assert {s["status"] for s in again["steps"]} == {"cached"}

    spec = demo / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("> 0", "> 20"))
    changed = cli_json(demo, "run", "pipeline.yaml")

    by_id = {s["id"]: s for s in changed["steps"]}
    assert by_id["clean"]["status"] == "cached"
    assert by_id["nonempty"]["status"] == "ran" and by_id["nonempty"]["reason"] == "config.expr changed"
    diff = cli_json(demo, "diff", "spam_comments@1", "spam_comments@2")
    assert diff["rows"]["removed"] == diff["rows"]["a"] - diff["rows"]["b"] > 0
    assert diff["rows"]["added"] == diff["rows"]["changed"] == 0


def test_head_show_datasets_and_lineage(demo: Path) -> None:
    cli_json(demo, "run", "pipeline.yaml")

    rows = cli_json(demo, "head", "spam_comments", "-n", "3")["rows"]
    assert len(rows) == 3 and {"id", "text", "label"} <= set(rows[0])
    shown = cli_json(demo, "show", "spam_comments@1")
    assert shown["rows"] > 1900
    assert {c["name"]: c["role"] for c in shown["schema"]}["label"] == "label"
    names = [d["name"] for d in cli_json(demo, "datasets")["datasets"]]
    assert names == ["spam_comments"]
    graph = cli_json(demo, "lineage", "spam_comments")
    files = {Path(n["url"]).name: n["sha256"] for n in graph["nodes"].values() if n["kind"] == "file"}
    psy = (demo / "data" / "Youtube01-Psy.csv").read_bytes()
    assert files["Youtube01-Psy.csv"] == hashlib.sha256(psy).hexdigest()
    assert "digraph lineage" in cli(demo, "lineage", "spam_comments", "--format", "dot").stdout
    assert "file " in cli(demo, "lineage", "spam_comments").stdout


def test_runs_list_show_and_compare(demo: Path) -> None:
    first = cli_json(demo, "run", "pipeline.yaml")["run_id"]
    spec = demo / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("> 0", "> 5"))
    second = cli_json(demo, "run", "pipeline.yaml")["run_id"]

    listed = [r["run_id"] for r in cli_json(demo, "runs", "list")["runs"]]
    assert listed == [second, first]
    shown = cli_json(demo, "runs", "show", first[:8])
    assert shown["environment"]["python"] and shown["spec"]["name"] == "youtube_spam"
    compared = cli_json(demo, "runs", "compare", first, second)
    assert compared["spec_changes"] == {"nonempty.with.expr": {
        "a": "pl.col('text').str.len_chars() > 0", "b": "pl.col('text').str.len_chars() > 5"}}
    assert compared["steps"]["clean"]["same_output"] is True


def test_bad_config_exits_2_naming_step_and_field(demo: Path) -> None:
    spec = demo / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("reason: empty_text", "reasn: empty_text"))

    done = cli(demo, "run", "pipeline.yaml", code=2)

    assert "step 'nonempty'" in done.stderr and "no option `reasn`. Did you mean `reason`?" in done.stderr


def test_unknown_ref_exits_2_with_a_suggestion(demo: Path) -> None:
    cli_json(demo, "run", "pipeline.yaml")

    done = cli(demo, "show", "spam_coments", code=2)

    assert "Did you mean 'spam_comments'?" in done.stderr


def test_outside_a_workspace_says_to_init(tmp_path: Path) -> None:
    done = cli(tmp_path, "datasets", code=2)

    assert "datamill init" in done.stderr


def test_ingest_broken_csv_quarantines_rows_and_shows_them(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    (tmp_path / "reviews.csv").write_bytes(
        b"id,stars,text\n1,5,great\n2,1,bad,extra,fields\n3,4,fine\n4,2,\xff\xfe broken bytes\n5,3,ok\n")

    result = cli_json(tmp_path, "ingest", "reviews.csv", "--to", "reviews")

    read = next(s for s in result["steps"] if s["id"] == "read")
    assert read["rows_in"] == 5
    assert sum(read["quarantined"].values()) == 2
    assert read["rows_out"] == 3
    shown = cli_json(tmp_path, "show", "reviews", "--quarantine")
    quarantined = [r for item in shown["quarantine"] for r in item["first"]]
    assert len(quarantined) == 2 and {r["line"] for r in quarantined} == {3, 5}


def test_demo_runs_the_bundled_pipelines(tmp_path: Path) -> None:
    result = cli_json(tmp_path, "demo", str(tmp_path / "d"))

    assert result["status"] == "succeeded"
    assert set(result["runs"]) == {"youtube_spam", "llm_corpus", "tabular_monitoring"}
    assert (tmp_path / "d" / ".datamill" / "meta.db").exists()
    corpus = {s["id"]: s for s in result["runs"]["llm_corpus"]["steps"]}
    # Every broken file is quarantined with its reason, and every step balances.
    assert corpus["pdf"]["quarantined"] == {"encrypted": 1, "no_text_layer": 1, "unreadable_file": 1}
    assert corpus["docx"]["quarantined"] == {"unreadable_file": 1}
    assert corpus["text"]["quarantined"] == {"binary_file": 1}
    for step in corpus.values():
        assert step["rows_in"] + step.get("created", 0) == step["rows_out"] + step.get("merged", 0) + sum(
            step["dropped"].values()) + sum(step["quarantined"].values())
    assert corpus["english"]["dropped"]["language_not_kept"] >= 3
    # The verbatim copy and the mirrored page (own header, curly quotes) go; each says what it copies.
    assert corpus["exact"]["dropped"] == {"exact_duplicate": 1}
    assert corpus["near"]["dropped"] == {"near_duplicate": 1}
    removed = cli_json(tmp_path / "d", "head", corpus["near"]["explained"], "-n", "5")["rows"]
    assert len(removed) == 1 and removed[0]["similarity"] >= 0.8
    texts = cli_json(tmp_path / "d", "head", "corpus", "-n", "100")["rows"]
    assert any("The café on the corner" in r["text"] for r in texts)  # the mojibake was repaired
    # The corpus ends in 512-token blocks that two ranks read once each.
    assert corpus["packed"]["metrics"]["tokens"] == corpus["tokens"]["metrics"]["tokens"] > 10_000
    stream = result["stream_check"]
    assert stream["coverage"] == 1.0 and stream["duplicates"] == 0
    assert stream["sequences"] == -(-int(corpus["packed"]["metrics"]["tokens"]) // 512)
    # The TFDV skew case: serving lacks `tips`, and the report names it; metro drifts but passes.
    skew = result["validation"]["taxi_skew"]
    assert skew["verdict"] == "fail" and skew["counts"]["error"] == 1
    assert [(f["check"], f["column"]) for f in skew["findings"] if f["severity"] == "error"] == [
        ("missing_column", "tips")]
    assert (tmp_path / "d" / "tabular_monitoring" / "taxi_skew.html").stat().st_size > 10_000
    assert result["validation"]["metro_drift"]["verdict"] == "pass"
    monitor = result["validation"]["metro_monitor"]
    assert [(f["check"], f["column"]) for f in monitor["findings"]] == [("freshness", "date_time")]


def test_ingest_hostile_files_finishes_and_accounts_for_every_row(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    data = tmp_path / "data"
    data.mkdir()
    (data / "empty.jsonl").write_bytes(b"")
    (data / "events.jsonl").write_bytes(
        b'{"id": "e1", "text": "fine"}\n'
        b'{"id": "e2", "text": "cut off\n'
        b'[1, 2, 3]\n'
        b'{"id": "e3", "text": "bad \xff\xfe bytes"}\n'
        b'{"id": "e4", "text": "' + b"x" * (50 * 1024 * 1024) + b'"}\n'
        b'{"id": "e5", "text": "last"}\n')

    result = cli_json(tmp_path, "ingest", str(data), "--to", "events")

    read = next(s for s in result["steps"] if s["id"] == "read")
    assert read["rows_in"] == 6
    assert read["rows_in"] == read["rows_out"] + sum(read["quarantined"].values()) + sum(
        read["dropped"].values())
    assert read["quarantined"]["malformed_json"] == 1
    assert read["quarantined"]["not_an_object"] == 1
    assert read["quarantined"]["undecodable"] == 1
    rows = cli_json(tmp_path, "head", "events", "-n", "10")["rows"]
    assert {r["id"] for r in rows} >= {"e1", "e5"}


def test_text_that_looks_like_markup_is_printed_literally(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    (tmp_path / "m.csv").write_text("[/],[red]col[/red]\n[bold]x[/bold],v\n")
    cli(tmp_path, "ingest", "m.csv", "--to", "m")

    shown = cli(tmp_path, "head", "m").stdout

    assert "[red]col[/red]" in shown and "[bold]x[/bold]" in shown and "[/]" in shown


def test_a_password_is_never_printed_nor_left_on_disk(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bob:S3cr3tPW@127.0.0.1:1/x"  # nothing listens on port 1

    done = cli(tmp_path, "init", "--db", url, "--json", code=3)

    assert "S3cr3tPW" not in done.stdout + done.stderr
    assert not (tmp_path / ".datamill" / "config.json").exists()
    bad_port = cli(tmp_path, "init", "--db", "postgresql+psycopg://bob:S3cr3tPW@h:port/x", code=2)
    assert "S3cr3tPW" not in bad_port.stdout + bad_port.stderr


def test_ingest_mixed_folder_uses_a_reader_per_type_and_names_unknown_files(tmp_path: Path) -> None:
    cli(tmp_path, "init")
    data = tmp_path / "mixed"
    data.mkdir()
    (data / "a.csv").write_text("text\nfrom csv\n")
    (data / "b.jsonl").write_text('{"text": "from jsonl"}\n')
    (data / "notes.xyz").write_text("no reader for this")

    done = cli(tmp_path, "ingest", str(data), "--to", "mixed", "--json")

    result = json.loads(done.stdout)
    assert {s["id"] for s in result["steps"]} >= {"read_csv", "read_jsonl", "concat"}
    assert "notes.xyz" in done.stderr
    rows = cli_json(tmp_path, "head", "mixed")["rows"]
    assert sorted(r["text"] for r in rows) == ["from csv", "from jsonl"]
