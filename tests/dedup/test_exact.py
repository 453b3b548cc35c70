from __future__ import annotations

import json
import math
from functools import reduce
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError, Pipeline
from datamill.core.errors import SchemaError
from datamill.dedup.exact import ExactDedup, normalize_text
from datamill.pipeline import StepContext, resolve_step
from datamill.store import Workspace
from datamill.testing import StepResult, make_batch, run_step
from tests.dedup.common import docs_example, invalid_utf8, one_and_two_workers


def _explained(step: ExactDedup, *partitions: list[pa.RecordBatch]) -> dict[str, str]:
    """dropped id → the id it duplicates, from the side table (one partial state per partition)."""
    states = [step.partial(iter(batches), StepContext("dedup", shard_index=i)) for i, batches in enumerate(partitions)]
    model = step.finalize(reduce(step.merge, states))
    table = step.side_table(model)
    return dict(zip(table["id"].to_pylist(), table["duplicate_of"].to_pylist(), strict=True))


def _kept(result: StepResult) -> list[str]:
    return sorted(result.output["id"].to_pylist())


def test_exact_dedup_is_the_registered_dedup_exact_step() -> None:
    assert resolve_step("dedup.exact") is ExactDedup


def test_exact_dedup_drops_case_and_space_variants_by_default() -> None:
    batch = make_batch(id=["a", "b", "c"], text=["Hello  World", "hello world", "Goodbye"])

    result = run_step(ExactDedup(), [batch])

    assert _kept(result) == ["a", "c"]
    assert result.ledger.dropped == {"exact_duplicate": 1}
    assert result.ledger.rows_in == result.ledger.rows_out + 1
    assert result.ledger.balanced
    assert result.metrics["duplicates"] == 1


def test_exact_dedup_compares_raw_text_without_normalisation() -> None:
    batch = make_batch(id=["a", "b", "c"], text=["Hello  World", "hello world", "Hello  World"])

    result = run_step(ExactDedup(normalize=[]), [batch])

    assert _kept(result) == ["a", "b"]
    assert _explained(ExactDedup(normalize=[]), [batch]) == {"c": "a"}


@pytest.mark.parametrize(
    ("normalize", "left", "right"),
    [
        (["punctuation"], "Well, well... «yes»!", "Well well yes"),
        (["digits"], "Page 3 of 10 ٣", "Page 7 of 99 ٧"),
        (["nfkc"], "ﬁne Ｆｏｏ x²", "fine Foo x2"),
        (["lower"], "ÉCOLE", "école"),
        (["whitespace"], " a\u00a0\t b\u2028c\n", "a b c"),
        (["nfkc", "lower", "punctuation", "digits", "whitespace"], "  Ｐａｇｅ 12 — “OK”! ", "page 00 ok"),
    ],
)
def test_exact_dedup_normalisation_options_make_variants_equal(normalize: list[str], left: str, right: str) -> None:
    batch = make_batch(id=["a", "b"], text=[left, right])

    assert _kept(run_step(ExactDedup(normalize=normalize), [batch])) == ["a"]
    assert _kept(run_step(ExactDedup(normalize=[]), [batch])) == ["a", "b"]


def test_exact_dedup_applies_normalisation_in_a_fixed_order_whatever_the_config_says() -> None:
    step = ExactDedup(normalize=["whitespace", "digits", "nfkc", "lower", "whitespace"])

    assert step.config.normalize == ["nfkc", "lower", "digits", "whitespace"]
    # punctuation goes before whitespace: the space left behind by a removed dash is collapsed.
    assert normalize_text(pa.array(["a - b"]), ["whitespace", "punctuation"]).to_pylist() == ["a b"]


def test_exact_dedup_keep_first_keeps_the_smallest_id_not_the_first_row() -> None:
    batch = make_batch(id=["f:2", "f:10", "f:3"], text=["same", "same", "same"])

    result = run_step(ExactDedup(keep="first"), [batch])

    assert _kept(result) == ["f:10"]
    assert _explained(ExactDedup(), [batch]) == {"f:2": "f:10", "f:3": "f:10"}


