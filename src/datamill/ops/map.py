"""``map.python``: run a user's Python function on each row or each batch."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from datamill.core.columns import ID
from datamill.core.errors import ConfigError, NotFoundError
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register
from datamill.pipeline.registry import base_dir, load_user_file

__all__ = ["MapPython", "MapPythonConfig", "load_function"]


def load_function(ref: str) -> tuple[Callable[..., Any], str | None]:
    """Load ``./file.py:fn`` or ``module:fn``; return it with the hash of its source file."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigError(f"function {ref!r}: write `./file.py:function` or `package.module:function`.")
    if target.endswith(".py"):
        path = Path(target)
        path = (path if path.is_absolute() else base_dir() / path).resolve()
        if not path.is_file():
            raise NotFoundError(f"function {ref!r}: file {str(path)!r} does not exist.")
        module = load_user_file(path)
        code_hash: str | None = module.__datamill_code_hash__
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise NotFoundError(f"function {ref!r}: cannot import {target!r}: {err}") from err
        code_hash = None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise NotFoundError(f"function {ref!r}: {target!r} has no function `{attr}`.")
    if code_hash is None:
        try:
            import hashlib

            code_hash = hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
        except (OSError, TypeError):
            code_hash = None
    return fn, code_hash


class MapPythonConfig(StepConfig):
    function: str = Field(description="`./file.py:fn` (relative to the pipeline file) or `module:fn`.")
    mode: Literal["row", "batch"] = Field(
        "row",
        description="row: fn(dict) -> dict of updated fields, or None to drop the row; "
        "batch: fn(pyarrow.RecordBatch) -> RecordBatch with the same rows.",
    )


@register("map.python")
class MapPython(Transform[MapPythonConfig]):
    """Apply a Python function. In row mode an exception quarantines that row (reason
    ``function_error``) and a ``None`` result drops it (reason ``dropped_by_function``)."""

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._fn, self._code_hash = load_function(self.config.function)

    def code_hashes(self) -> list[str]:
        return [self._code_hash] if self._code_hash else []

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        if self.config.mode == "batch":
            result = self._fn(batch)
            if not isinstance(result, pa.RecordBatch | Outcome):
                raise ConfigError(f"{self.config.function} returned {type(result).__name__}; "
                                  "in batch mode return a pyarrow.RecordBatch")
            return result
        rows = batch.to_pylist()
        out: list[dict[str, Any]] = []
        keep, drop, bad, errors = [], [], [], []
        for row in rows:
            try:
                update = self._fn(dict(row))
            except Exception as err:  # the user's function: any failure quarantines its row
                keep.append(False)
                drop.append(False)
                bad.append(True)
                errors.append(f"{type(err).__name__}: {err}")
                continue
            errors.append("")
            bad.append(False)
            if update is None:
                keep.append(False)
                drop.append(True)
                continue
            keep.append(True)
            drop.append(False)
            merged = {**row, **update}
            merged[ID] = row.get(ID)  # a function may not change a row's identity
            out.append(merged)
        # Every key any row returned becomes a column (from_pylist alone looks at the first row).
        keys = dict.fromkeys(k for row in out for k in row)
        rows_out = [{k: row.get(k) for k in keys} for row in out]
        shaped = batch if not out else _expand(pa.RecordBatch.from_pylist(rows_out), keep)
        return (
            Outcome(shaped, original=batch)
            .quarantine(bad, reason="function_error", error=errors)
            .drop(drop, reason="dropped_by_function")
        )


def _expand(new: pa.RecordBatch, keep: list[bool]) -> pa.RecordBatch:
    """Place the transformed rows at the kept positions (other positions are null)."""
    indices = []
    j = 0
    for k in keep:
        indices.append(j if k else None)
        j += int(k)
    return new.take(pa.array(indices, pa.int64()))
