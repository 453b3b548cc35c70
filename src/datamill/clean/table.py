"""``clean.table``: one representation per value, one type per column, one unit per quantity.

A global pass in two: the first profiles every column (`datamill.clean.table_profile`), the
second rewrites each batch by the plan the profile and the config give (`plan_cleaning`). Rows
are rewritten, not dropped; with ``on_cast_error: quarantine`` a row holding a value that does
not fit its column's type is quarantined (``cast_error``). Every change is counted in metrics,
``<column>: <from> -> <to>`` (at most `METRICS_PER_COLUMN` names per column), plus the totals
``cells_changed``, ``cells_nulled`` and ``cast_errors``.

>>> import pyarrow as pa
>>> from datamill.testing import run_step
>>> batch = pa.record_batch({"id": ["a", "b", "c"], "age": [" 39", "?", "50"], "sex": [" Male", "male", "Male"]})
>>> result = run_step(CleanTable(case={"sex": "majority"}), [batch])
>>> result.output["age"].to_pylist(), result.output["sex"].to_pylist()
([39, None, 50], ['Male', 'Male', 'Male'])
>>> result.metrics["age: null token -> null"], result.ledger.balanced
(1.0, True)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from datamill.clean._table_values import (
    DEFAULT_NULLS,
    INT_CLASSES,
    NUMERIC_CLASSES,
    UNITS,
    canonical_unit,
    classify,
    conversion,
    parse_bool,
    parse_date,
    parse_float,
    parse_int,
    parse_timestamp,
)
from datamill.clean.table_profile import (
    ColumnReport,
    ProfileOptions,
    TableReport,
    TableState,
    _kinds,
    allowed_classes,
)
from datamill.core.errors import ConfigError
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = ["Change", "CleanTable", "CleanTableConfig", "ColumnPlan", "TablePlan", "UnitsConfig", "plan_cleaning",
           "suggested_config"]

TypeName = Literal["int64", "float64", "bool", "date", "timestamp", "string"]
CaseRule = Literal["lower", "upper", "title", "majority"]
METRICS_PER_COLUMN = 20
_ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "date": pa.date32(),
    "timestamp": pa.timestamp("us"), "string": pa.string(),
}
_POLARS_TYPES: dict[str, Any] = {"int64": pl.Int64, "float64": pl.Float64, "string": pl.String}


class UnitsConfig(BaseModel):
    """How to bring one column's numbers to one unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str = Field(description="The unit to convert to, e.g. 'kg', '%', 'fraction', 'count', 'USD'.")
    bare_unit: str | None = Field(
        None, description="The unit of numbers written without one (default: `target`).")
    factors: dict[str, float] = Field(
        default_factory=dict,
        description="Extra units: how many `target` units one of each is, e.g. {'€': 1.08} with target "
        "USD. They override the built-in conversions.")

    @model_validator(mode="after")
    def _known(self) -> UnitsConfig:
        extra = tuple(self.factors)
        for what, unit in (("target", self.target), ("bare_unit", self.bare_unit)):
            if unit is None or unit in self.factors or (what == "bare_unit" and unit == self.target):
                continue
            if canonical_unit(unit, extra) is None and not self.factors:
                raise ValueError(f"`{what}` {unit!r} is not a unit datamill knows ({', '.join(UNITS)}); "
                                 "name its conversions in `factors`")
        return self


