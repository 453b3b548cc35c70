from __future__ import annotations

from pathlib import Path

import pytest

from datamill import ConfigError, NotFoundError
from datamill.ops.map import MapPython
from datamill.pipeline.registry import relative_to
from datamill.testing import make_batch, run_step

FUNCTIONS = '''
def shout(row):
    if row["text"] == "boom":
        raise ValueError("cannot shout boom")
    if row["text"] == "skip":
        return None
    return {"text": row["text"].upper(), "length": len(row["text"])}


def batchwise(batch):
    return batch


not_a_function = 3
'''


@pytest.fixture
def functions(tmp_path: Path) -> Path:
    (tmp_path / "fns.py").write_text(FUNCTIONS)
    return tmp_path


def test_map_python_row_mode_updates_drops_and_quarantines(functions: Path) -> None:
    with relative_to(functions):
        step = MapPython(function="./fns.py:shout")
    batch = make_batch(text=["a", "boom", "skip", "cd"])

    result = run_step(step, [batch])

    assert result.output["text"].to_pylist() == ["A", "CD"]
    assert result.output["length"].to_pylist() == [1, 2]
    assert result.ledger.dropped == {"dropped_by_function": 1}
    assert result.ledger.quarantined == {"function_error": 1}
    bad = result.quarantine.to_pylist()[0]
    assert bad["id"] == "1" and "cannot shout boom" in bad["error"] and '"boom"' in bad["row"]


def test_map_python_hashes_the_function_file_into_its_cache_key(functions: Path) -> None:
    with relative_to(functions):
        before = MapPython(function="./fns.py:batchwise").code_hashes()
        (functions / "fns.py").write_text(FUNCTIONS + "\n# edited\n")
        after = MapPython(function="./fns.py:batchwise").code_hashes()

    assert before and after and before != after


def test_map_python_explains_a_bad_reference(functions: Path) -> None:
    with relative_to(functions):
        with pytest.raises(NotFoundError, match="has no function `nope`"):
            MapPython(function="./fns.py:nope")
        with pytest.raises(NotFoundError, match="does not exist"):
            MapPython(function="./missing.py:f")
        with pytest.raises(ConfigError, match=r"write `\./file\.py:function`"):
            MapPython(function="fns.py")
