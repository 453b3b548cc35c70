"""Labelling functions: row LFs, column LFs, class names, abstains and errors."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, SchemaError
from datamill.label import (
    ABSTAIN,
    ColumnLF,
    ExprLF,
    KeywordLF,
    LengthLF,
    ModelLF,
    RegexLF,
    SimilarityLF,
    UrlLF,
    labeling_function,
)

LABELS = ("ham", "spam")


def _batch(*texts: str | None) -> pa.RecordBatch:
    return pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.string())})


def _invalid_utf8() -> pa.Array:
    """Three texts, the second with bytes that are not UTF-8."""
    parts = [b"ok", b"bad\xff\xfe subscribe", b"fine"]
    offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), 3, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(parts))])


def test_labeling_function_takes_the_record_a_column_or_resources() -> None:
    @labeling_function(labels=LABELS)
    def by_record(x: Any) -> str | None:
        return "spam" if "win" in x.text else None

    @labeling_function(labels=LABELS, resources={"words": {"song", "dance"}})
    def by_column(text: str, words: set[str]) -> str | None:
        return "ham" if words & set(text.split()) else None

    @labeling_function
    def by_index(row: Any) -> int | None:
        return 1 if row["n"] > 2 else None

    batch = pa.record_batch({"text": ["win now", "a song", "nothing"], "n": [3, 1, 5]})

    assert by_record.vote(batch).votes.tolist() == [1, -1, -1]
    assert by_column.vote(batch).votes.tolist() == [-1, 0, -1]
    assert by_index.vote(batch).votes.tolist() == [1, -1, 1]
    assert by_column({"text": "sing a song"}) == "ham"  # the function, called as written


def test_labeling_function_exception_is_an_error_not_an_abstain() -> None:
    @labeling_function(labels=LABELS)
    def fragile(text: str) -> str | None:
        if text == "boom":
            raise RuntimeError("cannot parse")
        return "spam" if "buy" in text else None

    result = fragile.vote(_batch("buy", "boom", "hello"))

    assert result.votes.tolist() == [1, ABSTAIN, ABSTAIN]
    assert result.errors == {1: "fragile: RuntimeError: cannot parse"}


def test_labeling_function_unknown_class_is_an_error_naming_the_classes() -> None:
    @labeling_function(labels=LABELS)
    def typo(text: str) -> str:
        return "spma"

    @labeling_function(labels=LABELS)
    def too_big(text: str) -> int:
        return 2

    @labeling_function(labels=LABELS)
    def says_true(text: str) -> bool:
        return True

    for lf in (typo, too_big, says_true):
        errors = lf.vote(_batch("x")).errors
        assert list(errors) == [0]
        assert "0 or 'ham', 1 or 'spam'" in errors[0]


def test_labeling_function_minus_one_and_none_abstain() -> None:
    @labeling_function
    def snorkel_style(x: Any) -> int:
        return -1 if x.text == "a" else 0

    assert snorkel_style.vote(_batch("a", "b")).votes.tolist() == [-1, 0]


def test_labeling_function_needs_a_record_parameter_and_known_resources() -> None:
    with pytest.raises(ConfigError, match=r"no parameter for the resource\(s\) 'words'"):
        labeling_function(lambda x: None, name="f", resources={"words": []})
    with pytest.raises(ConfigError, match="takes no record"):
        labeling_function(lambda words: None, name="g", resources={"words": []})
    with pytest.raises(ConfigError, match="an LF name is a word"):
        labeling_function(lambda x: None, name="has space")


def test_row_lf_reading_a_missing_column_is_a_schema_error() -> None:
    @labeling_function
    def reads_body(body: str) -> int | None:
        return None

    with pytest.raises(SchemaError, match=r"reads the column `body`.*it has id, text"):
        reads_body.vote(_batch("x"))


def test_keyword_lf_matches_whole_words_ignoring_case_or_substrings() -> None:
    batch = _batch("My channel", "mystery", "ENEMY of my", None)

    words = KeywordLF("my", ["my"], "spam", labels=LABELS).vote(batch).votes.tolist()
    anywhere = KeywordLF("my_any", ["my"], "spam", whole_words=False, labels=LABELS).vote(batch).votes.tolist()

    assert words == [1, -1, 1, -1]
    assert anywhere == [1, 1, 1, -1]


def test_keyword_lf_escapes_regex_characters() -> None:
    lf = KeywordLF("price", ["$5", "a.b"], 1, whole_words=False)

    assert lf.vote(_batch("only $5!", "axb", "a.b")).votes.tolist() == [1, -1, 1]


def test_regex_lf_and_url_lf_vote_where_they_match() -> None:
    batch = _batch("Check it OUT", "checkout", "visit https://x.io", "www.site.com", "no link")

    assert RegexLF("co", r"check.*out", 1, ignore_case=True).vote(batch).votes.tolist() == [1, 1, -1, -1, -1]
    assert UrlLF("url", 1).vote(batch).votes.tolist() == [-1, -1, 1, 1, -1]


def test_regex_lf_rejects_a_bad_pattern() -> None:
    with pytest.raises(ConfigError, match="not a valid RE2 expression"):
        RegexLF("bad", "(unclosed", 1)


def test_length_lf_counts_words_like_python_split() -> None:
    texts = ["one two three four", "  padded   text  ", "", "one two three four five", None]
    lf = LengthLF("short", 0, max_words=4)

    votes = lf.vote(_batch(*texts)).votes.tolist()

    expected = [0 if t is not None and len(t.split()) < 5 else -1 for t in texts]
    assert votes == expected
    assert LengthLF("long", 1, min_chars=10).vote(_batch("short", "long enough text")).votes.tolist() == [-1, 1]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \t\n\u00a0\u3000")), max_size=12), max_size=20))
def test_length_lf_agrees_with_python_on_any_white_space(texts: list[str]) -> None:
    votes = LengthLF("w", 0, min_words=2, max_words=3).vote(_batch(*texts)).votes.tolist()

    assert votes == [0 if 2 <= len(t.split()) <= 3 else -1 for t in texts]


def test_length_lf_needs_a_bound() -> None:
    with pytest.raises(ConfigError, match="give at least one of"):
        LengthLF("x", 0)


def test_text_lfs_abstain_on_null_and_read_invalid_utf8() -> None:
    batch = pa.record_batch({"text": _invalid_utf8()})

    votes = KeywordLF("sub", ["subscribe"], 1).vote(batch).votes.tolist()

    assert votes == [-1, 1, -1]


def test_expr_lf_votes_from_a_boolean_or_from_values() -> None:
    batch = pa.record_batch({"text": ["BUY NOW", "hi"], "score": [0.9, 0.1]})

    caps = ExprLF("caps", pl.col("text").str.count_matches("[A-Z]") > 3, label="spam", labels=LABELS)
    graded = ExprLF("graded", pl.when(pl.col("score") > 0.5).then(pl.lit("spam")).otherwise(None), labels=LABELS)

    assert caps.vote(batch).votes.tolist() == [1, -1]
    assert graded.vote(batch).votes.tolist() == [1, -1]


def test_expr_lf_boolean_without_label_and_missing_column_are_errors() -> None:
    with pytest.raises(ConfigError, match="needs `label=`"):
        ExprLF("b", pl.col("text").str.len_chars() > 1).vote(_batch("x"))
    with pytest.raises(SchemaError, match="labelling function 'c'"):
        ExprLF("c", pl.col("nope") > 1, label=1).vote(_batch("x"))


def test_column_lf_maps_values_and_quarantines_unknown_ones() -> None:
    batch = pa.record_batch({"tag": ["junk", None, "ok", "weird"]})
    lf = ColumnLF("tagger", "tag", mapping={"junk": "spam", "ok": "ham"}, labels=LABELS)

    result = lf.vote(batch)

    assert result.votes.tolist() == [1, -1, 0, -1]
    assert list(result.errors) == [3] and "'weird'" in result.errors[3]


class _Threshold:
    """A scikit-learn-style model: P(spam) is the share of capital letters."""

    classes_ = np.array([0, 1])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        share = np.array([sum(c.isupper() for c in t) / max(len(t), 1) for t in texts])
        return np.stack([1 - share, share], axis=1)


def test_model_lf_votes_where_the_model_is_confident() -> None:
    lf = ModelLF("caps_model", _Threshold(), threshold=0.8)

    assert lf.vote(_batch("BUY NOW", "hello there", "Hmm", None)).votes.tolist() == [1, 0, -1, -1]


def test_model_lf_with_a_real_scikit_learn_pipeline() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(CountVectorizer(), LogisticRegression()).fit(
        ["win money now", "free money", "nice song", "love this song"], ["spam", "spam", "ham", "ham"])
    lf = ModelLF("tfidf", model, threshold=0.5, labels=LABELS)

    assert lf.vote(_batch("money money", "song song")).votes.tolist() == [1, 0]


def test_model_lf_needs_predict_proba() -> None:
    with pytest.raises(ConfigError, match="has no `predict_proba`"):
        ModelLF("m", object())


def test_similarity_lf_votes_the_closest_class() -> None:
    vocabulary = ["money", "win", "song", "love"]

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([[t.count(w) for w in vocabulary] for t in texts], dtype=float)

    lf = SimilarityLF("near", embed, {"spam": ["win money"], "ham": ["love song"]}, min_similarity=0.6,
                      labels=LABELS)

    assert lf.vote(_batch("money money win", "a love song", "zzz")).votes.tolist() == [1, 0, -1]


def test_column_lf_fault_in_one_row_costs_only_that_row() -> None:
    class Flaky:
        classes_ = [0, 1]

        def predict_proba(self, texts: list[str]) -> np.ndarray:
            if any("boom" in t for t in texts):
                raise ValueError("model failed")
            return np.tile([0.1, 0.9], (len(texts), 1))

    result = ModelLF("flaky", Flaky()).vote(_batch("a", "boom", "c"))

    assert result.votes.tolist() == [1, -1, 1]
    assert result.errors == {1: "flaky: ValueError: model failed"}


def test_lf_class_name_outside_the_schema_fails_at_construction() -> None:
    with pytest.raises(ConfigError, match=re.escape("'spma'")):
        KeywordLF("k", ["x"], "spma", labels=LABELS)