class CleanTableConfig(StepConfig):
    """Options of ``clean.table``."""

    columns: list[str] | None = Field(
        None, description="Columns to clean; default: all but the reserved id, text, source, page, meta.")
    nulls: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NULLS),
        description="Tokens read as null, compared with the value stripped of surrounding whitespace "
        "(so ' ?' matches '?'). Float NaN is null when 'NaN' or 'nan' is listed.")
    column_nulls: dict[str, list[str]] = Field(
        default_factory=dict, description="Per column: tokens read as null instead of `nulls`.")
    trim: bool | list[str] = Field(
        True, description="Strip leading and trailing whitespace: all string columns, none, or the listed ones.")
    case: dict[str, CaseRule] = Field(
        default_factory=dict,
        description="Per column: lower, upper, title, or majority (each group of case variants becomes its "
        "most common form).")
    cast: Literal["auto", "none"] | dict[str, TypeName | Literal["auto"]] = Field(
        "auto",
        description="auto: give each string column the type all its values parse to; none: keep strings; "
        "a mapping: cast exactly these columns (a type, or auto).")
    on_cast_error: Literal["null", "quarantine", "keep_column_as_string"] = Field(
        "null", description="A value that does not parse to its column's type: make it null (counted), "
        "quarantine the row, or keep the whole column as strings.")
    sentinels: Literal["auto", "none"] | dict[str, list[float]] = Field(
        "auto",
        description="Numbers that mean missing: auto (detected with high confidence, see docs/tables.md), "
        "none, or exactly these per column, e.g. {age: [-999]}.")
    units: dict[str, UnitsConfig] = Field(
        default_factory=dict, description="Per column: convert numbers with units to one unit (off by default).")
    day_first: bool | None = Field(
        None, description="Read 04/03/2021 as 4 March (true) or April 3 (false); default: decided per column "
        "by the data, month-first when it cannot tell.")

    @field_validator("nulls")
    @classmethod
    def _strings(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("cast", mode="before")
    @classmethod
    def _types(cls, value: Any) -> Any:
        # One clear message instead of pydantic's one per branch of the union.
        names = [*_ARROW_TYPES, "auto"]
        if isinstance(value, dict):
            for column, name in value.items():
                if name not in names:
                    raise ValueError(f"column {column!r}: {name!r} is not a type clean.table casts to "
                                     f"({', '.join(names)})")
        elif value not in ("auto", "none"):
            raise ValueError("give `auto`, `none`, or a mapping of column to type, e.g. {age: int64}")
        return value

    def profile_options(self) -> ProfileOptions:
        """What the first pass needs to know from the config."""
        return ProfileOptions(
            nulls=tuple(self.nulls),
            column_nulls={k: tuple(v) for k, v in self.column_nulls.items()},
            units={k: tuple(u.factors) for k, u in self.units.items()},
            sentinels={k: tuple(v) for k, v in self.sentinels.items()} if isinstance(self.sentinels, dict) else {},
            columns=tuple(self.columns) if self.columns is not None else None,
        )

    def named_columns(self) -> dict[str, str]:
        """Every column the config names, mapped to the option that names it."""
        named: dict[str, str] = {}
        for option, value in (("columns", self.columns or []), ("column_nulls", self.column_nulls),
                              ("trim", self.trim if isinstance(self.trim, list) else []), ("case", self.case),
                              ("cast", self.cast if isinstance(self.cast, dict) else {}),
                              ("sentinels", self.sentinels if isinstance(self.sentinels, dict) else {}),
                              ("units", self.units)):
            for column in value:
                named.setdefault(column, option)
        return named


# ------------------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Change:
    """One kind of change to a column: ``count`` values go from class ``source`` to ``target``."""

    source: str
    target: str
    count: int | None
    examples: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``<from> -> <to>``, as in the metric names."""
        return f"{self.source} -> {self.target}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"from": self.source, "to": self.target, "count": self.count, "examples": self.examples}


@dataclass
class ColumnPlan:
    """What ``clean.table`` does to one column (picklable: it travels to the workers)."""

    name: str
    kind: str
    nulls: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    trim: bool = False
    case: str | None = None
    case_map: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    allowed: frozenset[str] = frozenset()
    day_first: bool = False
    sentinels: tuple[float, ...] = ()
    factors: dict[str, tuple[float, float]] = field(default_factory=dict)
    unit_target: str | None = None
    nan_is_null: bool = False
    metric_keys: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)


@dataclass
class TablePlan:
    """The plan for a whole table, and the changes the profile says it will make."""

    columns: dict[str, ColumnPlan]
    changes: dict[str, list[Change]]
    on_cast_error: str = "null"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: per column, the type it is cast to (None: kept), notes, and the changes."""
        return {
            name: {"type": plan.target, "notes": plan.notes,
                   "changes": [c.to_dict() for c in self.changes.get(name, [])]}
            for name, plan in self.columns.items()
        }


def _unit_factors(col: ColumnReport, units: UnitsConfig) -> tuple[dict[str, tuple[float, float]], list[str]]:
    factors: dict[str, tuple[float, float]] = {}
    notes: list[str] = []
    target = units.target

    def factor(unit: str) -> tuple[float, float] | None:
        if unit in units.factors:
            return units.factors[unit], 0.0
        canonical = canonical_unit(unit, tuple(units.factors))
        if canonical in units.factors:
            return units.factors[canonical], 0.0
        if canonical == target or unit == target:
            return 1.0, 0.0
        return conversion(canonical or unit, canonical_unit(target) or target)

    bare = factor(units.bare_unit) if units.bare_unit else (1.0, 0.0)
    for cls in col.classes:
        if cls in NUMERIC_CLASSES and bare is not None:
            factors[cls] = bare
        elif cls.startswith("unit:"):
            found = factor(cls.split(":", 1)[1])
            if found is None:
                notes.append(f"{cls.split(':', 1)[1]} does not convert to {target}: add it to `factors`")
            else:
                factors[cls] = found
    return factors, notes


def _plan_column(col: ColumnReport, config: CleanTableConfig) -> ColumnPlan:
    options = config.profile_options()
    plan = ColumnPlan(col.name, col.kind, nulls=options.nulls_for(col.name), units=options.units.get(col.name, ()))
    if isinstance(config.sentinels, dict):
        plan.sentinels = tuple(float(v) for v in config.sentinels.get(col.name, ()))
    elif config.sentinels == "auto":
        plan.sentinels = tuple(col.sentinels)
    wanted: str | None = config.cast.get(col.name) if isinstance(config.cast, dict) else config.cast
    if col.kind == "number":
        plan.nan_is_null = any(t.lower() == "nan" for t in plan.nulls)
        if wanted not in (None, "auto", "none"):
            if wanted not in _POLARS_TYPES:
                raise ConfigError(f"step 'clean.table': column {col.name!r} holds {col.dtype} numbers; `cast` can "
                                  f"make it int64, float64 or string, not {wanted!r}.")
            plan.target = wanted
        return plan
    if col.kind != "string":
        if wanted not in (None, "auto", "none"):
            raise ConfigError(f"step 'clean.table': column {col.name!r} is {col.dtype}; `cast` only changes "
                              "string and number columns.")
        return plan
    plan.trim = config.trim is True or (isinstance(config.trim, list) and col.name in config.trim)
    plan.day_first = config.day_first if config.day_first is not None else bool(col.day_first)
    units = config.units.get(col.name)
    if units is not None:
        plan.factors, plan.notes = _unit_factors(col, units)
        plan.unit_target = units.target
        plan.target = "float64"
        plan.allowed = frozenset(plan.factors)
    elif wanted == "auto":
        plan.target = None if col.inferred == "string" else col.inferred
    elif wanted not in (None, "none", "string"):
        plan.target = wanted
    if plan.target is not None and units is None:
        plan.allowed = allowed_classes(col, plan.target, day_first=plan.day_first)
    if plan.target is not None and config.on_cast_error == "keep_column_as_string":
        failing = _failing(col, plan)
        if failing:
            plan.notes.append(f"kept as string: {failing:,} value(s) are not {plan.target}")
            plan.target, plan.allowed, plan.factors, plan.unit_target = None, frozenset(), {}, None
    rule = config.case.get(col.name)
    if rule is not None and plan.target is None:
        plan.case = rule
        if rule == "majority":
            if col.values is None:
                plan.case = None
                plan.notes.append("case: majority skipped: too many distinct values to group")
            plan.case_map = {key: next(iter(forms)) for key, forms in col.case_groups.items()}
    return plan


def _failing(col: ColumnReport, plan: ColumnPlan) -> int:
    return sum(n - col.sentinel_count(plan.sentinels, classes=[c]) for c, n in col.classes.items()
               if c != "missing" and c not in plan.allowed)


def _changes(col: ColumnReport, plan: ColumnPlan, on_cast_error: str) -> list[Change]:
    out: list[Change] = []
    examples = {r.cls: r.examples for r in col.representations}
    if col.missing:
        out.append(Change("null token", "null", col.missing, examples.get("missing", {})))
    sentinel = col.sentinel_count(plan.sentinels)
    if sentinel:
        counts = {_num(v): col.sentinel_count([v]) for v in plan.sentinels}
        out.append(Change("sentinel", "null", sentinel, {k: v for k, v in counts.items() if v}))
    if col.kind == "number":
        if plan.target is not None and col.present - sentinel:
            out.append(Change("number", plan.target, col.present - sentinel, examples.get("number", {})))
        return out
    if plan.target is not None:
        failed_to = "quarantined (cast error)" if on_cast_error == "quarantine" else "null (cast error)"
        to = plan.unit_target or plan.target
        for cls, n in sorted(col.classes.items(), key=lambda cn: (-cn[1], cn[0])):
            if cls == "missing":
                continue
            count = n - col.sentinel_count(plan.sentinels, classes=[cls])
            if count:
                out.append(Change(cls, to if cls in plan.allowed else failed_to, count,
                                  examples.get(cls, {})))
        return out
    if plan.trim:
        padded = sum(n for c, n in col.padded.items() if c != "missing") - col.sentinel_count(plan.sentinels,
                                                                                             padded=True)
        if padded:
            out.append(Change("padded", "trimmed", padded, _padded(col)))
    if plan.case is not None:
        out.append(Change("case variant", plan.case, _case_changes(col, plan),
                          {" / ".join(f): sum(f.values()) for f in list(col.case_groups.values())[:5]}))
    return out


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _padded(col: ColumnReport) -> dict[str, int]:
    out: dict[str, int] = {}
    for rep in col.representations:
        if rep.cls != "missing":
            out.update({v: n for v, n in rep.examples.items() if v != v.strip()})
    return dict(list(out.items())[:5])


def _case_changes(col: ColumnReport, plan: ColumnPlan) -> int | None:
    if col.values is None:
        return None
    values = pl.Series(list(col.values), dtype=pl.String)
    counts = pl.Series(list(col.values.values()), dtype=pl.Int64)
    changed = _recase(values, plan) != values
    return int(counts.filter(changed).sum())


def _recase(values: pl.Series, plan: ColumnPlan) -> pl.Series:
    frame = pl.DataFrame({"v": values})
    return frame.select(_case_expr(pl.col("v"), plan)).to_series()


def _case_expr(v: pl.Expr, plan: ColumnPlan) -> pl.Expr:
    if plan.case == "lower":
        return v.str.to_lowercase()
    if plan.case == "upper":
        return v.str.to_uppercase()
    if plan.case == "title":
        return v.str.to_titlecase()
    if plan.case == "majority" and plan.case_map:
        key = v.str.strip_chars().str.to_lowercase()
        return key.replace_strict(plan.case_map, default=v, return_dtype=pl.String)
    return v


def plan_cleaning(report: TableReport, config: CleanTableConfig | None = None) -> TablePlan:
    """What ``clean.table`` with ``config`` does to the table ``report`` describes.

    The changes are counted from the profile, so ``datamill table-check`` can show them
    without writing anything; the step's metrics count the same changes as it makes them.
    """
    config = config or CleanTableConfig()
    columns: dict[str, ColumnPlan] = {}
    changes: dict[str, list[Change]] = {}
    for col in report.columns:
        plan = _plan_column(col, config)
        found = _changes(col, plan, config.on_cast_error)
        ranked = sorted(found, key=lambda c: -(c.count or 0))
        plan.metric_keys = frozenset(c.key for c in ranked[: METRICS_PER_COLUMN - 1])
        columns[col.name] = plan
        changes[col.name] = found
    return TablePlan(columns, changes, config.on_cast_error)


def _with_defaults_removed(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v not in (None, {}, [])}


def suggested_config(report: TableReport, config: CleanTableConfig | None = None) -> dict[str, Any]:
    """The options of ``clean.table`` that the profile suggests beyond the defaults (a ``with:`` block).

    Case variants get ``case: majority``; numbers in several units get ``units`` with the most
    common unit as the target; a column mostly of numbers or dates with a few other values gets
    its type in ``cast`` (the other values then become null, counted).
    """
    config = config or CleanTableConfig()
    case: dict[str, str] = dict(config.case)
    units: dict[str, Any] = {k: v.model_dump(exclude_defaults=True) for k, v in config.units.items()}
    forced: dict[str, str] = {}
    for col in report.columns:
        if col.case_groups and col.inferred == "string" and col.name not in case:
            case[col.name] = "majority"
        suggestion = _units_suggestion(col)
        if suggestion is not None and col.name not in units:
            units[col.name] = suggestion
        mixed = col.finding("mixed_types")
        if mixed is not None and col.name not in units:
            main = _main_kind(col)
            target = {"number": "float64", "date": "date", "bool": "bool"}.get(main)
            if target is not None and mixed.count <= 0.05 * max(col.present, 1):
                forced[col.name] = "int64" if target == "float64" and _all_int(col) else target
    options: dict[str, Any] = {"case": case, "units": units}
    if forced and not isinstance(config.cast, dict):
        cast = {c.name: c.inferred for c in report.columns if c.kind == "string" and c.inferred != "string"
                and c.name not in units}
        cast.update(forced)
        options["cast"] = cast
    elif forced and isinstance(config.cast, dict):
        options["cast"] = {**forced, **config.cast}
    return _with_defaults_removed(options)


def _main_kind(col: ColumnReport) -> str:
    kinds = _kinds(col.classes)
    return max(kinds.items(), key=lambda kv: kv[1])[0] if kinds else "text"


def _all_int(col: ColumnReport) -> bool:
    numeric = {c for c in col.classes if c in NUMERIC_CLASSES}
    return numeric <= INT_CLASSES


def _units_suggestion(col: ColumnReport) -> dict[str, Any] | None:
    units = Counter({c.split(":", 1)[1]: n for c, n in col.classes.items() if c.startswith("unit:")})
    if not units or col.kind != "string":
        return None
    target = units.most_common(1)[0][0]
    if any(conversion(u, target) is None for u in units):
        return None
    bare = any(c in NUMERIC_CLASSES for c in col.classes)
    if target == "%" and bare and (col.numbers.minimum or 0) >= 0 and (col.numbers.maximum or 0) <= 1:
        return {"target": "fraction"}
    return {"target": target}


# ------------------------------------------------------------------------------------- step
@register("clean.table")
class CleanTable(Aggregate[CleanTableConfig, TableState, TablePlan]):
    """Make a table consistent: null tokens and sentinels to null, whitespace trimmed, case
    unified, each column cast to the type its values share, units converted.

    The first pass profiles the table (`datamill.clean.table_profile`); the second rewrites it.
    Cleaning a cleaned table changes nothing.

    >>> CleanTable(cast={"age": "int64"}).config.on_cast_error
    'null'
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        return self.config.named_columns()

    def code_hashes(self) -> list[str]:
        # polars parses the dates and numbers; another version could read a value differently.
        return [f"polars {pl.__version__}"]

    def partial(self, batches: Iterator[pa.RecordBatch], ctx: StepContext) -> TableState:
        state = TableState(self.config.profile_options())
        for batch in batches:
            self._check(batch.schema)
            state.update(batch)
        return state

    def _check(self, schema: pa.Schema) -> None:
        missing = {c: o for c, o in self.config.named_columns().items() if c not in schema.names}
        if missing:
            named = ", ".join(f"{c!r} (in `{o}`)" for c, o in missing.items())
            raise ConfigError(f"step {self.label!r}: the input has no column {named}; it has "
                              f"{', '.join(schema.names)}.")

    def merge(self, left: TableState, right: TableState) -> TableState:
        return left.merge(right)

    def finalize(self, state: TableState) -> TablePlan:
        return plan_cleaning(state.report(), self.config)

    def apply(self, batch: pa.RecordBatch, model: TablePlan, ctx: StepContext) -> Outcome:
        columns = list(batch.columns)
        failed_any: pa.Array | None = None
        errors: pa.Array | None = None
        changed_cells = 0
        for name, plan in model.columns.items():
            if name not in batch.schema.names:
                continue
            index = batch.schema.get_field_index(name)
            column, stats = _clean_column(batch.column(index), plan, model.on_cast_error)
            columns[index] = column
            changed_cells += stats.changed
            for key, count in stats.transitions.items():
                metric = key if key in plan.metric_keys else "other"
                ctx.metric(f"{name}: {metric}", count)
            if stats.nulled:
                ctx.metric("cells_nulled", stats.nulled)
            if stats.failed is not None and stats.failed_count:
                ctx.metric("cast_errors", stats.failed_count)
                if model.on_cast_error == "quarantine":
                    failed_any = stats.failed if failed_any is None else pc.or_(failed_any, stats.failed)
                    message = pc.if_else(stats.failed, stats.messages, pa.scalar(None, pa.string()))
                    errors = message if errors is None else pc.coalesce(errors, message)
        if changed_cells:
            ctx.metric("cells_changed", changed_cells)
        fields = [pa.field(f.name, c.type, nullable=True, metadata=f.metadata) if f.name in model.columns else f
                  for f, c in zip(batch.schema, columns, strict=True)]
        cleaned = pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields, metadata=batch.schema.metadata))
        outcome = Outcome(cleaned, original=batch)
        if failed_any is not None and errors is not None:
            outcome.quarantine(failed_any, reason="cast_error", error=pc.fill_null(errors, ""))
        return outcome


@dataclass
class _Stats:
    transitions: Counter[str] = field(default_factory=Counter)
    changed: int = 0
    nulled: int = 0
    failed: pa.Array | None = None
    failed_count: int = 0
    messages: pa.Array | None = None


def _clean_column(column: pa.Array, plan: ColumnPlan, on_cast_error: str) -> tuple[pa.Array, _Stats]:
    if plan.kind == "string":
        return _clean_strings(column, plan, on_cast_error)
    if plan.kind == "number":
        return _clean_numbers(column, plan)
    return column, _Stats()


def _output_type(column: pa.Array, plan: ColumnPlan) -> pa.DataType:
    if plan.target is not None:
        return _ARROW_TYPES[plan.target]
    if pa.types.is_dictionary(column.type):
        return column.type.value_type
    return column.type


def _decide(values: pl.Series, plan: ColumnPlan, on_cast_error: str) -> pl.DataFrame:
    """What becomes of each distinct non-null value: its output, its change label, and flags."""
    stripped = values.str.strip_chars()
    classes = classify(stripped, nulls=plan.nulls, units=plan.units)
    frame = pl.DataFrame({"v": values, "s": stripped, "cls": classes["cls"], "num": classes["num"]})
    v, s, cls, num = pl.col("v"), pl.col("s"), pl.col("cls"), pl.col("num")
    sentinel = cls.is_in(list(NUMERIC_CLASSES)) & num.is_in(
        pl.Series(list(plan.sentinels), dtype=pl.Float64).implode())
    frame = frame.with_columns((cls == "missing").alias("missing"), sentinel.fill_null(False).alias("sentinel"))
    nulled = pl.col("missing") | pl.col("sentinel")
    frame = frame.with_columns(nulled.alias("nulled"))
    if plan.target is not None:
        frame = frame.with_columns(_parse(plan, s, cls, num).alias("out"))
        frame = frame.with_columns((~nulled & pl.col("out").is_null()).alias("failed"))
        failed_to = "quarantined (cast error)" if on_cast_error == "quarantine" else "null (cast error)"
        to = plan.unit_target or plan.target
        return frame.with_columns(
            pl.when(nulled | pl.col("failed")).then(None).otherwise(pl.col("out")).alias("out"),
            pl.when(pl.col("missing")).then(pl.lit("null token -> null"))
            .when(pl.col("sentinel")).then(pl.lit("sentinel -> null"))
            .when(pl.col("failed")).then(cls + f" -> {failed_to}")
            .otherwise(cls + f" -> {to}").alias("label"),
            pl.lit(True).alias("changed"), pl.lit(False).alias("trimmed"), pl.lit(False).alias("recased"),
            pl.format("column `{}`: {} is not {}", pl.lit(plan.name), _quoted(v), pl.lit(to)).alias("message"),
        )
    text = s if plan.trim else v
    recased = _case_expr(text, plan)
    frame = frame.with_columns(
        pl.when(nulled).then(None).otherwise(recased).alias("out"),
        (pl.lit(plan.trim) & ~nulled & (v != s)).alias("trimmed"),
        (~nulled & (recased != text)).fill_null(False).alias("recased"),
        pl.lit(False).alias("failed"),
        pl.when(pl.col("missing")).then(pl.lit("null token -> null"))
        .when(pl.col("sentinel")).then(pl.lit("sentinel -> null")).alias("label"),
        pl.lit(None, pl.String).alias("message"),
    )
    return frame.with_columns((nulled | (pl.col("out") != v)).fill_null(False).alias("changed"))


def _clean_strings(column: pa.Array, plan: ColumnPlan, on_cast_error: str) -> tuple[pa.Array, _Stats]:
    stats = _Stats()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    raw = pl.Series("v", column).cast(pl.String)
    # Decide once per distinct value: categorical columns repeat a few values many times.
    decided = _decide(raw.drop_nulls().unique(maintain_order=True), plan, on_cast_error)
    rows = pl.DataFrame({"v": raw}).join(decided, on="v", how="left", maintain_order="left")
    flags = rows.select(*(pl.col(c).fill_null(False).sum() for c in ("changed", "nulled", "failed", "trimmed",
                                                                       "recased"))).row(0)
    stats.changed, nulled, stats.failed_count, trimmed, recased = (int(x) for x in flags)
    for key, n in rows.get_column("label").drop_nulls().value_counts().iter_rows():
        stats.transitions[key] += int(n)
    if trimmed:
        stats.transitions["padded -> trimmed"] += trimmed
    if recased:
        stats.transitions[f"case variant -> {plan.case}"] += recased
    stats.nulled = nulled + stats.failed_count * (on_cast_error == "null")
    if stats.failed_count:
        stats.failed = rows.get_column("failed").fill_null(False).to_arrow()
        stats.messages = rows.get_column("message").to_arrow().cast(pa.string())
    out = rows.get_column("out").to_arrow().cast(_output_type(column, plan))
    return out, stats


def _quoted(v: pl.Expr) -> pl.Expr:
    # repr-like quoting for the error message, cut to keep quarantine rows small.
    return pl.lit("'") + v.str.slice(0, 200) + pl.lit("'")


def _parse(plan: ColumnPlan, s: pl.Expr, cls: pl.Expr, num: pl.Expr) -> pl.Expr:
    allowed = cls.is_in(list(plan.allowed))
    if plan.target == "float64" and plan.factors:
        factor = cls.replace_strict({c: f for c, (f, _) in plan.factors.items()}, default=None,
                                    return_dtype=pl.Float64)
        offset = cls.replace_strict({c: o for c, (_, o) in plan.factors.items()}, default=None,
                                    return_dtype=pl.Float64)
        return pl.when(allowed).then(num * factor + offset)
    parsed: pl.Expr
    if plan.target == "int64":
        parsed = parse_int(s)
    elif plan.target == "float64":
        parsed = parse_float(s)
    elif plan.target == "bool":
        parsed = parse_bool(s)
    elif plan.target == "date":
        parsed = parse_date(s, cls, day_first=plan.day_first)
    elif plan.target == "timestamp":
        parsed = parse_timestamp(s, cls, day_first=plan.day_first)
    else:
        return s
    return pl.when(allowed).then(parsed)


def _clean_numbers(column: pa.Array, plan: ColumnPlan) -> tuple[pa.Array, _Stats]:
    stats = _Stats()
    series = pl.Series("v", column)
    frame = pl.DataFrame({"v": series})
    v = pl.col("v")
    is_float = series.dtype.is_float()
    nan = (v.is_nan() & pl.lit(plan.nan_is_null)) if is_float else pl.lit(False)
    sentinel = v.cast(pl.Float64).is_in(pl.Series(list(plan.sentinels), dtype=pl.Float64).implode())
    frame = frame.with_columns(nan.fill_null(False).alias("nan"), sentinel.fill_null(False).alias("sentinel"))
    nulled = pl.col("nan") | pl.col("sentinel")
    out = pl.when(nulled).then(None).otherwise(v)
    if plan.target is not None:
        out = out.cast(_POLARS_TYPES[plan.target], strict=False)
    frame = frame.with_columns(out.alias("out"))
    stats.transitions["null token -> null"] += int(frame.get_column("nan").sum())
    stats.transitions["sentinel -> null"] += int(frame.get_column("sentinel").sum())
    failed = frame.select(v.is_not_null() & ~nulled & pl.col("out").is_null()).to_series()
    stats.failed_count = int(failed.sum())
    if stats.failed_count:
        stats.failed = failed.to_arrow()
        stats.messages = (frame.select(pl.format("column `{}`: {} is not {}", pl.lit(plan.name),
                                                 v.cast(pl.String), pl.lit(plan.target)))
                          .to_series().to_arrow().cast(pa.string()))
    if plan.target is not None:
        present = int(frame.select(v.is_not_null() & ~nulled).to_series().sum())
        if present - stats.failed_count:
            stats.transitions[f"number -> {plan.target}"] += present - stats.failed_count
        if stats.failed_count:
            stats.transitions["number -> null (cast error)"] += stats.failed_count
    stats.transitions = Counter({k: n for k, n in stats.transitions.items() if n})
    stats.nulled = int(frame.select(nulled).to_series().sum()) + stats.failed_count
    stats.changed = stats.nulled + (int(series.is_not_null().sum()) - stats.nulled if plan.target else 0)
    result = frame.get_column("out").to_arrow()
    return result.cast(_ARROW_TYPES[plan.target] if plan.target else column.type), stats
