from __future__ import annotations

import json
import random
import re
import string
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill import ConfigError, Pipeline
from datamill.clean.boilerplate import Boilerplate, group_keys
from datamill.core.errors import SchemaError
from datamill.pipeline import StepContext
from datamill.store import Workspace
from datamill.testing import make_batch, run_step

STORIES = [
    "The river rose overnight and the bakery flooded.",
    "A new library opened on the corner of Elm Street.",
    "Local students built a solar car for the county fair.",
    "The mayor promised to fix the potholes by spring.",
    "An owl nested in the clock tower of the old station.",
    "Farmers report a record harvest of pumpkins this year.",
    "The choir will sing at the harbour festival on Sunday.",
    "Volunteers planted two hundred trees along the canal.",
]


def _page(story: str, number: int, total: int) -> str:
    return (f"Home | News | Sport | Contact\nWe use cookies to improve your experience.\n\n{story}\n\n"
            f"Page {number} of {total}\n© 2024 Town Gazette. All rights reserved.")


def _site(source: str, n: int = 8) -> pa.RecordBatch:
    return make_batch(id=[f"{source}{i}" for i in range(n)],
                      text=[_page(STORIES[i % len(STORIES)], i + 1, n) for i in range(n)],
                      source=[f"{source}/page{i}.html" for i in range(n)])


def test_boilerplate_removes_lines_repeated_across_a_folder() -> None:
    result = run_step(Boilerplate(), [_site("/crawl/gazette")])

    assert result.output["text"].to_pylist() == STORIES
    assert result.metrics == {"lines_removed": 32, "docs_changed": 8}
    assert result.ledger.dropped == {} and result.ledger.balanced


def test_boilerplate_counts_each_group_on_its_own() -> None:
    gazette = _site("/crawl/gazette", 8)
    # The same footer in 2 of 8 blog pages is under both thresholds there.
    blog_texts = [f"{STORIES[i]}\nAll posts" for i in range(8)]
    blog_texts[0] += "\n© 2024 Town Gazette. All rights reserved."
    blog_texts[1] += "\n© 2024 Town Gazette. All rights reserved."
    blog = make_batch(id=[f"b{i}" for i in range(8)], text=blog_texts,
                      source=[f"/crawl/blog/{i}.txt" for i in range(8)])

    result = run_step(Boilerplate(), [gazette, blog])

    out = dict(zip(result.output["id"].to_pylist(), result.output["text"].to_pylist(), strict=True))
    assert out["/crawl/gazette0"] == STORIES[0]
    assert out["b0"] == f"{STORIES[0]}\n© 2024 Town Gazette. All rights reserved."
    assert out["b5"] == STORIES[5]  # "All posts" is in every blog page
    assert result.ledger.balanced


def test_boilerplate_groups_by_url_host_then_source() -> None:
    batch = pa.record_batch({
        "source": ["/dump/a.html", "/dump/b.html", "https://Docs.Example.org/x", "notes.txt", None],
        "meta": [json.dumps({"url": "https://www.site.com/a"}), "not json", "{}", None, None],
    })

    assert group_keys(batch, None, "b").to_list() == ["www.site.com", "/dump", "docs.example.org", "", ""]
    assert group_keys(batch, "source", "b").to_list()[4] == ""
    assert group_keys(pa.record_batch({"text": ["x"]}), None, "b").to_list() == [""]


def test_boilerplate_honours_min_documents_and_min_fraction() -> None:
    texts = [f"{STORIES[i % 8]} {i}\n" + ("Subscribe now" if i < 5 else "") for i in range(20)]
    batch = make_batch(text=texts)

    at_30 = run_step(Boilerplate(min_fraction=0.3), [batch])
    at_20 = run_step(Boilerplate(min_fraction=0.2), [batch])
    at_20_but_6_docs = run_step(Boilerplate(min_fraction=0.2, min_documents=6), [batch])

    assert at_30.metrics["lines_removed"] == 0
    assert at_20.metrics["lines_removed"] == 5
    assert at_20_but_6_docs.metrics["lines_removed"] == 0


def test_boilerplate_ignores_lines_longer_than_max_line_chars() -> None:
    long_line = "This repeated disclaimer is long enough to be a paragraph rather than a menu. " * 3
    batch = make_batch(text=[f"{STORIES[i]}\n{long_line}" for i in range(8)])

    assert run_step(Boilerplate(), [batch]).metrics["lines_removed"] == 0
    assert run_step(Boilerplate(max_line_chars=400), [batch]).metrics["lines_removed"] == 8


def test_boilerplate_drops_documents_left_empty_and_passes_nulls() -> None:
    texts: list[str | None] = [f"Menu\nFooter\n{STORIES[i]}" for i in range(6)] + ["Menu\nFooter", None]
    batch = make_batch(text=pa.array(texts, pa.string()))

    result = run_step(Boilerplate(), [batch])

    assert result.output["text"].to_pylist() == [*STORIES[:6], None]
    assert result.ledger.dropped == {"empty_after_boilerplate": 1}
    assert result.ledger.balanced


