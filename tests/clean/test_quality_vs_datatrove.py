"""The quality filters decide as datatrove's do (the code that built FineWeb), on real prose and junk.

The documents and both sides' settings come from ``benchmarks/bench_quality_filters.py``, so the
test and the benchmark compare the same things: a sample of the public-domain prose corpus, web
junk built to trip every rule, datatrove set to the papers' thresholds. Where a rule is defined
differently on purpose (blank text in the repetition filter), those documents are left out, as
``docs/quality-filters.md`` says.
"""

from __future__ import annotations

import functools
import importlib.util
import string
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.clean.quality._words import count_sentences, split_words

pytest.importorskip("datatrove")
spacy = pytest.importorskip("spacy")

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_quality_filters.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_quality_filters", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()


@pytest.fixture(scope="module")
def docs() -> list[dict[str, str]]:
    if not bench.CORPUS.is_file():
        pytest.skip(f"the prose corpus is not at {bench.CORPUS}")
    prose = bench.corpus_documents(200)
    return prose + bench.junk_documents([d["text"] for d in prose], per_kind=6)


@functools.cache
def english() -> Any:
    """spaCy's blank English pipeline: its tokenizer is what datatrove splits words with."""
    return spacy.blank("en")


@pytest.mark.slow
@pytest.mark.parametrize("name", bench.FILTERS)
def test_quality_filter_agrees_with_datatrove_on_99_percent_of_documents(name: str, docs: list[dict[str, str]]
                                                                         ) -> None:
    ours = bench.run_datamill(bench.datamill_steps()[name], docs)
    theirs = bench.run_datatrove(bench.datatrove_filters()[name], docs)

    share, same_text, misfits = bench.agreement(theirs, ours, bench.compared_ids(name, docs))

    assert share >= 0.99, f"{name} agrees on {share:.2%}; differs on {misfits[:10]}"
    assert same_text >= 0.99  # C4 rewrites the text: the kept lines are the same too
    # Both sides drop some prose and some junk: the sample exercises the rules.
    assert any(v is None for v in ours.values()) and any(v is not None for v in ours.values())


@pytest.mark.slow
def test_split_words_gives_spacy_english_tokens_on_real_text(docs: list[dict[str, str]]) -> None:
    nlp = english()
    differ = [d["id"] for d in docs
              if split_words(d["text"]) != [t.text for t in nlp.tokenizer(d["text"]) if t.text.strip()]]

    assert len(differ) <= len(docs) // 100, differ[:10]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(string.ascii_letters[:8] + "AZ09 .,'\"-()!?:;/$%#@&*+=…’“”—–_[]")),
               max_size=40))
def test_split_words_matches_spacy_on_punctuation_heavy_strings(text: str) -> None:
    assert split_words(text) == [t.text for t in english().tokenizer(text) if t.text.strip()]


@pytest.mark.slow
def test_count_sentences_matches_spacy_sentencizer_on_prose_lines(docs: list[dict[str, str]]) -> None:
    from datatrove.utils.text import split_into_sentences

    lines = [line.strip() for d in docs[:100] for line in d["text"].splitlines() if line.strip()]

    assert [count_sentences(line) for line in lines] == [len(split_into_sentences(line)) for line in lines]
