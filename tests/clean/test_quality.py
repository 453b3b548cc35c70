"""The quality filters: Gopher quality and repetition, C4, FineWeb; each rule, the order, the ledger."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.clean.quality import C4Quality, FineWebQuality, GopherQuality, GopherRepetition
from datamill.clean.quality._words import count_sentences, split_words
from datamill.core.errors import ConfigError, SchemaError
from datamill.pipeline import resolve_step
from datamill.testing import make_batch, run_step

PROSE = (
    "The old man walked slowly along the river, and the children followed him with great interest. "
    "He stopped at the bridge to look at the water, which was running fast after the rain of the week. "
    "Nobody knew where he had come from, but everyone in the village agreed that he had a kind face.\n"
    "In the evening he sat by the fire of the inn and told stories of the sea to anyone who would listen. "
    "Some of them were true, and some were not, but all of them were worth hearing at least once."
)

FILTERS = [GopherQuality, GopherRepetition, C4Quality, FineWebQuality]


def run(step: Any, *texts: str | None) -> Any:
    result = run_step(step, [make_batch(text=pa.array(list(texts), pa.string()))])
    assert result.ledger.balanced
    return result


def reasons(step: Any, *texts: str | None) -> list[str | None]:
    """The drop reason of each text (None when kept), one text per run."""
    out: list[str | None] = []
    for text in texts:
        result = run(step, text)
        out.append(next(iter(result.ledger.dropped), None))
    return out


# ---------------------------------------------------------------------------- registry and config
@pytest.mark.parametrize(("name", "cls"), [("filter.gopher_quality", GopherQuality),
                                           ("filter.gopher_repetition", GopherRepetition),
                                           ("filter.c4", C4Quality), ("filter.fineweb", FineWebQuality)])
def test_quality_filters_are_registered_under_their_names(name: str, cls: type) -> None:
    import datamill.clean

    assert resolve_step(name) is cls
    assert getattr(datamill.clean, cls.__name__) is cls


def test_quality_filter_defaults_are_the_papers_values() -> None:
    gopher = GopherQuality().config
    assert (gopher.min_words, gopher.max_words, gopher.min_mean_word_length, gopher.max_mean_word_length) == \
        (50, 100_000, 3, 10)
    assert (gopher.max_symbol_word_ratio, gopher.max_bullet_lines_ratio, gopher.max_ellipsis_lines_ratio,
            gopher.min_alpha_words_ratio, gopher.min_stop_words) == (0.1, 0.9, 0.3, 0.8, 2)
    assert set(gopher.stop_words) == {"the", "be", "to", "of", "and", "that", "have", "with"}
    rep = GopherRepetition().config
    assert (rep.max_dup_line_frac, rep.max_dup_para_frac, rep.max_dup_line_char_frac,
            rep.max_dup_para_char_frac) == (0.3, 0.3, 0.2, 0.2)
    assert rep.top_ngram_char_frac == {2: 0.20, 3: 0.18, 4: 0.16}
    assert rep.dup_ngram_char_frac == {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    c4 = C4Quality().config
    assert (c4.min_words_per_line, c4.min_sentences, c4.max_word_length) == (5, 3, 1000)
    fineweb = FineWebQuality().config
    assert (fineweb.min_line_punct_ratio, fineweb.max_short_line_ratio, fineweb.short_line_length,
            fineweb.max_dup_line_char_ratio, fineweb.max_newline_word_ratio) == (0.12, 0.67, 30, 0.1, 0.3)


def test_quality_filter_rejects_a_negative_threshold_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"filter.gopher_quality.*`min_words`.*greater than or equal to 0.*got -3"):
        GopherQuality(min_words=-3)


def test_quality_filter_suggests_the_option_meant() -> None:
    with pytest.raises(ConfigError, match=r"no option `min_word`. Did you mean `min_words`\?"):
        GopherQuality(min_word=10)


def test_gopher_repetition_rejects_impossible_ngram_sizes() -> None:
    with pytest.raises(ConfigError, match=r"`top_ngram_char_frac`.*between 1 and 50, got \[0\]"):
        GopherRepetition(top_ngram_char_frac={0: 0.2})
    with pytest.raises(ConfigError, match=r"`dup_ngram_char_frac`.*between 0 and 1"):
        GopherRepetition(dup_ngram_char_frac={5: 1.5})


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_names_the_missing_text_column_and_the_fix(cls: type) -> None:
    with pytest.raises(SchemaError, match=r"needs a text column 'text'; the input has id, body.*text_column"):
        run_step(cls(), [make_batch(body=["x"])])


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_refuses_a_column_that_is_not_text(cls: type) -> None:
    with pytest.raises(SchemaError, match=r"column 'text' holds int64, not text"):
        run_step(cls(), [make_batch(text=[1, 2])])


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_quarantines_null_text_and_judges_the_rest(cls: type) -> None:
    result = run(cls(), None, PROSE)

    assert result.ledger.quarantined == {"null_text": 1}
    assert result.quarantine["id"].to_pylist() == ["0"]
    assert "is null" in result.quarantine["error"][0].as_py()
    assert result.output["id"].to_pylist() == ["1"]


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_keeps_real_prose(cls: type) -> None:
    result = run(cls(), PROSE)

    assert result.ledger.dropped == {}
    assert result.output.num_rows == 1


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_passes_an_empty_batch(cls: type) -> None:
    result = run_step(cls(), [pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})])

    assert result.ledger.rows_in == 0 and result.ledger.balanced


@pytest.mark.parametrize("cls", FILTERS)
def test_quality_filter_reads_large_string_and_another_column(cls: type) -> None:
    batch = pa.record_batch({"id": ["a"], "body": pa.array([PROSE], pa.large_string())})

    result = run_step(cls(text_column="body"), [batch])

    assert result.ledger.balanced and result.output["id"].to_pylist() == ["a"]
    assert result.output.schema.field("body").type == pa.large_string()


# ---------------------------------------------------------------------------- Gopher quality
def test_gopher_quality_drops_each_rule_under_its_reason() -> None:
    words = ("alpha beta gamma delta epsilon " * 12).strip()
    cases = {
        "gopher_word_count": "The cat and the dog.",
        "gopher_mean_word_length": "the a to of an be is it " * 10,
        "gopher_symbol_ratio": PROSE + " #tag" * 20,
        "gopher_bullet_lines": "\n".join(f"- the item {i} of the list, with more words to read" for i in range(12)),
        "gopher_ellipsis_lines": "\n".join(f"The story of the day number {i} goes on and on..." for i in range(12)),
        "gopher_alpha_words": PROSE + " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20" * 3,
        "gopher_stop_words": words,
    }
    found = reasons(GopherQuality(), *cases.values())

    assert found == list(cases)


def test_gopher_quality_reports_the_first_rule_in_order() -> None:
    # Too short and no stop words: the word count comes first.
    assert reasons(GopherQuality(), "alpha beta") == ["gopher_word_count"]
    assert reasons(GopherQuality(min_words=None), "alpha beta") == ["gopher_stop_words"]


def test_gopher_quality_counts_words_without_punctuation_and_tokens_with_it() -> None:
    lenient = GopherQuality(keep_stats=True, min_words=0, min_stop_words=0, min_alpha_words_ratio=0,
                            min_mean_word_length=None)
    result = run(lenient, "The cat's toy -- isn't it fun? Yes!")
    stats = result.output["gopher_quality_stats"][0].as_py()

    # The, cat, 's, toy, --, is, n't, it, fun, ?, Yes, !
    assert stats["tokens"] == 12
    assert stats["words"] == 9
    assert stats["alpha_words_ratio"] == pytest.approx(9 / 12)
    assert stats["stop_words"] == 0  # "The" is not "the": stop words match as written


def test_gopher_quality_stats_column_has_every_statistic() -> None:
    result = run(GopherQuality(keep_stats=True), PROSE)

    stats = result.output["gopher_quality_stats"][0].as_py()
    assert set(stats) == set(GopherQuality.stat_names)
    assert stats["stop_words"] >= 2 and 3 <= stats["mean_word_length"] <= 10


# ---------------------------------------------------------------------------- Gopher repetition
def test_gopher_repetition_drops_each_rule_under_its_reason() -> None:
    filler = PROSE.replace("\n", " ")
    cases = {
        "gopher_dup_line_frac": "\n".join(["Buy the best watches today."] * 6 + [filler]),
        # One short paragraph twice, then one of many lines: few repeated lines, many repeated paragraphs.
        "gopher_dup_para_frac": "\n\n".join(["A short note."] * 2 + [PROSE.replace(", ", ",\n")]),
        "gopher_top_2gram": filler + " " + "buy now " * 40,
        "gopher_dup_5gram": filler + " " + " ".join(["one two three four five six seven eight nine ten"] * 5),
    }
    found = reasons(GopherRepetition(), *cases.values())

    assert found == list(cases)


def test_gopher_repetition_reports_character_fractions() -> None:
    text = "\n".join([PROSE.replace("\n", " ")] + ["A repeated line of some length."] * 2)
    result = run(GopherRepetition(keep_stats=True, max_dup_line_char_frac=None, max_dup_line_frac=None), text)

    stats = result.output["gopher_repetition_stats"][0].as_py()
    assert stats["dup_line_char_frac"] == pytest.approx(len("A repeated line of some length.") / len(text))
    assert stats["dup_line_frac"] == pytest.approx(1 / 3)


def test_gopher_repetition_drops_blank_text() -> None:
    assert reasons(GopherRepetition(), "", "  \n ") == ["empty_text", "empty_text"]


def test_gopher_repetition_counts_overlapping_repeats_once() -> None:
    from datamill.clean.quality.gopher import _dup_ngram_chars

    ids = [1, 2, 1, 2, 1, 2]  # the 2-gram (1, 2) repeats at 2 and 4; (2, 1) at 3
    assert _dup_ngram_chars(ids, [1] * 6, 2) == 4


# ---------------------------------------------------------------------------- C4
def test_c4_removes_lines_and_counts_why() -> None:
    page = "\n".join([
        "Home | News | Contact",                                     # no terminal punctuation
        "Too short.",                                                # fewer than 5 words
        "Please enable JavaScript to see the comments below.",      # javascript
        "By using this site you agree to our privacy policy now.",  # policy
        "The committee met on Tuesday to discuss the report[1].",   # kept, citation removed
        "It agreed to publish the findings in May of this year.",
        "Members said the results were important for the city.",
    ])
    result = run(C4Quality(), page)

    assert result.output["text"].to_pylist() == [
        "The committee met on Tuesday to discuss the report.\n"
        "It agreed to publish the findings in May of this year.\n"
        "Members said the results were important for the city."]
    assert result.metrics == {"c4_lines": 7, "c4_lines_kept": 3, "c4_lines_removed_long_word": 0,
                              "c4_lines_removed_no_terminal_punct": 1, "c4_lines_removed_too_few_words": 1,
                              "c4_lines_removed_javascript": 1, "c4_lines_removed_policy": 1}


def test_c4_drops_pages_with_lorem_ipsum_curly_brackets_or_few_sentences() -> None:
    good = "The committee met on Tuesday to discuss the report. It agreed to publish it in May."
    found = reasons(C4Quality(), good + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.",
                    good + "\nfunction go() { return the value of it; }.", good)

    assert found == ["c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences"]


def test_c4_keeps_the_original_text_in_drop_examples() -> None:
    page = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n  Indented menu"
    result = run(C4Quality(), page)

    assert result.ledger.examples["c4_lorem_ipsum"][0]["text"] == page


def test_quality_filter_drop_examples_carry_the_statistics() -> None:
    page = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n  Indented menu"
    result = run(C4Quality(keep_stats=True), page)

    example = result.ledger.examples["c4_lorem_ipsum"][0]
    assert example["text"] == page
    assert "'lines': 2.0" in example["c4_stats"]


def test_c4_removes_lines_with_a_word_longer_than_the_limit() -> None:
    sentences = "The committee met on Tuesday. It agreed to publish the report. Members were pleased."
    result = run(C4Quality(max_word_length=20), sentences + "\nThe blob " + "x" * 30 + " is here now.")

    assert result.output["text"].to_pylist() == [sentences]
    assert result.metrics["c4_lines_removed_long_word"] == 1


# ---------------------------------------------------------------------------- FineWeb
def test_fineweb_drops_each_rule_under_its_reason() -> None:
    sentence = "The committee met on Tuesday to discuss the annual report in detail."
    cases = {
        "empty_text": " \n \n",
        "fineweb_line_punct_ratio": "\n".join(f"Heading number {i} of the page" for i in range(10)),
        "fineweb_short_line_ratio": "\n".join(["Go.", "Stop.", "Wait here.", "Run!", sentence]),
        "fineweb_char_dup_ratio": "\n".join([sentence] * 3 + [PROSE.replace("\n", " ")]),
        "fineweb_list_ratio": "\n".join(f"Item {i} costs one dollar and fifty cents,\n\n\n\nplus tax {i}."
                                        for i in range(8)),
    }
    found = reasons(FineWebQuality(), *cases.values())

    assert found == list(cases)


def test_fineweb_terminal_punctuation_can_be_set() -> None:
    text = "\n".join(f"The line number {i} of this text ends here;" for i in range(5))

    assert reasons(FineWebQuality(), text) == ["fineweb_line_punct_ratio"]
    assert reasons(FineWebQuality(terminal_punctuation=(";",)), text) == [None]


# ---------------------------------------------------------------------------- all four, any input
texts = st.lists(st.one_of(st.none(), st.text(max_size=300),
                           st.text(alphabet=st.sampled_from(list("ab .,!?#-•…\n\"'{}")), max_size=300)),
                 max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_quality_filters_account_for_every_row(values: list[str | None]) -> None:
    batch = make_batch(text=pa.array(values, pa.string()))
    for cls in FILTERS:
        step = cls(keep_stats=True)
        result = run_step(step, [batch])
        assert result.ledger.rows_in == len(values)
        assert result.ledger.balanced
        assert set(result.ledger.dropped) <= set(cls.drop_reasons)
        assert result.ledger.quarantined.get("null_text", 0) == sum(v is None for v in values)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_split_words_keeps_every_character_but_whitespace(text: str) -> None:
    words = split_words(text)

    assert "".join(words) == "".join(text.split())
    assert all(w and not any(c.isspace() for c in w) for w in words)
    assert (count_sentences(text) == 0) == (not text.split())


@pytest.mark.slow
def test_quality_filters_handle_a_megabyte_of_brackets_in_one_word() -> None:
    hostile = "(" * 1_000_000 + "\n" + "[" * 1000

    for cls in (GopherQuality, FineWebQuality):
        result = run(cls(), hostile)
        assert result.output.num_rows == 0 and result.ledger.balanced


def test_quality_filters_judge_mojibake_and_control_characters_without_failing() -> None:
    odd = "Ã©tÃ© \x00\x1b[31m red \u202e reversed \ufffd " * 20

    for cls in FILTERS:
        result = run(cls(), odd, PROSE)
        assert result.ledger.rows_in == 2


def test_drop_reasons_describe_each_rule_with_its_source() -> None:
    for cls in FILTERS:
        described = [r for r, text in cls.drop_reasons.items() if "20" in text]
        assert described, cls
    assert "Rae et al. 2021" in GopherQuality.drop_reasons["gopher_word_count"]
    assert "Raffel et al. 2020" in C4Quality.drop_reasons["c4_too_few_sentences"]
    assert "Penedo et al. 2024" in FineWebQuality.drop_reasons["fineweb_line_punct_ratio"]
