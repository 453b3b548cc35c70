from __future__ import annotations

import json
from functools import reduce
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError, Pipeline
from datamill.core.errors import SchemaError
from datamill.dedup.lines import LineDedup, _units, split_units
from datamill.pipeline import StepContext, resolve_step
from datamill.store import Workspace
from datamill.testing import StepResult, make_batch, run_step
from tests.dedup.common import corpus_rows, docs_example, invalid_utf8, one_and_two_workers

FOOTER = "This e-book is for the use of anyone anywhere at no cost. You may copy it, give it away or re-use it. "
FOOTER += "Visit the project online for more books like this one."


def _side(step: LineDedup, *partitions: list[pa.RecordBatch]) -> list[dict[str, object]]:
    states = [step.partial(iter(p), StepContext("lines", shard_index=i)) for i, p in enumerate(partitions)]
    rows: list[dict[str, object]] = step.side_table(step.finalize(reduce(step.merge, states))).to_pylist()
    return rows


def _texts(result: StepResult) -> dict[str, str | None]:
    return dict(zip(result.output["id"].to_pylist(), result.output["text"].to_pylist(), strict=True))


def _text_of(batch: pa.RecordBatch, row_id: str) -> str:
    return str(batch["text"][batch["id"].to_pylist().index(row_id)].as_py())


def test_line_dedup_is_the_registered_dedup_lines_step() -> None:
    assert resolve_step("dedup.lines") is LineDedup


@pytest.mark.parametrize("unit", ["sentences3", "line", "paragraph"])
def test_line_dedup_compiled_splitter_follows_the_reference_on_real_books(unit: str) -> None:
    texts = [row["text"] for row in corpus_rows(400)]

    pieces = _units(pa.array(texts), unit, 1).pieces.to_pylist()  # type: ignore[arg-type]

    assert pieces == [piece for text in texts for piece in split_units(text, unit)]  # type: ignore[arg-type]


_ALPHABET = st.sampled_from(list("ab A.!?\"')([] \n\n\t\u2019\u201d\u2018\u201c\u00c9\u00e9\u00d7x\r"))


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(_ALPHABET, max_size=40)), max_size=8))
def test_line_dedup_compiled_splitter_follows_the_reference_on_tricky_text(texts: list[str | None]) -> None:
    for unit in ("sentences3", "line", "paragraph"):
        pieces = _units(pa.array(texts, pa.string()), unit, 1).pieces.to_pylist()  # type: ignore[arg-type]

        assert pieces == [p for t in texts if t for p in split_units(t, unit)]  # type: ignore[arg-type]
        assert all("".join(split_units(t, unit)) == t for t in texts if t)  # type: ignore[arg-type]


def test_split_units_cuts_sentences_at_a_capital_after_the_mark() -> None:
    text = 'He said "Stop!" Then he left. e.g. this stays. “Why?” she asked.\n\nNew paragraph'

    assert split_units(text, "sentences3") == [
        'He said "Stop!" ',
        "Then he left. e.g. this stays. ",
        "“Why?” she asked.\n\n",
        "New paragraph",
    ]


def test_line_dedup_removes_a_repeated_three_sentence_span_from_all_but_the_smallest_id() -> None:
    first, second, third = corpus_rows(3, offset=40)
    span = "The rain fell all night on the town. Nobody slept at all. In the morning the river had risen."
    batch = make_batch(
        id=["b", "a", "c"],
        text=[f"{first['text']}\n\n{span}", f"{span}\n\n{second['text']}", third["text"]],
    )

    result = run_step(LineDedup(), [batch])

    texts = _texts(result)
    assert span in texts["a"]
    assert span not in texts["b"] and texts["b"] == first["text"].strip()
    assert texts["c"] == third["text"]
    assert result.metrics["units_removed"] == 3
    assert result.metrics["docs_changed"] == 1
    assert result.metrics["chars_removed"] == len(_text_of(batch, "b")) - len(texts["b"] or "")
    assert result.ledger.balanced and result.ledger.rows_out == 3
    [row] = [r for r in _side(LineDedup(), [batch]) if r["kept_in"] == "a"]
    assert row["text"] == span and row["occurrences"] == 2 and row["reason"] == "duplicate_lines"


def test_line_dedup_removes_a_sentence_when_any_span_holding_it_repeats() -> None:
    # Only the span (B, C, D) repeats; A and E stay in the second document.
    shared = "Bright lights shone over the hill. Carts rolled down the lane. Dogs barked at the carts."
    batch = make_batch(
        id=["x", "y"],
        text=[f"{shared} Every one of them ran.", f"Alone we walked home. {shared} Even the cats woke up."],
    )

    result = run_step(LineDedup(), [batch])

    assert _texts(result)["y"] == "Alone we walked home. Even the cats woke up."
    assert _texts(result)["x"] == f"{shared} Every one of them ran."


