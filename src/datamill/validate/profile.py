"""``stats.profile``: per-column statistics of a dataset, as a step and as a function.

The step is an Aggregate whose output is a summary table: one row per profiled column, with
the headline statistics as typed columns (``column``, ``kind``, ``type``, ``rows``, ``count``,
``missing``, ``distinct``, ``min``, ``max``, ``mean``, ``std``) and the whole column report
(quantiles, histogram, top values, lengths, error bounds) as JSON text in ``stats``.
`report_from_table` turns that table back into the report `profile` returns.

>>> import pyarrow as pa
>>> report = profile(pa.table({"x": [1.0, 2.0, None]}), top_k=0)
>>> report["rows"], report["columns"][0]["missing"]
(3, 1)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import pyarrow as pa
from pydantic import Field

from datamill.core.dataset import Dataset
from datamill.pipeline import Aggregate, StepConfig, StepContext, register
from datamill.validate.stats import DEFAULT_QUANTILES, StatsOptions, TableStats

__all__ = ["PROFILE_SCHEMA", "Profile", "ProfileConfig", "profile", "profile_table", "report_from_table",
           "statistics_of", "stored_profile"]

PROFILE_SCHEMA = pa.schema([
    pa.field("column", pa.string(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("rows", pa.int64(), nullable=False),
    pa.field("count", pa.int64(), nullable=False),
    pa.field("missing", pa.int64(), nullable=False),
    pa.field("distinct", pa.int64()),
    pa.field("min", pa.float64()),
    pa.field("max", pa.float64()),
    pa.field("mean", pa.float64()),
    pa.field("std", pa.float64()),
    pa.field("stats", pa.large_string(), nullable=False),
    pa.field("slice", pa.string()),
])

Quantile = Annotated[float, Field(ge=0.0, le=1.0)]


class ProfileConfig(StepConfig):
    """What ``stats.profile`` computes; the sketch sizes set the error bounds (docs/validate.md).

    >>> ProfileConfig(top_k=3).options().top_k
    3
    """

    columns: tuple[str, ...] | None = Field(None, description="Columns to profile (default: all).")
    exclude: tuple[str, ...] = Field((), description="Columns not to profile.")
    quantiles: tuple[Quantile, ...] = Field(DEFAULT_QUANTILES, description="Quantiles to report, each in 0 … 1.")
    bins: int = Field(20, ge=1, le=1000, description="Equal-width histogram bins between min and max.")
    top_k: int = Field(10, ge=0, le=1000, description="Most frequent values to report (0: none).")
    kll_k: int = Field(200, ge=8, le=65_535, description="KLL sketch size (rank error ≈ 1.33% at 200).")
    hll_lg_k: int = Field(12, ge=4, le=21, description="HyperLogLog registers, log2 (1.6% error at 12).")
    frequent_lg_map_size: int = Field(10, ge=3, le=20,
                                      description="Frequent-items counters, log2 (0.34% of rows at 10).")
    languages: bool = Field(False, description="Detect the languages of a sample of each text column "
                                               "(`language_sample` values per batch; lingua, low-accuracy mode).")
    language_sample: int = Field(64, ge=1, le=65_536, description="Texts per batch whose language is detected.")
    slice_by: str | None = Field(None, description="Also profile each value of this column apart (per slice).")
    max_slices: int = Field(50, ge=1, le=10_000, description="Slices profiled apart; rows of further values are "
                                                             "counted in `overflow_rows`.")

    def options(self) -> StatsOptions:
        """The same settings for `TableStats`."""
        return StatsOptions(quantiles=tuple(self.quantiles), bins=self.bins, top_k=self.top_k, kll_k=self.kll_k,
                            hll_lg_k=self.hll_lg_k, frequent_lg_map_size=self.frequent_lg_map_size,
                            columns=self.columns, exclude=self.exclude, languages=self.languages,
                            language_sample=self.language_sample, slice_by=self.slice_by,
                            max_slices=self.max_slices)


@register("stats.profile")
class Profile(Aggregate[ProfileConfig, TableStats, TableStats]):
    """Profile every column in one streaming pass; the output is one row per column.

    Ledger: every input row is merged into the summary; each summary row is created.
    Metrics: ``columns``.

    >>> from datamill.pipeline import StepContext
    >>> step, ctx = Profile(top_k=0), StepContext("profile")
    >>> state = step.partial(iter([pa.record_batch({"x": [1, 2, 3]})]), ctx)
    >>> table = step.output(step.finalize(state))
    >>> table["column"].to_pylist(), table["mean"].to_pylist(), ctx.ledger.merged
    (['x'], [2.0], 3)
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The columns named in ``columns`` and ``slice_by``, if any."""
        needed = dict.fromkeys(self.config.columns or (), "columns")
        if self.config.slice_by:
            needed[self.config.slice_by] = "slice_by"
        return needed

    def partial(self, batches: Iterator[pa.RecordBatch], ctx: StepContext) -> TableStats:
        """Statistics of one shard."""
        options = self.config.options()
        schema = ctx.input_schemas[ctx.input_index] if len(ctx.input_schemas) > ctx.input_index else None
        state = TableStats.for_schema(schema, options) if schema is not None else TableStats(options)

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                ctx.ledger.rows_in += batch.num_rows
                ctx.ledger.merged += batch.num_rows
                yield batch

        return state.update_all(counted())

    def merge(self, left: TableStats, right: TableStats) -> TableStats:
        """Both shards' statistics."""
        return left.merge(right)

    def finalize(self, state: TableStats) -> TableStats:
        """Nothing left to do: the state is the model."""
        return state

    def output(self, model: TableStats) -> pa.Table:
        """One row per column."""
        return profile_table(model.report())

    def output_metrics(self, model: TableStats) -> dict[str, float]:
        """How many columns were profiled."""
        return {"columns": float(len(model.columns))}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _rows(columns: list[dict[str, Any]], where: str | None) -> list[dict[str, Any]]:
    rows = []
    for column in columns:
        numeric = column["numeric"] or {}
        rows.append({
            "column": column["name"], "kind": column["kind"], "type": column["type"], "rows": column["rows"],
            "count": column["count"], "missing": column["missing"], "distinct": column["distinct"],
            "min": _number(numeric.get("min")), "max": _number(numeric.get("max")),
            "mean": _number(numeric.get("mean")), "std": _number(numeric.get("std")),
            "stats": json.dumps(column, ensure_ascii=False, allow_nan=False), "slice": where,
        })
    return rows


