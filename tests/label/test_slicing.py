"""Slicing functions: each form, masks, errors, summaries, the ``label.slices`` step and real comments."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, NotFoundError, PipelineError, SchemaError
from datamill.label.slicing import (
    KeywordSlice,
    LabelSlices,
    RangeSlice,
    RegexSlice,
    SliceErrorWarning,
    SliceExpr,
    SliceSet,
    ValueSlice,
    apply_slices,
    load_slices,
    slice_summary,
    slice_table,
    slicing_function,
)
from datamill.testing import make_batch, run_step
from tests.conftest import SHARED_DATA, unavailable

SPAM = SHARED_DATA / "youtube_spam"

SLICE_FILE = '''
from datamill.label.slicing import KeywordSlice, slicing_function

mentions_song = KeywordSlice("mentions_song", ["song"])


@slicing_function
def fragile(x):
    if "boom" in x.text:
        raise ValueError("no parse")
    return x.text.endswith("!")
'''


@slicing_function
def shouting(text: str) -> bool:
    return text.isupper()


def test_each_column_form() -> None:
    batch = make_batch(text=["Check my channel http://x.co", "great SONG", None, "songbird"],
                       n=[1, 5, None, 10], video=["psy", "katy", "psy", None])

    def mask(s: object) -> list[bool]:
        return s.mask(batch).mask.tolist()  # type: ignore[attr-defined,no-any-return]

    assert mask(SliceExpr("big", pl.col("n") >= 5)) == [False, True, False, True]
    assert mask(SliceExpr("big_text", "pl.col('n') >= 5")) == [False, True, False, True]
    assert mask(ValueSlice("psy", "video", "psy")) == [True, False, True, False]
    assert mask(ValueSlice("two", "n", values=[1, 10])) == [True, False, False, True]
    assert mask(KeywordSlice("song", ["song"])) == [False, True, False, False]
    assert mask(KeywordSlice("song_any", ["song"], whole_words=False)) == [False, True, False, True]
    assert mask(RegexSlice("url", r"https?://")) == [True, False, False, False]
    assert mask(RangeSlice("mid", "n", min=2, max=10)) == [False, True, False, True]
    assert mask(RangeSlice("short", "text", max=2, measure="words")) == [False, True, False, True]
    assert mask(RangeSlice("long", "text", min=20, measure="chars")) == [True, False, False, False]


def test_column_forms_refuse_what_they_cannot_do() -> None:
    batch = make_batch(text=["a"], n=[1])
    with pytest.raises(ConfigError, match="not a valid RE2 expression"):
        RegexSlice("bad", "(")
    with pytest.raises(ConfigError, match="give `min`, `max` or both"):
        RangeSlice("none", "n")
    with pytest.raises(ConfigError, match="not booleans"):
        SliceExpr("num", pl.col("n") + 1).mask(batch)
    with pytest.raises(ConfigError, match="cannot evaluate"):
        SliceExpr("broken", "pl.col('n') >")
    with pytest.raises(SchemaError, match="reads the column `body`"):
        KeywordSlice("kw", ["a"], column="body").mask(batch)
    with pytest.raises(SchemaError, match="needs `n` to hold text"):
        RegexSlice("re", "a", column="n").mask(batch)
    with pytest.raises(SchemaError, match="cannot be compared"):
        ValueSlice("v", "n", "not a number").mask(batch)
    with pytest.raises(ConfigError, match="a slice name is a word"):
        KeywordSlice("has space", ["a"])
    with pytest.raises(ConfigError, match="two slices are named 'a'"):
        SliceSet.of([KeywordSlice("a", ["x"]), RegexSlice("a", "y")])


rows = st.lists(st.fixed_dictionaries({
    "text": st.one_of(st.none(), st.text(alphabet=st.sampled_from("ab cAB!\u00e9\n"), max_size=12)),
    "n": st.one_of(st.none(), st.integers(-5, 5)),
}), min_size=1, max_size=40)


@settings(max_examples=50, deadline=None)
@given(data=rows)
def test_vectorised_masks_equal_the_record_function_form(data: list[dict[str, object]]) -> None:
    table = pa.Table.from_pylist(data, schema=pa.schema([("text", pa.string()), ("n", pa.int64())]))

    def words(t: str | None) -> int:
        return len(t.split()) if t is not None else -1

    pairs = [
        (KeywordSlice("kw", ["ab"]), lambda x: x["text"] is not None and re.search(r"\bab\b", x["text"], re.I)),
        (RegexSlice("re", "a+b"), lambda x: x["text"] is not None and re.search("a+b", x["text"])),
        (ValueSlice("val", "n", 2), lambda x: x["n"] == 2),
        (RangeSlice("rng", "n", min=-1, max=3), lambda x: x["n"] is not None and -1 <= x["n"] <= 3),
        (RangeSlice("wrd", "text", max=1, measure="words"), lambda x: x["text"] is not None and words(x["text"]) <= 1),
        (RangeSlice("chr", "text", min=3, measure="chars"), lambda x: x["text"] is not None and len(x["text"]) >= 3),
        (SliceExpr("expr", pl.col("n") > 0), lambda x: x["n"] is not None and x["n"] > 0),
    ]
    vectorised = apply_slices(table, [s for s, _ in pairs])
    by_record = apply_slices(table, [slicing_function(fn, name=f"py_{s.name}") for s, fn in pairs])

    for s, _ in pairs:
        assert vectorised[s.name].tolist() == by_record[f"py_{s.name}"].tolist(), s.name
    assert vectorised.error_counts == dict.fromkeys(vectorised, 0)


def test_a_raising_slicing_function_is_counted_and_reported_never_silent() -> None:
    data = pa.table({"text": ["LOUD", None, "quiet", None]})

    with pytest.warns(SliceErrorWarning, match=r"'shouting' on 2 row\(s\); first: row 1: shouting: AttributeError"):
        masks = apply_slices(data, [shouting])
    assert masks["shouting"].tolist() == [True, False, False, False]
    assert masks.error_counts == {"shouting": 2} and sorted(masks.errors["shouting"]) == [1, 3]
    with pytest.raises(PipelineError, match="slicing functions raised"):
        apply_slices(data, [shouting], on_error="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = slice_table(data, [shouting])
    assert table.column("slice:shouting").to_pylist() == [True, None, False, None]
    assert slice_summary(masks).column("errors").to_pylist() == [0, 2]


def test_slice_summary_numbers_on_a_hand_example() -> None:
    masks = {"short": np.array([True, True, True, False, False, False]),
             "url": np.array([False, False, False, True, True, False])}
    labels = ["ham", "ham", "spam", "spam", "spam", None]
    predictions = ["ham", "spam", "spam", "spam", "ham", "ham"]

    table = slice_summary(masks, labels, predictions)

    assert table.column_names == ["slice", "size", "share", "errors", "labelled", "label:ham", "label:spam",
                                  "correct", "accuracy", "accuracy_delta"]
    got = {r["slice"]: r for r in table.to_pylist()}
    assert got["(all)"] == {"slice": "(all)", "size": 6, "share": 1.0, "errors": 0, "labelled": 5, "label:ham": 0.4,
                            "label:spam": 0.6, "correct": 3, "accuracy": 0.6, "accuracy_delta": 0.0}
    assert got["short"]["share"] == 0.5 and got["short"]["label:ham"] == pytest.approx(2 / 3)
    assert got["short"]["accuracy"] == pytest.approx(2 / 3)
    assert got["short"]["accuracy_delta"] == pytest.approx(2 / 3 - 0.6)
    assert got["url"] == {"slice": "url", "size": 2, "share": pytest.approx(1 / 3), "errors": 0, "labelled": 2,
                          "label:ham": 0.0, "label:spam": 1.0, "correct": 1, "accuracy": 0.5,
                          "accuracy_delta": pytest.approx(-0.1)}
    ints = slice_summary(masks, np.array([0, 0, 1, 1, 1, -1]))
    assert ints.column("labelled").to_pylist() == [5, 3, 2] and "label:-1" not in ints.column_names
    with pytest.raises(ConfigError, match="needs the gold `labels`"):
        slice_summary(masks, predictions=predictions)
    with pytest.raises(ConfigError, match="different lengths"):
        slice_summary({"a": np.ones(2, bool), "b": np.ones(3, bool)})
    empty = slice_summary({"a": np.zeros(3, bool)}, ["x", "y", "x"], ["x", "x", "x"])
    assert empty.to_pylist()[1]["accuracy"] is None and empty.to_pylist()[1]["label:x"] is None


def test_load_slices_reads_a_python_file(tmp_path: Path) -> None:
    path = tmp_path / "slices.py"
    path.write_text(SLICE_FILE, encoding="utf-8")
    assert load_slices(path).names == ["mentions_song", "fragile"]
    listed = tmp_path / "listed.py"
    listed.write_text(SLICE_FILE + "\nSLICES = [fragile]\n", encoding="utf-8")
    assert load_slices(listed).names == ["fragile"]
    with pytest.raises(NotFoundError, match="does not exist"):
        load_slices(tmp_path / "nope.py")
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="defines no slicing function"):
        load_slices(empty)
    wrong = tmp_path / "wrong.py"
    wrong.write_text("SLICES = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="`SLICES` must be a list"):
        load_slices(wrong)


@pytest.mark.parametrize("on_error", ["keep", "quarantine"])
def test_the_step_adds_slice_columns_and_balances(tmp_path: Path, on_error: str) -> None:
    (tmp_path / "slices.py").write_text(SLICE_FILE, encoding="utf-8")
    step = LabelSlices(file=str(tmp_path / "slices.py"), on_error=on_error,
                       slices=[{"name": "short", "column": "text", "max": 2, "measure": "words"},
                               {"name": "has_url", "regex": "https?://"}])
    batch = make_batch(text=["nice song!", "boom boom", "see http://x.co and more", "so good"])

    result = run_step(step, [batch])

    assert result.ledger.balanced
    assert result.metrics == {"slice.mentions_song": 1.0, "errors.mentions_song": 0.0, "slice.fragile": 1.0,
                              "errors.fragile": 1.0, "slice.short": 3.0, "errors.short": 0.0,
                              "slice.has_url": 1.0, "errors.has_url": 0.0}
    assert step.output_schema([batch.schema]) == result.output.schema
    assert step.code_hashes() and len(step.code_hashes()[0]) == 64
    if on_error == "keep":
        assert result.output.column("slice:fragile").to_pylist() == [True, None, False, False]
        assert result.output.column("slice:short").to_pylist() == [True, True, False, True]
    else:
        assert result.ledger.quarantined == {"slice_error": 1}
        assert result.quarantine.column("error").to_pylist() == ["fragile: ValueError: no parse"]
        assert result.output.column("id").to_pylist() == ["0", "2", "3"]
    with pytest.raises(ConfigError, match="give exactly one of expr, keywords"):
        LabelSlices(slices=[{"name": "x", "regex": "a", "keywords": ["b"]}])
    with pytest.raises(ConfigError, match="`value` needs `column`"):
        LabelSlices(slices=[{"name": "x", "value": 3}])
    with pytest.raises(ConfigError, match="give slicing functions"):
        LabelSlices()


def _comments() -> pa.Table:
    if not SPAM.is_dir():
        unavailable(f"the YouTube spam data is not at {SPAM}")
    tables = [pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"DATE": pa.string()}))
              .select(["CONTENT", "CLASS"]) for path in sorted(SPAM.glob("Youtube0*.csv"))]
    return pa.concat_tables(tables).rename_columns(["text", "label"])


def test_slices_of_real_youtube_comments_and_their_spam_share() -> None:
    comments = _comments()
    slices = [RangeSlice("short_comment", "text", max=5, measure="words"),
              RegexSlice("has_url", r"https?://|www\.", ignore_case=True),
              KeywordSlice("says_subscribe", ["subscribe", "sub"])]

    masks = apply_slices(comments, slices)
    table = slice_summary(masks, comments.column("label"))

    texts, labels = comments.column("text").to_pylist(), comments.column("label").to_pylist()
    assert comments.num_rows == 1956 and sum(labels) == 1005
    expected = {
        "short_comment": [len(t.split()) <= 5 for t in texts],
        "has_url": [re.search(r"https?://|www\.", t, re.I) is not None for t in texts],
        "says_subscribe": [re.search(r"\b(?:subscribe|sub)\b", t, re.I) is not None for t in texts],
    }
    got = {r["slice"]: r for r in table.to_pylist()}
    for name, mask in expected.items():
        assert masks[name].tolist() == mask
        spam = sum(label for label, m in zip(labels, mask, strict=True) if m)
        assert got[name]["size"] == sum(mask)
        assert got[name]["label:1"] == pytest.approx(spam / sum(mask))
    assert got["(all)"]["label:1"] == pytest.approx(1005 / 1956)
    # Links and "subscribe" are spam's signature; short comments are mostly ham.
    assert got["has_url"]["label:1"] > 0.9 and got["says_subscribe"]["label:1"] > 0.9
    assert got["short_comment"]["label:1"] < 0.3
