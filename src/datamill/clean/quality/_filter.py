"""What the four quality filters share: the text column, per-document rules in order, the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datamill.core.errors import SchemaError
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform

__all__ = ["Check", "QualityFilter", "QualityFilterConfig", "ratio"]

# A document's verdict: the reason of the first rule it fails (None: it passes), its statistics,
# and its new text when the filter rewrites documents (C4 removes lines).
Check = tuple[str | None, dict[str, float], str | None]


class QualityFilterConfig(StepConfig):
    """Options every quality filter has."""

    text_column: str = Field("text", min_length=1, description="The column holding each document's text.")
    keep_stats: bool = Field(False, description="Add a struct column with the statistics each rule compared "
                                                "to its threshold, one row per document (for tuning).")


C = TypeVar("C", bound=QualityFilterConfig)


class QualityFilter(Transform[C]):
    """Base of the quality filters: judge each document on its own, drop it under its first failed rule.

    Subclasses set `drop_reasons` (reason → what it means and where it comes from, in the order
    the rules run), `stats_column` and `stat_names`, and implement `check`. A null text is
    quarantined (``null_text``): there is nothing to judge.
    """

    drop_reasons: ClassVar[dict[str, str]] = {}
    stats_column: ClassVar[str] = ""
    stat_names: ClassVar[tuple[str, ...]] = ()

    def required_columns(self) -> dict[str, str]:
        return {self.config.text_column: "text_column"}

    def check(self, text: str) -> Check:
        """The first rule ``text`` fails (None when it passes all), its statistics and new text."""
        raise NotImplementedError

    def finish(self, ctx: StepContext, checks: list[Check | None]) -> None:
        """Record batch metrics once every document is judged (C4 counts its line removals)."""

    def _texts(self, batch: pa.RecordBatch, step_id: str) -> pa.Array:
        column = self.config.text_column
        if column not in batch.schema.names:
            raise SchemaError(
                f"step {step_id!r} ({self.label}) needs a text column {column!r}; the input has "
                f"{', '.join(batch.schema.names) or 'no columns'}. Point it at yours with "
                "`with: {text_column: ...}`."
            )
        kind = batch.schema.field(column).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise SchemaError(f"step {step_id!r} ({self.label}): column {column!r} holds {kind}, not text; cast it "
                              "to string first or point `text_column` at a text column.")
        return batch.column(column)

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome:
        texts = self._texts(batch, ctx.step_id)
        values = texts.to_pylist()
        checks: list[Check | None] = [None if t is None else self.check(t) for t in values]
        self.finish(ctx, checks)
        judged = _put(batch, self.stats_column, self._stats_array(checks)) if self.config.keep_stats else batch
        out = judged
        if any(c is not None and c[2] is not None for c in checks):
            new = [t if c is None or c[2] is None else c[2] for t, c in zip(values, checks, strict=True)]
            position = batch.schema.get_field_index(self.config.text_column)
            out = judged.set_column(position, batch.schema.field(position), pa.array(new, texts.type))
        # Drop examples and quarantined rows show the text as it came in, with the statistics.
        outcome = Outcome(out, original=judged if out is not judged else None)
        outcome.quarantine(pc.is_null(texts), reason="null_text",
                           error=f"the text column {self.config.text_column!r} is null, so there is nothing to judge")
        verdicts = [None if c is None else c[0] for c in checks]
        for reason in dict.fromkeys(v for v in verdicts if v is not None):
            outcome.drop(pa.array([v == reason for v in verdicts], pa.bool_()), reason=reason)
        return outcome

    def _stats_array(self, checks: list[Check | None]) -> pa.Array:
        kind = pa.struct([(name, pa.float64()) for name in self.stat_names])
        rows: list[Mapping[str, Any] | None] = [None if c is None else c[1] for c in checks]
        return pa.array(rows, kind)


def _put(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    """Add column ``name``, or replace it when the input already has one."""
    if name in batch.schema.names:
        index = batch.schema.get_field_index(name)
        return batch.set_column(index, pa.field(name, values.type), values)
    return batch.append_column(pa.field(name, values.type), values)


def ratio(part: float, whole: float) -> float:
    """``part / whole``, with 0/0 = 0 and x/0 = inf (a share of nothing).

    >>> ratio(1, 4), ratio(0, 0), ratio(2, 0)
    (0.25, 0.0, inf)
    """
    if whole:
        return part / whole
    return float("inf") if part else 0.0