def test_line_dedup_keeps_spans_that_repeat_only_inside_one_document_and_short_documents() -> None:
    twice = "One two three four. Five six seven eight. Nine ten eleven twelve. "
    batch = make_batch(
        id=["a", "b", "c"], text=[twice * 2, "Only two sentences. Nothing more.", "Only two sentences. Nothing more."]
    )

    result = run_step(LineDedup(), [batch])

    assert result.output["text"].to_pylist() == batch["text"].to_pylist()
    assert result.metrics["units_removed"] == 0


def test_line_dedup_by_line_removes_a_repeated_footer_and_spares_short_lines() -> None:
    docs = corpus_rows(4, offset=100)
    footer = "Copyright the Project. All rights reserved."
    texts = [f"Chapter I\n{d['text']}\n{footer}\n" for d in docs]
    batch = make_batch(id=[d["id"] for d in docs], text=texts)

    result = run_step(LineDedup(unit="line"), [batch])

    kept = _texts(result)
    smallest = min(d["id"] for d in docs)
    assert footer in (kept[smallest] or "")
    assert all(footer not in (t or "") for i, t in kept.items() if i != smallest)
    assert all((t or "").startswith("Chapter I\n") for t in kept.values())  # 2 words < min_words
    assert result.metrics["units_removed"] >= 3


def test_line_dedup_by_paragraph_compares_case_and_spacing_insensitively() -> None:
    batch = make_batch(
        id=["p1", "p2"],
        text=[
            "First story begins here.\n\nSubscribe to   the weekly letter\nfor more news.",
            "Another story, quite different.\n  \nsubscribe to the weekly letter\nFOR MORE NEWS!\n\nThe end of it all.",
        ],
    )

    result = run_step(LineDedup(unit="paragraph"), [batch])

    assert _texts(result)["p2"] == "Another story, quite different.\n  \nThe end of it all."
    [row] = _side(LineDedup(unit="paragraph"), [batch])
    assert row == {
        "text": "Subscribe to the weekly letter for more news.",
        "occurrences": 2,
        "kept_in": "p1",
        "reason": "duplicate_lines",
    }


def test_line_dedup_drops_rows_left_with_no_text_under_its_reason() -> None:
    batch = make_batch(id=["a", "b", "c"], text=[f"Intro line here.\n{FOOTER}", FOOTER, f"  {FOOTER}\n\n"])

    result = run_step(LineDedup(unit="line", reason="only_boilerplate"), [batch])

    assert result.output["id"].to_pylist() == ["a"]
    assert result.ledger.dropped == {"only_boilerplate": 2}
    assert result.ledger.balanced
    assert result.ledger.examples["only_boilerplate"][0]["id"] == "b"


def test_line_dedup_respects_min_words() -> None:
    batch = make_batch(id=["a", "b"], text=["Read more here\nalpha", "Read more here\nbeta"])

    assert run_step(LineDedup(unit="line", min_words=4), [batch]).metrics["units_removed"] == 0
    assert _texts(run_step(LineDedup(unit="line", min_words=3), [batch]))["b"] == "beta"


