"""``filter.expr``: keep the rows where a polars expression is true."""

from __future__ import annotations

from typing import Any

import polars as pl
import pyarrow as pa
from pydantic import Field, field_validator

from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register

__all__ = ["FilterExpr", "FilterExprConfig", "compile_expr"]


def compile_expr(text: str) -> pl.Expr:
    """Evaluate a polars expression written as Python (``pl.col('n') > 2``).

    The pipeline file is the user's own code, as with ``map.python``; only ``pl`` is in scope.
    """
    try:
        expr = eval(text, {"__builtins__": {}, "pl": pl}, {})
    except Exception as err:  # any error in the user's expression text
        raise ValueError(f"cannot evaluate {text!r}: {type(err).__name__}: {err}") from err
    if not isinstance(expr, pl.Expr):
        raise ValueError(f"{text!r} is a {type(expr).__name__}, not a polars expression like "
                         "\"pl.col('n') > 2\"")
    return expr


class FilterExprConfig(StepConfig):
    expr: str = Field(description="A polars expression over the columns, e.g. \"pl.col('CLASS') == 1\".")
    reason: str = Field("filtered", pattern=r"^[a-z][a-z0-9_]*$",
                        description="Ledger reason for the rows dropped.")

    @field_validator("expr")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_expr(value)
        return value


@register("filter.expr")
class FilterExpr(Transform[FilterExprConfig]):
    """Keep rows where ``expr`` is true; false or null rows are dropped under ``reason``.

    >>> FilterExpr(expr="pl.col('n') > 2").config.reason
    'filtered'
    """

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._expr = compile_expr(self.config.expr)

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        keep = frame.select(self._expr.fill_null(False).alias("keep")).to_series().to_arrow()
        return Outcome(batch).drop(pa.compute.invert(keep), reason=self.config.reason)
