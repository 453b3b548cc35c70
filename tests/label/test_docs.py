"""The code on docs/labelling.md runs as written and prints what the page says."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "labelling.md"


def test_labelling_page_examples_run_and_print_what_the_page_shows() -> None:
    text = PAGE.read_text(encoding="utf-8")
    blocks = [(text.count("\n", 0, m.start(1)), m.group(1))
              for m in re.finditer(r"```python\n(.*?)```", text, flags=re.DOTALL)]
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    namespace: dict[str, object] = {}  # blocks build on each other, as a reader runs them
    for line, block in blocks:
        test = parser.get_doctest(block, namespace, f"labelling.md:{line + 1}", str(PAGE), line)
        runner.run(test, clear_globs=False)
        namespace = test.globs
    assert len(blocks) >= 5
    assert runner.summarize(verbose=False).failed == 0