def test_exact_dedup_keep_longest_keeps_the_longest_text_and_breaks_ties_by_id() -> None:
    batch = make_batch(id=["a", "b", "c", "d", "e"], text=["x  y", "X Y", "x   y", "p q", " P  Q "])

    result = run_step(ExactDedup(keep="longest"), [batch])

    assert _kept(result) == ["c", "e"]
    assert _explained(ExactDedup(keep="longest"), [batch]) == {"a": "c", "b": "c", "d": "e"}

    tie = make_batch(id=["b", "a"], text=["Same", "same"])
    assert _kept(run_step(ExactDedup(keep="longest"), [tie])) == ["a"]


def test_exact_dedup_keep_best_keeps_the_highest_score_and_null_or_nan_lose() -> None:
    batch = make_batch(
        id=["a", "b", "c", "d", "e", "f"],
        text=["one", "one", "one", "two", "two", "two"],
        quality=[0.5, 0.9, None, float("nan"), None, -1.0],
    )

    result = run_step(ExactDedup(keep="best", score_column="quality"), [batch])

    assert _kept(result) == ["b", "f"]
    step = ExactDedup(keep="best", score_column="quality")
    assert _explained(step, [batch]) == {"a": "b", "c": "b", "d": "f", "e": "f"}


def test_exact_dedup_keep_best_breaks_ties_by_the_smallest_id() -> None:
    batch = make_batch(id=["z", "m", "q"], text=["t", "t", "t"], score=[3, 3, 1])

    assert _kept(run_step(ExactDedup(keep="best", score_column="score"), [batch])) == ["m"]


def test_exact_dedup_keep_best_needs_a_score_column() -> None:
    with pytest.raises(ConfigError, match=r"`keep: best` needs `score_column`"):
        ExactDedup(keep="best")
    with pytest.raises(ConfigError, match=r"`score_column` is only used with `keep: best`"):
        ExactDedup(score_column="quality")


def test_exact_dedup_keep_best_rejects_a_score_column_that_is_not_numeric() -> None:
    batch = make_batch(text=["a", "a"], score=["high", "low"])

    with pytest.raises(SchemaError, match=r"`score` \(`score_column`\) to be numeric; it holds string"):
        run_step(ExactDedup(keep="best", score_column="score"), [batch])


def test_exact_dedup_rejects_unknown_normalisation_and_normalize_with_columns() -> None:
    with pytest.raises(ConfigError, match=r"`normalize.0`"):
        ExactDedup(normalize=["stem"])
    with pytest.raises(ConfigError, match=r"with `columns` values compare exactly"):
        ExactDedup(columns=["url"], normalize=["lower"])


def test_exact_dedup_on_columns_compares_values_and_nulls_equal_nulls() -> None:
    batch = make_batch(
        id=["a", "b", "c", "d", "e", "f", "g"],
        text=["1", "2", "3", "4", "5", "6", "7"],
        url=["x.org", "x.org", None, None, "X.org", "y.org", "y.org"],
        page=[1, 1, 2, 2, 1, 1, None],
    )

    one = run_step(ExactDedup(columns=["url"]), [batch])
    two = run_step(ExactDedup(columns=["url", "page"]), [batch])

    assert _kept(one) == ["a", "c", "e", "f"]
    assert _explained(ExactDedup(columns=["url"]), [batch]) == {"b": "a", "d": "c", "g": "f"}
    assert _kept(two) == ["a", "c", "e", "f", "g"]
    assert one.ledger.balanced and two.ledger.balanced


def test_exact_dedup_on_columns_keeps_kinds_apart_and_folds_signed_zero_and_nan() -> None:
    batch = pa.record_batch(
        {
            "id": ["a", "b", "c", "d", "e", "f", "g"],
            "n": pa.array([1, 1, None, 4, 5, 6, 7], pa.int64()),
            "x": pa.array([1.0, 1.0, 0.0, -0.0, float("nan"), float("nan"), None], pa.float64()),
            "s": ["1", "1", "z", "z", "w", "w", None],
        }
    )

    assert _kept(run_step(ExactDedup(columns=["x"]), [batch])) == ["a", "c", "e", "g"]
    assert _kept(run_step(ExactDedup(columns=["n", "x", "s"]), [batch])) == ["a", "c", "d", "e", "f", "g"]
    assert _explained(ExactDedup(columns=["n", "x", "s"]), [batch]) == {"b": "a"}
    # a column typed differently in another shard: the integer 1, the float 1.0 and the text "1" differ.
    shards = [
        [pa.record_batch({"id": [name], "v": pa.array([value])})]
        for name, value in (("int", 1), ("float", 1.0), ("text", "1"), ("int2", 1))
    ]
    assert _explained(ExactDedup(columns=["v"]), *shards) == {"int2": "int"}


