from __future__ import annotations

import unicodedata

import ftfy.badness
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError
from datamill.clean.text import CleanText, looks_broken, repair_utf8
from datamill.core.errors import SchemaError
from datamill.testing import make_batch, run_step


def _clean(texts: list[str | None], **options: object) -> list[str | None]:
    result = run_step(CleanText(drop_empty=False, **options), [make_batch(text=pa.array(texts, pa.string()))])
    assert result.ledger.balanced
    return result.output["text"].to_pylist()


def _string_array(texts: list[str | None]) -> pa.Array:
    """A string array holding exactly these code points, lone surrogates included (as invalid UTF-8)."""
    offsets, data = [0], bytearray()
    for text in texts:
        data += (text or "").encode("utf-8", "surrogatepass")
        offsets.append(len(data))
    validity = pa.array([t is not None for t in texts]).buffers()[1] if None in texts else None
    return pa.Array.from_buffers(pa.string(), len(texts),
                                 [validity, pa.array(offsets, pa.int32()).buffers()[1], pa.py_buffer(bytes(data))])


def test_clean_text_repairs_mojibake_and_counts_it() -> None:
    batch = make_batch(text=["CafÃ©", "â€œquotedâ€\x9d", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚ Ð¼Ð¸Ñ€", "already fine"])

    result = run_step(CleanText(), [batch])

    assert result.output["text"].to_pylist() == ["Café", "“quoted”", "привет мир", "already fine"]
    assert result.metrics["mojibake_fixed"] == 3
    assert result.metrics["rows_changed"] == 3
    assert result.ledger.balanced


def test_clean_text_leaves_correct_accented_text_and_typography_alone() -> None:
    texts = ["Über die Brücke, «naïve» façade — “quotes” stay curly; ﬁne ligature.",
             "Съешь же ещё этих мягких французских булок, да выпей чаю.",
             "日本語のテキスト。", "Ça coûte 5 € — l’été à Montréal."]

    assert _clean(texts) == texts


def test_clean_text_normalises_to_the_configured_form() -> None:
    decomposed = unicodedata.normalize("NFD", "Crème brûlée")

    assert _clean([decomposed]) == ["Crème brûlée"]
    assert _clean(["ﬁle ＡＢＣ x²"], unicode_form="NFKC") == ["file ABC x2"]
    assert _clean([decomposed], unicode_form="none") == [decomposed]
    assert _clean(["é"], unicode_form="NFD") == ["e\u0301"]


def test_clean_text_collapses_whitespace_and_blank_lines() -> None:
    text = "  Title\t\t here \u00a0 \n\n\n\n  body   line  \r\n\n\n\nend  "

    assert _clean([text]) == ["Title here\n\nbody line\n\nend"]
    assert _clean([text], max_blank_lines=0) == ["Title here\nbody line\nend"]
    assert _clean(["a  b\n\n\n"], whitespace=False) == ["a  b\n\n\n"]


def test_clean_text_removes_controls_and_invisible_characters_but_keeps_joiners() -> None:
    family = "👨\u200d👩\u200d👧"  # ZWJ holds the emoji sequence together
    persian = "می\u200cخواهم"  # ZWNJ is part of Persian spelling
    texts = ["\ufeffhel\u200blo\x00 wor\u00adld\x07", "one\rtwo\x0bthree\u2028four", family, persian]

    assert _clean(texts) == ["hello world", "one\ntwo\nthree\nfour", family, persian]
    assert _clean(["a\x00b"], control_chars=False) == ["a\x00b"]


def test_clean_text_lowercases_and_strips_symbols_on_request() -> None:
    assert _clean(["ÉCOLE Straße İstanbul"], lowercase=True) == ["école straße istanbul"]
    assert _clean(["price: 5€ © 2024 😀!"], strip_symbols=True) == ["price: 5 2024 !"]
    assert _clean(["a-b, (c)! ©"], strip_symbols=True, symbol_categories=["P"]) == ["ab c ©"]
    assert _clean(["5€ a+b"], strip_symbols=True, symbol_categories=["Sc"]) == ["5 a+b"]


def test_clean_text_unwraps_hard_wrapped_paragraphs_but_not_headings_or_lists() -> None:
    text = ("CHAPTER I\n\nIt was the best of times, it was the worst of times, it was the age\n"
            "of wisdom, it was the age of foolishness, it was the epoch of belief,\n"
            "it was the epoch of incredulity.\n\n"
            "- a list item that is quite long and goes on and on and on for a while\n- second item\n"
            "1. a numbered item that is also long, longer than fifty characters\n2. next")

    result = run_step(CleanText(unwrap_lines=True), [make_batch(text=[text])])

    assert result.output["text"].to_pylist() == [
        "CHAPTER I\n\nIt was the best of times, it was the worst of times, it was the age of wisdom, it "
        "was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity.\n\n"
        "- a list item that is quite long and goes on and on and on for a while\n- second item\n"
        "1. a numbered item that is also long, longer than fifty characters\n2. next"]
    assert result.metrics["lines_unwrapped"] == 1
    assert run_step(CleanText(), [make_batch(text=[text])]).output["text"].to_pylist() == [text]


def test_clean_text_drops_null_and_emptied_rows_with_reasons() -> None:
    batch = make_batch(text=pa.array(["keep me", None, " \u200b\n\t ", ""], pa.string()))

    result = run_step(CleanText(), [batch])

    assert result.output["id"].to_pylist() == ["0"]
    assert result.ledger.dropped == {"null_text": 1, "empty_after_clean": 2}
    assert result.ledger.balanced


def test_clean_text_keeps_null_and_empty_rows_when_drop_empty_is_off() -> None:
    assert _clean(["x", None, "  "]) == ["x", None, ""]


def test_clean_text_keeps_other_columns_and_the_column_type() -> None:
    batch = pa.record_batch({"id": ["a", "b"], "body": pa.array([" x ", "y"], pa.large_string()), "n": [1, 2]})

    result = run_step(CleanText(text_column="body"), [batch])

    assert result.output.schema == batch.schema
    assert result.output["body"].to_pylist() == ["x", "y"]
    assert result.output["n"].to_pylist() == [1, 2]


def test_clean_text_accepts_string_views_and_all_null_columns() -> None:
    views = pa.record_batch({"id": ["a"], "text": pa.array([" v "], pa.string_view())})
    nulls = pa.record_batch({"id": ["a"], "text": pa.array([None], pa.null())})

    assert run_step(CleanText(), [views]).output["text"].to_pylist() == ["v"]
    assert run_step(CleanText(), [nulls]).ledger.dropped == {"null_text": 1}


def test_clean_text_replaces_invalid_utf8_and_lone_surrogates() -> None:
    batch = pa.record_batch({"id": ["a", "b"], "text": _string_array(["ok\ud800 fine", "plain"])})

    result = run_step(CleanText(), [batch])

    assert result.output["text"].to_pylist() == ["ok\ufffd\ufffd\ufffd fine", "plain"]
    assert result.metrics["invalid_utf8_replaced"] == 1
    assert result.ledger.balanced


def test_repair_utf8_leaves_a_valid_array_untouched() -> None:
    array = pa.array(["a", None, "é"])

    fixed, count = repair_utf8(array)

    assert fixed is array and count == 0


def test_clean_text_keeps_an_empty_batch_empty() -> None:
    batch = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})

    result = run_step(CleanText(), [batch])

    assert result.output.num_rows == 0 and result.output.schema == batch.schema
    assert result.ledger.balanced


