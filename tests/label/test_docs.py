"""The code on the labelling pages runs as written and prints what each page says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Each page and the fewest code blocks it has (so a page that lost its examples fails).
PAGES = {"labelling.md": 5, "label-errors.md": 2, "label-standardisation.md": 3, "slices.md": 3}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_examples_run_and_print_what_the_page_shows(name: str) -> None:
    page = DOCS / name
    text = page.read_text(encoding="utf-8")
    blocks = [(text.count("\n", 0, m.start(1)), m.group(1))
              for m in re.finditer(r"```python\n(.*?)```", text, flags=re.DOTALL)]
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    namespace: dict[str, object] = {}  # blocks build on each other, as a reader runs them
    for line, block in blocks:
        test = parser.get_doctest(block, namespace, f"{name}:{line + 1}", str(page), line)
        runner.run(test, clear_globs=False)
        namespace = test.globs
    assert len(blocks) >= PAGES[name]
    assert runner.summarize(verbose=False).failed == 0