def test_exact_dedup_on_columns_handles_dates_lists_and_dictionaries() -> None:
    import datetime as dt

    day = dt.date(2024, 5, 1)
    batch = pa.record_batch(
        {
            "id": ["a", "b", "c", "d"],
            "day": pa.array([day, day, day, None], pa.date32()),
            "tags": pa.array([["x", "y"], ["x", "y"], ["y", "x"], None]),
            "lang": pa.array(["en", "en", "en", "en"]).dictionary_encode(),
        }
    )

    result = run_step(ExactDedup(columns=["day", "tags", "lang"]), [batch])

    assert _kept(result) == ["a", "c", "d"]


def test_exact_dedup_says_which_key_column_is_missing() -> None:
    with pytest.raises(SchemaError, match=r"keys on 'url', which the input lacks; it has id, text"):
        run_step(ExactDedup(columns=["url"]), [make_batch(text=["a"])])


def test_exact_dedup_annotate_keeps_every_row_and_names_the_survivor() -> None:
    batch = make_batch(id=["b", "a", "c", "d", "e"], text=["Hi  there", "hi there", "HI THERE", None, "alone"])

    result = run_step(ExactDedup(mode="annotate"), [batch])

    out = result.output.sort_by("id")
    assert out["id"].to_pylist() == ["a", "b", "c", "d", "e"]
    assert out["duplicate_of"].to_pylist() == [None, "a", "a", None, None]
    assert out["dup_group_size"].to_pylist() == [3, 3, 3, 1, 1]
    assert result.output.schema.field("dup_group_size").type == pa.int64()
    assert result.ledger.dropped == {} and result.ledger.rows_out == 5 and result.ledger.balanced
    assert result.metrics["duplicates"] == 2
    assert ExactDedup(mode="annotate").output_schema([batch.schema]) == result.output.schema


def test_exact_dedup_annotate_replaces_columns_of_an_earlier_annotation() -> None:
    batch = make_batch(id=["a", "b"], text=["x", "x"], duplicate_of=["old", "old"], dup_group_size=[9, 9])

    out = run_step(ExactDedup(mode="annotate"), [batch]).output

    assert out.column_names == ["id", "text", "duplicate_of", "dup_group_size"]
    assert out["duplicate_of"].to_pylist() == [None, "a"]
    assert out["dup_group_size"].to_pylist() == [2, 2]


def test_exact_dedup_side_table_explains_every_dropped_row() -> None:
    batch = make_batch(id=["c", "b", "a", "d"], text=["x", "X", "x ", "y"])
    step = ExactDedup(reason="repeated_text")

    model = step.finalize(step.partial(iter([batch]), StepContext("dedup")))
    table = step.side_table(model)
    result = run_step(step, [batch])

    assert table.to_pylist() == [
        {"id": "b", "duplicate_of": "a", "group_size": 3, "reason": "repeated_text"},
        {"id": "c", "duplicate_of": "a", "group_size": 3, "reason": "repeated_text"},
    ]
    assert table.schema.names == ["id", "duplicate_of", "group_size", "reason"]
    assert result.ledger.dropped == {"repeated_text": 2}
    assert set(table["id"].to_pylist()).isdisjoint(result.output["id"].to_pylist())
    assert set(table["duplicate_of"].to_pylist()) <= set(result.output["id"].to_pylist())


def test_exact_dedup_keeps_every_null_or_empty_text() -> None:
    batch = make_batch(id=["a", "b", "c", "d", "e", "f"], text=[None, None, "", "", "   ", "\t\n"])

    result = run_step(ExactDedup(), [batch])
    punct = run_step(ExactDedup(normalize=["punctuation"]), [make_batch(text=["!!", "?", "!!"])])

    assert _kept(result) == ["a", "b", "c", "d", "e", "f"]
    assert result.ledger.dropped == {}
    assert _kept(punct) == ["0", "1", "2"]
    # without normalisation a blank text is text like any other; only "" has no key.
    assert _kept(run_step(ExactDedup(normalize=[]), [batch])) == ["a", "b", "c", "d", "e", "f"]
    spaces = make_batch(text=["  ", "  ", ""])
    assert _kept(run_step(ExactDedup(normalize=[]), [spaces])) == ["0", "2"]