def test_clean_text_names_a_missing_or_non_text_column() -> None:
    with pytest.raises(SchemaError, match=r"needs a string column `body`; the input has id, text.*text_column: \.\.\."):
        run_step(CleanText(text_column="body"), [make_batch(text=["x"])])
    with pytest.raises(SchemaError, match=r"`text` to hold strings; it holds int64"):
        run_step(CleanText(), [make_batch(text=[1, 2])])


def test_clean_text_rejects_unknown_options_and_categories() -> None:
    with pytest.raises(ConfigError, match=r"`symbol_categories` .*unknown categories \['Lu'\]"):
        CleanText(symbol_categories=["Lu"])
    with pytest.raises(ConfigError, match=r"`unicode_form` .*got 'NFX'"):
        CleanText(unicode_form="NFX")
    with pytest.raises(ConfigError, match=r"no option `lower_case`. Did you mean `lowercase`\?"):
        CleanText(lower_case=True)


def test_clean_text_metrics_count_rows_per_fixer() -> None:
    batch = make_batch(text=["ok", "a  b", "x\u200by", unicodedata.normalize("NFD", "é"), "CafÃ©  bar"])

    metrics = run_step(CleanText(), [batch]).metrics

    assert metrics == {"mojibake_fixed": 1, "control_removed": 1, "unicode_normalised": 1,
                       "whitespace_changed": 2, "rows_changed": 4}


_MOJIBAKE_ALPHABET = sorted({c for c in ftfy.badness.BADNESS_RE.pattern if ord(c) > 127} | set("aeZ 1.,'\n"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=_MOJIBAKE_ALPHABET, max_size=8), min_size=1, max_size=40))
def test_looks_broken_flags_every_row_ftfy_calls_bad(texts: list[str]) -> None:
    flags = looks_broken(pa.array(texts, pa.string())).to_pylist()

    for text, flag in zip(texts, flags, strict=True):
        if ftfy.badness.is_bad(text):
            assert flag, text


# Arbitrary code points, lone surrogates included, weighted towards the characters that
# trip fixers: mojibake letters, controls, combining marks, odd spaces and symbols.
_TRICKY = st.sampled_from([*"Ã©â€œ\x9d\u0301\u0338=\u200b\ufeff\u00ad\r\n\t \u00a0\u3000½ℌ😀İ", "\ud800"])
_TEXT = st.text(alphabet=st.one_of(st.characters(codec=None), _TRICKY), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), _TEXT), max_size=20), st.booleans(), st.booleans(),
       st.sampled_from(["NFC", "NFKC", "NFD", "none"]), st.booleans())
def test_clean_text_is_idempotent_and_accounts_for_every_row(
    texts: list[str | None], lowercase: bool, strip_symbols: bool, form: str, unwrap: bool
) -> None:
    step = CleanText(lowercase=lowercase, strip_symbols=strip_symbols, unicode_form=form, unwrap_lines=unwrap,
                     unwrap_min_chars=3)
    batch = pa.record_batch({"id": [str(i) for i in range(len(texts))], "text": _string_array(texts)})

    once = run_step(step, [batch])
    twice = run_step(step, [once.output.to_batches()[0]] if once.output.num_rows else [])

    assert once.ledger.rows_in == len(texts) and once.ledger.balanced
    if once.output.num_rows:
        assert twice.output["text"].to_pylist() == once.output["text"].to_pylist()
        assert twice.metrics["rows_changed"] == 0
    if form == "NFC":
        assert all(unicodedata.is_normalized("NFC", t) for t in once.output["text"].to_pylist())
