"""``table.to_text``: table rows as Markdown, JSON lines or a template, on real and hostile tables."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import Pipeline
from datamill.clean.table_text import TableToText, markdown_cell, template_fields
from datamill.core.errors import ConfigError, SchemaError
from datamill.store import Workspace
from datamill.testing import make_batch, run_step
from tests.conftest import SHARED_DATA

ADULT = SHARED_DATA / "tabular" / "adult.csv"


@pytest.fixture(scope="module")
def adult() -> pa.Table:
    """The UCI Adult table with a row-number id, in batches of 5,000 rows."""
    frame = pl.read_csv(ADULT).with_row_index("id").with_columns(pl.col("id").cast(pl.String))
    return pa.Table.from_batches(frame.to_arrow().to_batches(max_chunksize=5000))


def hostile() -> pa.RecordBatch:
    return pa.record_batch({
        "id": ["r1", "r2", "r3", "r4"],
        "name": ["a|b", "line\nbreak\r\nand\rmore\u2028", None, "日本語 😀 \\ back"],
        "n": pa.array([1, None, -3, 2**62], pa.int64()),
        "x": [0.5, float("nan"), None, 1e300],
        "tags": pa.array([["x", "y|z"], None, [], ["é"]], pa.list_(pa.string())),
        "blob": pa.array([b"\xff\x00", None, b"ok", b""], pa.binary()),
    })


def test_table_to_text_markdown_one_row_per_record_on_adult(adult: pa.Table) -> None:
    result = run_step(TableToText(), adult.to_batches())

    out = result.output
    assert out.num_rows == adult.num_rows and out.column_names == ["id", "text"]
    assert out["id"].to_pylist() == adult["id"].to_pylist()
    first = out["text"][0].as_py().split("\n")
    assert first[0].startswith("| age | workclass | fnlwgt |") and first[0].endswith("| label |")
    assert first[1] == "| " + " | ".join(["---"] * 15) + " |"
    assert first[2] == "| 39 |  State-gov |  77516 |  Bachelors |  13 |  Never-married |  Adm-clerical |  " \
                       "Not-in-family |  White |  Male |  2174 |  0 |  40 |  United-States |  <=50K |"
    assert result.ledger.balanced


def test_table_to_text_groups_rows_per_record_within_batches(adult: pa.Table) -> None:
    result = run_step(TableToText(rows_per_record=8, columns=["age", "education", "label"]), adult.to_batches())

    out = result.output
    per_batch = [-(-b.num_rows // 8) for b in adult.to_batches()]  # groups never cross a batch
    assert out.num_rows == sum(per_batch)
    assert out["id"][0].as_py() == "0..7" and out["id"][625].as_py() == "5000..5007"
    lines = out["text"][0].as_py().split("\n")
    assert lines[:2] == ["| age | education | label |", "| --- | --- | --- |"] and len(lines) == 10
    assert result.ledger.merged == adult.num_rows - out.num_rows
    assert result.ledger.balanced


def test_table_to_text_jsonl_and_template_on_adult(adult: pa.Table) -> None:
    head = adult.slice(0, 3).to_batches()

    jsonl = run_step(TableToText(format="jsonl", columns=["age", "education"], rows_per_record=3), head)
    template = run_step(TableToText(format="template", template="{age:>3} years,{education}; {label}"), head)

    rows = [json.loads(line) for line in jsonl.output["text"][0].as_py().split("\n")]
    assert rows == [{"age": 39, "education": " Bachelors"}, {"age": 50, "education": " Bachelors"},
                    {"age": 38, "education": " HS-grad"}]
    assert template.output["text"].to_pylist()[0] == " 39 years, Bachelors;  <=50K"
    assert jsonl.ledger.balanced and template.ledger.balanced


def test_table_to_text_escapes_hostile_cells_one_line_per_row() -> None:
    result = run_step(TableToText(rows_per_record=4, null_text="∅"), [hostile()])

    text = result.output["text"][0].as_py()
    lines = text.splitlines()
    assert len(lines) == 6  # header, rule, four rows: no cell broke a row
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines)
    assert lines[2] == '| a\\|b | 1 | 0.5 | ["x", "y\\|z"] | \ufffd\x00 |'  # bytes decoded with U+FFFD
    assert lines[3] == "| line<br>break<br>and<br>more<br> | ∅ | nan | ∅ | ∅ |"
    assert lines[4] == "| ∅ | -3 | ∅ | [] | ok |"
    assert lines[5] == f'| 日本語 😀 \\\\ back | {2**62} | 1e+300 | ["é"] |  |'
    assert result.output["id"].to_pylist() == ["r1..r4"]
    assert result.ledger.balanced


def test_table_to_text_cuts_huge_cells_when_asked() -> None:
    batch = make_batch(big=["x" * 1_000_000, "short"])

    whole = run_step(TableToText(header=False), [batch])
    cut = run_step(TableToText(header=False, max_cell_chars=10), [batch])
    jsonl = run_step(TableToText(format="jsonl", max_cell_chars=10), [batch])

    assert len(whole.output["text"][0].as_py()) == 1_000_004
    assert cut.output["text"].to_pylist() == ["| xxxxxxxxxx… |", "| short |"]
    assert json.loads(jsonl.output["text"][0].as_py()) == {"big": "xxxxxxxxxx…"}


def test_table_to_text_jsonl_keeps_types_and_unicode() -> None:
    result = run_step(TableToText(format="jsonl", columns=["name", "n", "tags"]), [hostile()])

    texts = result.output["text"].to_pylist()
    assert json.loads(texts[0]) == {"name": "a|b", "n": 1, "tags": ["x", "y|z"]}
    assert json.loads(texts[2]) == {"name": None, "n": -3, "tags": []}
    assert "日本語" in texts[3]  # not \\u-escaped


def test_table_to_text_keep_columns_puts_text_next_to_the_row() -> None:
    batch = make_batch(a=[1, 2], text=["old", "old"])

    result = run_step(TableToText(keep_columns=True, columns=["a"], header=False), [batch])

    assert result.output.column_names == ["id", "a", "text"]
    assert result.output["text"].to_pylist() == ["| 1 |", "| 2 |"]
    assert result.output["a"].to_pylist() == [1, 2]


def test_table_to_text_quarantines_rows_a_template_cannot_render() -> None:
    batch = make_batch(age=["39", "x", None])

    result = run_step(TableToText(format="template", template="{age:>4}|{age:d}"), [batch])

    assert result.output["id"].to_pylist() == ["2"]  # a null renders as null_text, spec ignored
    assert result.ledger.quarantined == {"template_error": 2}
    assert "Unknown format code 'd'" in result.quarantine["error"][0].as_py()
    assert json.loads(result.quarantine["row"][0].as_py()) == {"id": "0", "age": "39"}
    assert result.ledger.balanced


@pytest.mark.parametrize("per_record", [1, 3])
def test_table_to_text_quarantines_everything_for_an_unknown_template_field(per_record: int) -> None:
    batch = make_batch(age=[1, 2])

    result = run_step(TableToText(format="template", template="{age} {job}", rows_per_record=per_record), [batch])

    assert result.output.num_rows == 0 and result.output.column_names == ["id", "text"]
    assert result.ledger.quarantined == {"unknown_template_field": 2}
    assert "names {job}, which the input does not have; it has id, age. Fix `template`." in \
        result.quarantine["error"][0].as_py()
    assert result.ledger.balanced


def test_table_to_text_quarantines_before_grouping_and_still_balances() -> None:
    batch = pa.record_batch({"id": pa.array(["a", None, "c", "d", None], pa.string()),
                             "n": [65, 66, 2**40, 68, 69]})

    result = run_step(TableToText(format="template", template="{n:c}{n:>3}", rows_per_record=2), [batch])

    assert result.output["id"].to_pylist() == ["a..d"]
    assert result.output["text"][0].as_py() == "A 65\nD 68"
    assert "OverflowError" in result.quarantine.filter(pa.compute.equal(result.quarantine["reason"], "template_error"))[
        "error"][0].as_py()
    assert result.ledger.quarantined == {"missing_id": 2, "template_error": 1}
    assert result.ledger.merged == 1 and result.ledger.balanced


def test_table_to_text_reports_unknown_template_fields_before_a_run(tmp_path: Path, ws: Workspace) -> None:
    pq.write_table(pa.table({"id": ["1"], "age": [3]}), tmp_path / "people.parquet")
    spec = {"name": "t", "steps": [
        {"id": "src", "uses": "read.parquet", "with": {"paths": ["people.parquet"]}},
        {"id": "keep", "uses": "select", "input": "src", "with": {"columns": ["age"]}},
        {"id": "txt", "uses": "table.to_text", "input": "keep",
         "with": {"format": "template", "template": "{age} {job}"}}], "outputs": {"o": "txt"}}

    with pytest.raises(SchemaError, match=r"needs column\(s\) 'job' \(from `template`\)"):
        Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=30)),
                                st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))), max_size=20),
       per_record=st.integers(1, 5))
def test_table_to_text_markdown_has_one_line_per_row_on_any_cells(cells: list[tuple[str | None, int | None]],
                                                                  per_record: int) -> None:
    batch = make_batch(s=pa.array([c[0] for c in cells], pa.string()), n=pa.array([c[1] for c in cells], pa.int64()))

    result = run_step(TableToText(rows_per_record=per_record), [batch])

    texts = result.output["text"].to_pylist()
    assert sum(len(t.splitlines()) - 2 for t in texts) == len(cells)
    for text in texts:
        for line in text.splitlines():
            # Three unescaped pipes per line: the cells never add a column.
            unescaped = line.replace("\\\\", "").replace("\\|", "")
            assert unescaped.count("|") == 3
    assert result.ledger.rows_in == len(cells) and result.ledger.balanced


@given(st.text())
def test_markdown_cell_is_one_line_and_round_trips(value: str) -> None:
    cell = markdown_cell(value)

    assert len(cell.splitlines()) <= 1
    assert cell.replace("\\|", "").replace("\\\\", "").count("|") == 0


def test_table_to_text_rejects_bad_configs_with_a_fix() -> None:
    with pytest.raises(ConfigError, match="`format: template` needs `template`"):
        TableToText(format="template")
    with pytest.raises(ConfigError, match="only used with `format: template`"):
        TableToText(template="{a}")
    with pytest.raises(ConfigError, match=r"only plain column names are allowed"):
        TableToText(format="template", template="{a.__class__.__mro__}")
    with pytest.raises(ConfigError, match=r"only plain column names are allowed"):
        TableToText(format="template", template="{a[0]}")
    with pytest.raises(ConfigError, match="must name a column"):
        TableToText(format="template", template="{} {0}")
    with pytest.raises(ConfigError, match=r"not str\.format text"):
        TableToText(format="template", template="{a")
    with pytest.raises(ConfigError, match="`keep_columns` needs `rows_per_record: 1`"):
        TableToText(keep_columns=True, rows_per_record=2)
    with pytest.raises(ConfigError, match="remove `columns`"):
        TableToText(format="template", template="{a}", columns=["a"])
    assert template_fields("{a}{{b}}{a!r:>5}") == ["a"]


def test_table_to_text_needs_its_columns() -> None:
    with pytest.raises(SchemaError, match=r"`columns` names 'job'.*it has id, age"):
        run_step(TableToText(columns=["job"]), [make_batch(age=[1])])
    with pytest.raises(SchemaError, match="needs an `id` column"):
        run_step(TableToText(), [pa.record_batch({"age": [1]})])
    with pytest.raises(SchemaError, match="nothing to render"):
        run_step(TableToText(), [pa.record_batch({"id": ["a"]})])


def test_table_to_text_on_an_empty_batch_keeps_its_schema() -> None:
    empty = pa.record_batch({"id": pa.array([], pa.string()), "a": pa.array([], pa.int64())})

    for options in ({}, {"rows_per_record": 3}, {"format": "jsonl"}):
        result = run_step(TableToText(**options), [empty])
        assert result.output.schema.names == ["id", "text"] and result.output.num_rows == 0
        assert result.ledger.balanced


def test_table_to_text_in_a_pipeline_reads_the_adult_csv(tmp_path: Path, ws: Workspace) -> None:
    spec = {"name": "adult", "steps": [
        {"id": "raw", "uses": "read.csv", "with": {"paths": [str(ADULT)], "infer_types": True}},
        {"id": "prompt", "uses": "table.to_text", "input": "raw",
         "with": {"format": "template", "template": "A {age}-year-old{sex} works{occupation}; income{label}."}}],
        "outputs": {"prompts": "prompt"}}

    result = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    step = result.step("prompt")
    assert step.rows_in == step.rows_out == 32561
    first = ws.open("prompts").to_arrow()["text"][0].as_py()
    assert first == "A 39-year-old Male works Adm-clerical; income <=50K."