def test_exact_dedup_rejects_repeated_ids_and_names_one() -> None:
    left = make_batch(id=["a", "b"], text=["x", "y"])
    right = make_batch(id=["c", "a"], text=["z", "x"])

    with pytest.raises(SchemaError, match=r"ids must be unique.*id 'a' occurs 2 times.*`concat` `id_prefixes`"):
        run_step(ExactDedup(), partitions=[[left], [right]])


def test_exact_dedup_counts_how_many_ids_repeat() -> None:
    batch = make_batch(id=["a", "a", "a", "b", "b", "c"], text=[None] * 6)

    with pytest.raises(SchemaError, match=r"id 'a' occurs 3 times \(and 1 more ids repeat\)"):
        run_step(ExactDedup(), [batch])


def test_exact_dedup_needs_an_id_column_and_says_how_to_get_one() -> None:
    batch = pa.record_batch({"text": ["a", "a"]})

    with pytest.raises(SchemaError, match=r"needs an `id` column.*Readers add one.*`rename`"):
        run_step(ExactDedup(), [batch])
    with pytest.raises(SchemaError, match=r"`id` has 1 null value"):
        run_step(ExactDedup(), [pa.record_batch({"id": ["a", None], "text": ["x", "y"]})])


def test_exact_dedup_casts_integer_ids_to_strings() -> None:
    batch = pa.record_batch({"id": [10, 9], "text": ["a", "a"]})

    result = run_step(ExactDedup(), [batch])

    assert result.output["id"].to_pylist() == [10]  # "10" < "9" as text


def test_exact_dedup_on_empty_input() -> None:
    empty = make_batch(id=pa.array([], pa.string()), text=pa.array([], pa.string()))

    for step in (ExactDedup(), ExactDedup(mode="annotate"), ExactDedup(columns=["text"])):
        result = run_step(step, [empty])
        assert result.output.num_rows == 0
        assert result.ledger.rows_in == 0 and result.ledger.balanced
    nothing = run_step(ExactDedup(), [])
    assert nothing.output.num_rows == 0 and nothing.ledger.balanced
    step = ExactDedup()
    assert step.side_table(step.finalize(step.partial(iter([]), StepContext("dedup")))).num_rows == 0


def test_exact_dedup_survivesinvalid_utf8() -> None:
    texts = invalid_utf8(b"a\xff", b"A\xff", b"a\xfe", b"ok", b"a\xff")
    batch = pa.record_batch({"id": ["1", "2", "3", "4", "5"], "text": texts})

    raw = run_step(ExactDedup(normalize=[]), [batch])
    normalised = run_step(ExactDedup(), [batch])
    by_column = run_step(ExactDedup(columns=["text"]), [batch])
    longest = run_step(ExactDedup(keep="longest", mode="annotate"), [batch])

    assert _kept(raw) == ["1", "2", "3", "4"]  # raw bytes: only the exact copy goes
    assert _kept(by_column) == ["1", "2", "3", "4"]
    # normalising reads bad bytes as U+FFFD first, so the three variants are one text.
    assert _kept(normalised) == ["1", "4"]
    assert normalised.ledger.balanced and raw.ledger.balanced and longest.ledger.rows_out == 5
    # the kept rows are passed on as they came, bytes and all.
    assert normalised.output["text"].cast(pa.binary()).to_pylist() == [b"a\xff", b"ok"]


def test_exact_dedup_survivors_do_not_depend_on_partitioning() -> None:
    ids = [f"doc{i:03d}" for i in range(300)]
    texts = [f"Text number {i % 37}" if i % 3 else f"TEXT   number {i % 37}" for i in range(300)]
    batch = make_batch(id=ids, text=texts, score=[float(i % 5) for i in range(300)])
    step = ExactDedup(keep="best", score_column="score")

    whole = run_step(step, [batch])
    split = run_step(step, partitions=[[batch.slice(200)], [batch.slice(0, 70), batch.slice(70, 130)]])

    assert _kept(whole) == _kept(split)
    assert whole.output.num_rows == 37
    assert split.ledger.rows_in == 300 and split.ledger.dropped == {"exact_duplicate": 263}


