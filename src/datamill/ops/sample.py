"""``sample``: a deterministic random sample by id, exact in size, whatever the worker count."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from pydantic import Field, model_validator

from datamill.core.columns import ID
from datamill.core.errors import SchemaError
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = ["Sample", "SampleConfig"]

_UNSET = np.iinfo(np.uint64).max


class SampleConfig(StepConfig):
    n: int | None = Field(None, ge=0, description="Keep exactly this many rows (all when fewer).")
    fraction: float | None = Field(None, gt=0, le=1, description="Keep about this share of rows.")
    seed: int = Field(0, description="Different seeds give different samples.")

    @model_validator(mode="after")
    def _one_of(self) -> SampleConfig:
        if (self.n is None) == (self.fraction is None):
            raise ValueError("give exactly one of `n` or `fraction`")
        return self


def _hashes(batch: pa.RecordBatch, seed: int, step_id: str) -> np.ndarray[Any, Any]:
    if ID not in batch.schema.names:
        raise SchemaError(f"step {step_id!r} (sample) needs an `id` column to sample by.")
    series = pl.Series(batch.column(ID)).cast(pl.Utf8)
    return series.hash(seed=seed).to_numpy()


@register("sample")
class Sample(Aggregate[SampleConfig, "np.ndarray[Any, Any]", int]):
    """Keep the rows whose seeded hash of ``id`` is smallest: the same rows on one core or
    many, and the same rows again when the input grows (rows only join the sample)."""

    version = 1

    def code_hashes(self) -> list[str]:
        # polars only promises a stable hash within one version.
        return [f"polars {pl.__version__}"]

    def partial(self, batches: Any, ctx: StepContext) -> np.ndarray[Any, Any]:
        if self.config.n is None:
            return np.empty(0, np.uint64)
        best = np.empty(0, np.uint64)
        for batch in batches:
            best = np.concatenate([best, _hashes(batch, self.config.seed, ctx.step_id)])
            if len(best) > 2 * self.config.n:
                best = np.partition(best, self.config.n - 1)[: self.config.n] if self.config.n else best[:0]
        return np.sort(best)[: self.config.n]

    def merge(self, left: np.ndarray[Any, Any], right: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.sort(np.concatenate([left, right]))[: self.config.n or 0]

    def finalize(self, state: np.ndarray[Any, Any]) -> int:
        if self.config.fraction is not None:
            return int(self.config.fraction * float(_UNSET))
        if self.config.n == 0:
            return -1
        if len(state) < (self.config.n or 0):
            return int(_UNSET)
        return int(state[-1])

    def apply(self, batch: pa.RecordBatch, model: int, ctx: StepContext) -> Outcome:
        hashes = _hashes(batch, self.config.seed, ctx.step_id)
        keep = hashes <= model if model >= 0 else np.zeros(len(hashes), bool)
        return Outcome(batch).drop(pa.array(~keep), reason="not_sampled")