def test_boilerplate_gives_the_same_result_however_the_input_is_split() -> None:
    batches = [_site("/a", 10), _site("/b", 7), make_batch(id=["x"], text=["lonely"], source=["/c/x"])]
    rows = pa.Table.from_batches(batches, schema=batches[0].schema).to_batches(max_chunksize=3)

    one = run_step(Boilerplate(), partitions=[rows])
    many = run_step(Boilerplate(), partitions=[[b] for b in rows])

    assert one.output.to_pylist() == many.output.to_pylist()
    assert one.metrics == many.metrics and many.ledger.balanced


def test_boilerplate_keeps_memory_bounded_and_still_finds_the_repeated_line() -> None:
    rng = random.Random(0)
    words = ["".join(rng.choices(string.ascii_lowercase, k=12)) for _ in range(60 * 30)]
    texts = ["Sign in\n" + "\n".join(words[d * 30:(d + 1) * 30]) for d in range(60)]
    batches = [make_batch(id=[f"{j}-{i}" for i in range(20)], text=texts[j * 20:(j + 1) * 20]) for j in range(3)]
    step = Boilerplate(max_lines_per_group=100)

    state = step.partial(iter(batches), StepContext(step_id="b"))
    result = run_step(step, batches)

    assert state.lines.height <= 100
    assert state.docs["docs"].to_list() == [60]
    assert result.metrics["lines_removed"] == 60
    assert all(not t.startswith("Sign in") for t in result.output["text"].to_pylist())


def test_boilerplate_names_missing_columns() -> None:
    with pytest.raises(SchemaError, match=r"needs a string column `body`"):
        run_step(Boilerplate(text_column="body"), [make_batch(text=["x"])])
    with pytest.raises(SchemaError, match=r"groups by `site`, which the input lacks.*group_column"):
        run_step(Boilerplate(group_column="site"), [make_batch(text=["x"])])


def test_boilerplate_rejects_thresholds_that_remove_everything() -> None:
    with pytest.raises(ConfigError, match=r"`min_documents` input should be greater than or equal to 2"):
        Boilerplate(min_documents=1)
    with pytest.raises(ConfigError, match=r"`min_fraction` input should be greater than 0"):
        Boilerplate(min_fraction=0)


def test_boilerplate_keeps_an_empty_batch_empty() -> None:
    batch = pa.record_batch({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())})

    result = run_step(Boilerplate(), [batch])

    assert result.output.num_rows == 0 and result.ledger.balanced


def _normalise(line: str) -> str:
    return " ".join(re.sub(r"\d+", "0", line.lower()).split())


_LINES = st.sampled_from(["menu", "Page 1 of 3", "Page 2 of 3", "footer ©", "", "  ", "a story", "another"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(_LINES, max_size=6), max_size=30), st.integers(2, 4), st.sampled_from([0.1, 0.3, 0.6]),
       st.integers(1, 4))
def test_boilerplate_matches_a_brute_force_count(
    docs: list[list[str]], min_documents: int, min_fraction: float, size: int
) -> None:
    texts = ["\n".join(lines) for lines in docs]
    norm = [{_normalise(line) for line in lines} - {""} for lines in docs]
    counts = Counter(line for lines in norm for line in lines)
    repeated = {line for line, c in counts.items() if c >= min_documents and c >= min_fraction * len(docs) - 1e-9}
    parts = [[make_batch(id=[str(i) for i in range(s, min(s + size, len(texts)))], text=texts[s:s + size])]
             for s in range(0, len(texts), size)] or [[]]

    result = run_step(Boilerplate(min_documents=min_documents, min_fraction=min_fraction), partitions=parts)

    expected_removed = sum(1 for lines in docs for line in lines if _normalise(line) in repeated)
    assert result.metrics.get("lines_removed", 0) == expected_removed
    assert result.ledger.rows_in == len(texts) and result.ledger.balanced


@pytest.mark.slow
def test_boilerplate_runs_in_a_pipeline_with_a_process_pool(tmp_path: Path, ws: Workspace) -> None:
    for site in ("gazette", "herald"):
        folder = tmp_path / "crawl" / site
        folder.mkdir(parents=True)
        for i, story in enumerate(STORIES):
            (folder / f"page{i}.txt").write_text(_page(story, i + 1, 8).replace("Gazette", site), encoding="utf-8")
    pipeline = Pipeline.from_dict({
        "name": "web",
        "steps": [
            {"id": "raw", "uses": "read.text", "with": {"paths": ["crawl/"]}},
            {"id": "clean", "uses": "clean.text", "input": "raw"},
            {"id": "strip", "uses": "clean.boilerplate", "input": "clean"},
        ],
        "outputs": {"pages": "strip"},
    }, base_dir=tmp_path)

    result = pipeline.run(ws, workers=2)

    strip = result.step("strip")
    assert strip.rows_in == strip.rows_out == 16
    assert strip.metrics["lines_removed"] == 64
    assert sorted(ws.open("pages").to_arrow(["text"])["text"].to_pylist()) == sorted(STORIES * 2)