def profile_table(report: dict[str, Any]) -> pa.Table:
    """The summary table of a report (`PROFILE_SCHEMA`): headline columns plus ``stats`` JSON.

    With slices, each slice's columns follow as more rows whose ``slice`` (JSON) names the
    slicing column, the value and the overflow.
    """
    rows = _rows(report["columns"], None)
    slices: dict[str, Any] = report.get("slices") or {"values": []}
    for part in slices["values"]:
        where = json.dumps({"column": slices["column"], "value": part["value"], "rows": part["rows"],
                            "overflow_rows": slices["overflow_rows"]}, ensure_ascii=False)
        rows += _rows(part["columns"], where)
    return pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA)


def report_from_table(table: pa.Table) -> dict[str, Any]:
    """The report `profile` returns, read back from a ``stats.profile`` output table.

    >>> report = profile(pa.table({"x": [1, 2], "g": ["a", "b"]}), slice_by="g")
    >>> report_from_table(profile_table(report)) == report
    True
    """
    overall: list[dict[str, Any]] = []
    parts: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    wheres = table.column("slice").to_pylist() if "slice" in table.column_names else [None] * table.num_rows
    for text, where in zip(table.column("stats").to_pylist(), wheres, strict=True):
        column = json.loads(text)
        if where is None:
            overall.append(column)
        else:
            parts.setdefault(where, (json.loads(where), []))[1].append(column)
    report: dict[str, Any] = {"rows": overall[0]["rows"] if overall else 0, "columns": overall}
    if parts:
        first = next(iter(parts.values()))[0]
        report["slices"] = {"column": first["column"], "overflow_rows": first["overflow_rows"],
                            "values": [{"value": key["value"], "rows": key["rows"], "columns": columns}
                                       for key, columns in parts.values()]}
    return report


def stored_profile(workspace: Any, version_id: str) -> dict[str, Any] | None:
    """The whole-table statistics already computed for a version, read from the store with no
    scan; None when there are none.

    They are the ones ``write.dataset`` stored in the manifest as it wrote the version, else
    the newest of ``stats.profile`` or ``datamill profile`` (profiles restricted to some columns
    are not used).
    """
    stored = workspace.manifest(version_id).get("profile")
    if stored is not None:
        return dict(stored)
    for execution in workspace.catalog.outputs_of("stats.profile", version_id):
        config = json.loads(execution["config"] or "{}")
        if config.get("columns") or config.get("exclude"):
            continue
        if workspace.verify(execution["output_version"]) is None:
            return report_from_table(workspace.open(f"@{execution['output_version']}").to_arrow())
    return None


def statistics_of(data: Any) -> dict[str, Any]:
    """Every column's default statistics: those stored with a `datamill.Dataset` as it was
    written (no scan), else one pass of `profile` over ``data``.

    >>> statistics_of(pa.table({"x": [1, 2]}))["rows"]
    2
    """
    stored = data.profile if isinstance(data, Dataset) else None
    return stored if stored is not None else profile(data)


def profile(data: Any, config: ProfileConfig | None = None, **options: Any) -> dict[str, Any]:
    """Statistics of every column of ``data``, in one streaming pass.

    ``data`` is a `pyarrow.Table`, a `pyarrow.RecordBatch`, a `datamill.Dataset` (read shard by
    shard) or any iterable of record batches. ``options`` are `ProfileConfig` fields.

    >>> report = profile([pa.record_batch({"s": ["a", "a", "b"]})], top_k=1)
    >>> report["columns"][0]["top"]["items"]
    [{'value': 'a', 'count': 2, 'lower': 2, 'upper': 2}]
    """
    settings = Profile({**(config.model_dump() if config else {}), **options}).config.options()
    schema: pa.Schema | None = None
    batches: Iterable[pa.RecordBatch]
    if isinstance(data, pa.Table):
        schema, batches = data.schema, data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        schema, batches = data.schema, [data]
    elif hasattr(data, "batches") and hasattr(data, "schema"):
        schema, batches = data.schema, data.batches()
    else:
        batches = data
    state = TableStats.for_schema(schema, settings) if schema is not None else TableStats(settings)
    return state.update_all(batches).report()