_TEXTS = st.one_of(
    st.none(), st.sampled_from(["a", "A", " a ", "a b", "A  B", "b", "", "  ", "c\u00a0d", "C d", "é", "É"])
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.text(min_size=1, max_size=4), _TEXTS, st.one_of(st.none(), st.integers(0, 3))),
        max_size=40,
        unique_by=lambda row: row[0],
    ),
    cuts=st.lists(st.integers(0, 40), max_size=4),
    keep=st.sampled_from(["first", "longest", "best"]),
)
def test_exact_dedup_same_survivors_and_explanations_however_the_rows_are_split(
    rows: list[tuple[str, str | None, int | None]], cuts: list[int], keep: str
) -> None:
    batch = make_batch(
        id=[r[0] for r in rows],
        text=pa.array([r[1] for r in rows], pa.string()),
        score=pa.array([r[2] for r in rows], pa.int64()),
    )
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    partitions = [[batch.slice(lo, hi - lo)] for lo, hi in pairwise(bounds)]
    options: dict[str, Any] = {"keep": keep, "score_column": "score" if keep == "best" else None}
    step = ExactDedup(**options)

    whole = run_step(step, [batch])
    split = run_step(step, partitions=partitions or [[batch]])
    explained = _explained(step, [batch])
    explained_split = _explained(step, *(partitions or [[batch]]))

    # the reference: group by normalised text, best rank first, then the smallest id
    keys = normalize_text(batch["text"], ["lower", "whitespace"]).to_pylist()
    groups: dict[str, list[tuple[float, str]]] = {}
    for (row_id, text, score), key in zip(rows, keys, strict=True):
        if key:
            rank = {"first": 0.0, "longest": float(len(text or "")), "best": -math.inf if score is None else score}
            groups.setdefault(key, []).append((-rank[keep], row_id))
    expected = {}
    for members in groups.values():
        survivor = min(members)[1]
        expected.update({row_id: survivor for _, row_id in members if row_id != survivor})

    assert explained == explained_split == expected
    assert _kept(whole) == _kept(split) == sorted(r[0] for r in rows if r[0] not in expected)
    assert split.ledger.rows_in == len(rows) == split.ledger.rows_out + len(expected)
    assert split.ledger.balanced


def _write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    docs = [
        [{"text": "The cat sat on the mat."}, {"text": "A dog barked."}, {"text": "the cat  sat on the mat."}],
        [{"text": "A DOG BARKED."}, {"text": None}, {"text": "Fresh news today."}],
        [{"text": "Fresh news   today."}, {"text": ""}, {"text": "The cat sat on the mat."}],
    ]
    for i, lines in enumerate(docs):
        (folder / f"part{i}.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_exact_dedup_in_a_pipeline_gives_the_same_version_with_one_or_two_workers(tmp_path: Path) -> None:
    _write_corpus(tmp_path / "crawl")
    spec = {
        "name": "dd",
        "steps": [
            {"id": "raw", "uses": "read.jsonl", "with": {"paths": ["crawl/"]}},
            {"id": "dedup", "uses": "dedup.exact", "input": "raw", "with": {"keep": "longest"}},
            {"id": "out", "uses": "write.dataset", "input": "dedup"},
        ],
        "outputs": {"deduped": "out"},
    }

    with one_and_two_workers(spec, tmp_path) as (one, two, _, two_ws):
        assert one.outputs == two.outputs
        report = two.step("dedup")
        assert report.rows_in == 9 and report.dropped == {"exact_duplicate": 4}
        assert report.rows_in == report.rows_out + report.dropped["exact_duplicate"]
        kept = sorted(two_ws.open("deduped").to_arrow(["id"])["id"].to_pylist())
        assert kept == ["part0.jsonl:2", "part0.jsonl:3", "part1.jsonl:2", "part2.jsonl:1", "part2.jsonl:2"]


def test_exact_dedup_docs_example_runs(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(docs_example("Exact duplicates"))
    _write_corpus(tmp_path / "crawl")
    ws = Workspace.init(tmp_path / "ws")
    try:
        result = Pipeline.from_yaml(tmp_path / "pipeline.yaml").run(ws)

        assert result.step("unique").dropped == {"exact_duplicate": 4}
        assert ws.open("corpus").num_rows == 5
    finally:
        ws.close()
