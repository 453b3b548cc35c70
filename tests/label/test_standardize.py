"""Label standardisation: the schema, ``standardize_labels``, ``label_changes`` and ``label.standardize``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, NotFoundError, SchemaError
from datamill.label.standardize import (
    LabelSchema,
    LabelStandardize,
    label_changes,
    standardize_labels,
)
from datamill.pipeline.runner import Pipeline
from datamill.store import Workspace
from datamill.testing import make_batch, run_step

SCHEMA: dict[str, Any] = {
    "classes": [
        {"name": "Um", "description": "a filled pause", "examples": ["umm, well"]},
        {"name": "scratch", "description": "a scratch of any depth"},
        "dent",
    ],
    "uncertain": "unsure",
    "merges": {"scratch": ["deep scratch", "shallow scratch"], "unsure": ["?", "not sure", "idk"]},
    "normalise": {"rewrites": [{"pattern": "^u+m+$", "to": "Um"}], "mappings": {"dint": "dent"}},
}


def schema(**changes: Any) -> LabelSchema:
    return LabelSchema.parse({**SCHEMA, **changes})


def test_filled_pauses_in_every_spelling_become_one_class() -> None:
    new, changes = standardize_labels(["Umm", "umm ", "UMM", "Um", "uuummm", "um"], schema())

    assert new.to_pylist() == ["Um"] * 6
    assert {(c["from"], c["rule"]) for c in changes.to_pylist()} == {
        ("Umm", "rewrite"), ("umm ", "normalise+rewrite"), ("UMM", "rewrite"), ("uuummm", "rewrite"), ("um", "rewrite")}
    assert standardize_labels(["DENT"], schema())[1].column("rule").to_pylist() == ["case"]


def test_merges_fold_sources_into_their_target_whatever_the_spelling() -> None:
    new, changes = standardize_labels(["deep scratch", "Shallow  Scratch", "scratch", "dint", "idk", "?"], schema())

    assert new.to_pylist() == ["scratch", "scratch", "scratch", "dent", "unsure", "unsure"]
    rules = {c["from"]: c["rule"] for c in changes.to_pylist()}
    assert rules == {"deep scratch": "merge", "Shallow  Scratch": "normalise+merge", "dint": "mapping",
                     "idk": "merge", "?": "merge"}


def test_merge_chains_are_followed() -> None:
    chained = LabelSchema.parse({"classes": ["defect", "scratch"],
                                 "merges": {"scratch": ["deep"], "defect": ["scratch"]}})

    assert standardize_labels(["deep", "scratch", "defect"], chained)[0].to_pylist() == ["defect"] * 3
    assert chained.class_names == ["defect"]


def test_nfkc_punctuation_and_invisible_characters() -> None:
    strict = schema(normalise={"punctuation": True})
    labels = ["ｓｃｒａｔｃｈ", "dent!", "\u200bdent\u200b", "\x00dent\t", "«dent»"]

    assert standardize_labels(labels, strict)[0].to_pylist() == ["scratch", "dent", "dent", "dent", "dent"]


def test_case_folding_off_makes_case_matter() -> None:
    exact = LabelSchema.parse({"classes": ["Spam", "ham"], "normalise": {"case_fold": False}, "unknown": "keep"})

    assert standardize_labels(["Spam", "spam", "ham"], exact)[0].to_pylist() == ["Spam", "spam", "ham"]


@pytest.mark.parametrize(("policy", "expected"), [
    ("quarantine", ["dent", None, None]),
    ("drop", ["dent", None, None]),
    ("uncertain", ["dent", "unsure", None]),
    ("keep", ["dent", "crack", None]),
])
def test_unknown_labels_follow_the_policy_in_the_function(policy: str, expected: list[str | None]) -> None:
    new, changes = standardize_labels(["dent", "crack", None], schema(unknown=policy))

    assert new.to_pylist() == expected
    rows = changes.to_pylist()
    if policy == "keep":
        assert rows == []
    else:
        assert rows == [{"from": "crack", "to": expected[1], "rule": policy if policy == "uncertain" else "unknown",
                         "count": 1}]


def test_list_columns_standardise_each_raters_label_and_keep_nulls() -> None:
    values = pa.array([["UMM", "dent", None], None, [], ["crack", "deep scratch"]], pa.list_(pa.string()))

    new, changes = standardize_labels(values, schema(unknown="uncertain"))

    assert new.type == pa.list_(pa.string())
    assert new.to_pylist() == [["Um", "dent", None], None, [], ["unsure", "scratch"]]
    assert sum(c["count"] for c in changes.to_pylist()) == 3


def test_sliced_and_chunked_and_large_inputs() -> None:
    values = pa.array([["x"], ["UMM", "dent"], ["deep scratch"]], pa.large_list(pa.large_string())).slice(1)
    new, changes = standardize_labels(values, schema())
    assert new.type == pa.large_list(pa.large_string())
    assert new.to_pylist() == [["Um", "dent"], ["scratch"]]
    assert changes.column("count").to_pylist() == [1, 1]

    chunked = pa.chunked_array([["umm", None], ["Dent"]])
    assert standardize_labels(chunked, schema())[0].to_pylist() == ["Um", None, "dent"]


def test_the_cost_is_per_distinct_label() -> None:
    calls: list[str] = []
    compiled = schema()
    resolve = compiled.resolver.resolve

    def counting(value: str) -> Any:
        calls.append(value)
        return resolve(value)

    compiled.resolver.resolve = counting  # type: ignore[method-assign]
    new, changes = standardize_labels(["umm", "dent", "umm", None] * 5_000, compiled)

    assert sorted(calls) == ["dent", "umm"]
    assert changes.to_pylist() == [{"from": "umm", "to": "Um", "rule": "rewrite", "count": 10_000}]
    assert new.null_count == 5_000


labels = st.one_of(
    st.none(),
    st.sampled_from(["Umm", "umm ", "UMM", "deep scratch", "Scratch", "dent", "dint", "idk", "?", "crack", "unsure",
                     "  DENT!", "ｄｅｎｔ"]),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(labels, max_size=30), policy=st.sampled_from(["quarantine", "uncertain", "keep", "drop"]),
       punctuation=st.booleans())
def test_standardising_twice_is_standardising_once(values: list[str | None], policy: str, punctuation: bool) -> None:
    compiled = schema(unknown=policy, normalise={**SCHEMA["normalise"], "punctuation": punctuation})

    once, _ = standardize_labels(pa.array(values, pa.string()), compiled)
    twice, changes = standardize_labels(once, compiled)

    assert twice.to_pylist() == once.to_pylist()
    assert changes.num_rows == 0
    if policy != "keep":
        allowed = set(compiled.class_names) | {None}
        assert set(once.to_pylist()) <= allowed
    assert [v is None for v in once.to_pylist()][: len(values)] >= [v is None for v in values]


@pytest.mark.parametrize(("data", "message"), [
    ({"classes": ["a"], "merges": {"b": ["c"]}}, "merge target 'b' is not a class"),
    ({"classes": ["a", "b"], "merges": {"a": ["c"], "b": ["C"]}}, "'C' is merged into two targets, 'a' and 'b'"),
    ({"classes": ["a", "b"], "merges": {"a": ["b"], "b": ["a"]}},
     r"cycle \('a' → 'b' → 'a'\)|cycle \('b' → 'a' → 'b'\)"),
    ({"classes": ["a"], "merges": {"a": ["A"]}}, "merged into itself"),
    ({"classes": ["Spam", "spam"]}, "are the same class once normalised"),
    ({"classes": ["a"], "unknown": "uncertain"}, "set `uncertain: <class name>`"),
    ({"classes": ["a"], "unknown": "maybe"}, "`unknown`: input should be 'quarantine', 'uncertain', 'keep' or 'drop'"),
    ({"classes": []}, "`classes`: list should have at least 1 item"),
    ({"classes": ["a"], "normalise": {"rewrites": [{"pattern": "(", "to": "a"}]}}, "not a valid regular expression"),
    ({"classes": ["aa", "b"], "normalise": {"rewrites": [{"pattern": "a+", "to": "b"}]}},
     r"class 'aa' does not standardise to itself: rewrite makes it 'b'\. A label already"),
    ({"classes": ["a"], "normalise": {"mappings": {"x": "y"}}}, "mapping 'x' → 'y': 'y' is not a class"),
    ({"classes": ["a"], "colour": "red"}, "`colour`: extra inputs are not permitted"),
    (["a", "b"], "a label schema is a mapping with `classes`"),
])
def test_schema_mistakes_are_config_errors_that_say_what_to_fix(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LabelSchema.parse(data)


def test_schema_files_load_from_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "schema.yaml"
    yaml_file.write_text("classes:\n  Um: a filled pause\n  scratch: any scratch\nmerges:\n  scratch: [deep scratch]\n",
                         encoding="utf-8")
    json_file = tmp_path / "schema.json"
    json_file.write_text(json.dumps(SCHEMA), encoding="utf-8")

    assert LabelSchema.load(yaml_file).classes[0].description == "a filled pause"
    assert LabelSchema.load(json_file).uncertain == "unsure"
    bad = tmp_path / "bad.yaml"
    bad.write_text("classes: [a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        LabelSchema.load(bad)
    with pytest.raises(NotFoundError, match="does not exist"):
        LabelSchema.load(tmp_path / "missing.yaml")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("classes: [a]\nmerges: {b: [c]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"label schema {str(wrong)!r}: merge target 'b'")):
        LabelSchema.load(wrong)


def test_hostile_labels_are_handled_and_shown_escaped() -> None:
    long = "x" * 1_000_000
    new, changes = standardize_labels([long, "dent\x00", "\x1b[31mdent", "d\u0301ent"], schema(unknown="keep"))
    assert new.to_pylist() == [long, "dent", "\x1b[31mdent", "d\u0301ent"]
    assert changes.column("rule").to_pylist() == ["normalise"]

    result = run_step(LabelStandardize(column="label", schema=SCHEMA), [make_batch(label=[long, "\x1b[31m", "dent"])])
    errors = result.quarantine.column("error").to_pylist()
    assert result.ledger.quarantined == {"unknown_label": 2} and result.ledger.balanced
    assert all(len(e) < 400 for e in errors) and "[1000000 chars]" in errors[0]
    assert "'\\x1b[31m'" in errors[1] and "\x1b" not in errors[1]


def test_binary_labels_are_a_clear_error_and_invalid_utf8_is_quarantined() -> None:
    with pytest.raises(SchemaError, match=r"holds binary; labels are text.*Decode bytes to text first"):
        standardize_labels(pa.array([b"\xffdent"], pa.binary()), schema())

    offsets = pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00\x06\x00\x00\x00")
    broken = pa.Array.from_buffers(pa.string(), 2, [None, offsets, pa.py_buffer(b"a\xffdent")])
    with pytest.raises(SchemaError, match=r"not valid UTF-8 text.*row 0"):
        standardize_labels(broken, schema())
    result = run_step(LabelStandardize(column="label", schema=SCHEMA),
                      [pa.record_batch({"id": ["a", "b"], "label": broken})])
    assert result.output.column("label").to_pylist() == ["dent"]
    assert result.ledger.quarantined == {"invalid_label": 1} and result.ledger.balanced


@pytest.mark.parametrize(("policy", "out", "ledger"), [
    ("quarantine", ["Um", "scratch"], {"quarantined": {"unknown_label": 1}}),
    ("drop", ["Um", "scratch"], {"dropped": {"unknown_label": 1}}),
    ("uncertain", ["Um", "scratch", "unsure"], {}),
    ("keep", ["Um", "scratch", "crack"], {}),
])
def test_the_step_applies_every_unknown_policy_and_balances(policy: str, out: list[str], ledger: dict[str, Any]
                                                            ) -> None:
    batch = make_batch(label=["umm", "deep scratch", "crack"])

    result = run_step(LabelStandardize(column="label", schema={**SCHEMA, "unknown": policy}), [batch])

    assert result.output.column("label").to_pylist() == out
    assert result.ledger.balanced
    assert result.ledger.dropped == ledger.get("dropped", {})
    assert result.ledger.quarantined == ledger.get("quarantined", {})
    assert result.metrics["labels"] == 3 and result.metrics["unknown"] == 1
    assert result.metrics['change:["umm", "Um"]'] == 1 and result.metrics["rule.merge"] == 1
    if policy == "quarantine":
        assert result.quarantine.column("error").to_pylist() == [
            "label 'crack' is not in the label schema (classes: 'Um', 'scratch', 'dent', 'unsure'); add it to the "
            "classes, a merge or a mapping, or set `unknown:`"]


def test_the_step_on_a_list_column_quarantines_rows_or_nulls_labels() -> None:
    batch = make_batch(label=[["umm", "crack"], ["dent", None], None])

    quarantined = run_step(LabelStandardize(column="label", schema=SCHEMA), [batch])
    dropped = run_step(LabelStandardize(column="label", schema={**SCHEMA, "unknown": "drop"}), [batch])

    assert quarantined.output.column("label").to_pylist() == [["dent", None], None]
    assert quarantined.ledger.quarantined == {"unknown_label": 1} and quarantined.ledger.balanced
    assert dropped.output.column("label").to_pylist() == [["Um", None], ["dent", None], None]
    assert dropped.ledger.dropped == {} and dropped.ledger.balanced


def test_keep_original_and_out_column_and_label_changes() -> None:
    batch = make_batch(label=["umm", "Deep Scratch", "dent", None, "UMM"])

    kept = run_step(LabelStandardize(column="label", schema=SCHEMA, keep_original=True), [batch]).output
    beside = run_step(LabelStandardize(column="label", schema=SCHEMA, out_column="std"), [batch]).output

    assert kept.column("label_original").to_pylist() == batch.column("label").to_pylist()
    assert beside.column("label").to_pylist() == batch.column("label").to_pylist()
    assert beside.column("std").to_pylist() == kept.column("label").to_pylist() == [
        "Um", "scratch", "dent", None, "Um"]
    assert label_changes(kept["label_original"], kept["label"], SCHEMA).to_pylist() == [
        {"from": "Deep Scratch", "to": "scratch", "rule": "merge", "count": 1},
        {"from": "UMM", "to": "Um", "rule": "rewrite", "count": 1},
        {"from": "umm", "to": "Um", "rule": "rewrite", "count": 1}]
    with pytest.raises(ConfigError, match="`keep_original` keeps the original labels"):
        LabelStandardize(column="label", schema=SCHEMA, keep_original=True, out_column="std")
    with pytest.raises(ConfigError, match=r"not both|neither"):
        LabelStandardize(column="label")
    with pytest.raises(SchemaError, match="there is no label column `label`"):
        run_step(LabelStandardize(column="label", schema=SCHEMA), [make_batch(text=["x"])])


def test_label_changes_on_list_columns_and_mismatches() -> None:
    before = pa.array([["umm", "dent"], None], pa.list_(pa.string()))
    after = pa.array([["Um", "dent"], None], pa.list_(pa.string()))

    assert label_changes(before, after).to_pylist() == [{"from": "umm", "to": "Um", "rule": None, "count": 1}]
    with pytest.raises(SchemaError, match="different numbers of labels"):
        label_changes(before, pa.array([["Um"], None], pa.list_(pa.string())))
    with pytest.raises(SchemaError, match="2 original labels but 1"):
        label_changes(["a", "b"], ["a"])


def test_the_step_in_a_pipeline_reads_the_schema_file_and_reruns_when_it_changes(tmp_path: Path) -> None:
    (tmp_path / "labels.yaml").write_text(json.dumps(SCHEMA), encoding="utf-8")
    rows = [{"id": f"r{i:03d}", "label": v} for i, v in enumerate(["umm", "deep scratch", "crack", None] * 10)]
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.write("labels", pa.Table.from_pylist(rows))
        spec = {"name": "std", "steps": [
            {"id": "input", "uses": "read.dataset", "with": {"ref": "labels", "batch_rows": 7}},
            {"id": "std", "uses": "label.standardize", "input": "input",
             "with": {"column": "label", "schema_path": "labels.yaml", "keep_original": True}}],
            "outputs": {"labels.std": "std"}}
        report = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, workers=1).to_dict()
        step = next(s for s in report["steps"] if s["id"] == "std")
        assert step["quarantined"] == {"unknown_label": 10} and step["rows_out"] == 30
        assert step["metrics"]['change:["umm", "Um"]'] == 10
        table = ws.open("labels.std").to_arrow()
        assert label_changes(table["label_original"], table["label"]).column("count").to_pylist() == [10, 10]

        (tmp_path / "labels.yaml").write_text(json.dumps({**SCHEMA, "unknown": "uncertain"}), encoding="utf-8")
        again = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, workers=1).to_dict()
        std = next(s for s in again["steps"] if s["id"] == "std")
        assert std["status"] == "ran" and std["reason"].startswith("code changed") and std["rows_out"] == 40
        same = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, workers=1).to_dict()
        assert next(s for s in same["steps"] if s["id"] == "std")["status"] == "cached"
    finally:
        ws.close()