def _real_batch_with_boilerplate(n: int) -> pa.RecordBatch:
    docs = corpus_rows(n)
    texts = [f"{FOOTER}\n{d['text']}" if i % 3 == 0 else d["text"] for i, d in enumerate(docs)]
    # Copies of passages under other ids, so spans repeat across documents too.
    texts += [d["text"][: len(d["text"]) // 2] for d in docs[: n // 4]]
    ids = [d["id"] for d in docs] + [f"copy-{i:03d}" for i in range(n // 4)]
    return make_batch(id=ids, text=texts)


@pytest.mark.parametrize("unit", ["sentences3", "line", "paragraph"])
def test_line_dedup_output_and_side_table_do_not_depend_on_partitioning(unit: str) -> None:
    batch = _real_batch_with_boilerplate(160)
    step = LineDedup(unit=unit)
    layouts = [
        [[batch]],
        [[batch.slice(150)], [batch.slice(0, 40), batch.slice(40, 110)]],
        [[batch.slice(i, 17)] for i in range(0, batch.num_rows, 17)],
    ]

    results = [run_step(step, partitions=layout) for layout in layouts]
    sides = [_side(step, *layout) for layout in layouts]

    expected = sorted(results[0].output.to_pylist(), key=lambda r: r["id"])
    for result, side in zip(results, sides, strict=True):
        assert sorted(result.output.to_pylist(), key=lambda r: r["id"]) == expected
        assert side == sides[0]
        assert result.side is not None and result.side.to_pylist() == sides[0]
        assert result.ledger.balanced and result.ledger.rows_in == batch.num_rows
        assert result.metrics == results[0].metrics
    assert results[0].metrics["units_removed"] > 0
    assert all(len(str(row["text"])) <= 200 for row in sides[0])


def test_line_dedup_on_empty_input() -> None:
    empty = make_batch(id=pa.array([], pa.string()), text=pa.array([], pa.string()))

    for unit in ("sentences3", "line", "paragraph"):
        result = run_step(LineDedup(unit=unit), [empty])
        assert result.output.num_rows == 0 and result.ledger.balanced
    assert run_step(LineDedup(), []).ledger.balanced
    step = LineDedup()
    assert step.side_table(step.finalize(step.partial(iter([]), StepContext("lines")))).num_rows == 0


def test_line_dedup_passes_null_and_empty_texts_through() -> None:
    batch = make_batch(id=["a", "b", "c", "d"], text=pa.array([None, FOOTER, "", FOOTER], pa.string()))

    result = run_step(LineDedup(unit="line"), [batch])

    assert result.output["id"].to_pylist() == ["a", "b", "c"]
    assert result.output["text"].to_pylist() == [None, FOOTER, ""]
    assert result.ledger.dropped == {"duplicate_lines": 1}


def test_line_dedup_reads_invalid_utf8_as_replacement_characters() -> None:
    bad = b"Caf\xff is open every day\n"
    texts = invalid_utf8(bad + b"first", bad + b"second", b"\xfe\xfe lonely bytes here\nok")
    batch = pa.record_batch({"id": ["1", "2", "3"], "text": texts})

    result = run_step(LineDedup(unit="line"), [batch])

    assert result.output["text"].to_pylist() == [
        "Caf\ufffd is open every day\nfirst",
        "second",
        "\ufffd\ufffd lonely bytes here\nok",
    ]
    assert result.ledger.balanced


def test_line_dedup_needs_ids() -> None:
    with pytest.raises(SchemaError, match=r"needs an `id` column"):
        run_step(LineDedup(), [pa.record_batch({"text": ["a"]})])
    with pytest.raises(SchemaError, match=r"`id` has 1 null"):
        run_step(LineDedup(), [pa.record_batch({"id": ["a", None], "text": ["x", "y"]})])


def test_line_dedup_rejects_an_unknown_unit() -> None:
    with pytest.raises(ConfigError, match=r"`unit`"):
        LineDedup(unit="sentence")


@pytest.mark.parametrize("unit", ["sentences3", "line", "paragraph"])
def test_line_dedup_handles_a_huge_single_document(unit: str) -> None:
    book = "".join(row["text"] + "\n\n" for row in corpus_rows(400))
    huge = (book * (5_000_000 // len(book) + 1))[:5_000_000]
    one_line = huge.replace("\n", " ")
    batch = make_batch(id=["big", "line", "tail"], text=[huge, one_line, huge[-20_000:]])

    result = run_step(LineDedup(unit=unit), [batch])

    assert result.ledger.balanced
    assert len(result.output["text"][0].as_py()) <= 5_000_000
    assert result.metrics["units_removed"] > 0


def _writecorpus_rows(folder: Path) -> None:
    folder.mkdir(parents=True)
    docs = corpus_rows(60, offset=200)
    for part in range(3):
        with (folder / f"part{part}.jsonl").open("w") as handle:
            for i, doc in enumerate(docs[part::3]):
                text = f"{doc['text']}\n\n{FOOTER}" if i % 2 else doc["text"]
                handle.write(json.dumps({"text": text}) + "\n")


def test_line_dedup_in_a_pipeline_gives_the_same_version_with_one_or_two_workers(tmp_path: Path) -> None:
    _writecorpus_rows(tmp_path / "crawl")
    spec = {
        "name": "ld",
        "steps": [
            {"id": "raw", "uses": "read.jsonl", "with": {"paths": ["crawl/"]}},
            {"id": "spans", "uses": "dedup.lines", "input": "raw"},
            {"id": "out", "uses": "write.dataset", "input": "spans"},
        ],
        "outputs": {"deduped": "out"},
    }

    with one_and_two_workers(spec, tmp_path) as (one, two, one_ws, two_ws):
        assert one.outputs == two.outputs
        report = two.step("spans")
        assert report.rows_in == 60 and report.rows_in == report.rows_out + sum(report.dropped.values())
        assert report.metrics["units_removed"] > 0
        assert report.explained is not None and report.explained.startswith("ld.spans.removed@")
        side = two_ws.open("ld.spans.removed").to_arrow()
        assert side.column_names == ["text", "occurrences", "kept_in", "reason"]
        assert side.to_pylist() == one_ws.open("ld.spans.removed").to_arrow().to_pylist()


def test_line_dedup_docs_example_runs(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(docs_example("Repeated lines and spans"))
    _writecorpus_rows(tmp_path / "crawl")
    ws = Workspace.init(tmp_path / "ws")
    try:
        result = Pipeline.from_yaml(tmp_path / "pipeline.yaml").run(ws)

        assert result.step("spans").metrics["units_removed"] > 0
        assert ws.open("corpus").num_rows == 60
    finally:
        ws.close()
