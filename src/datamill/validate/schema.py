"""A data schema: what each column should hold, inferred from data and edited by hand as YAML.

`infer_schema` reads a table in one streaming pass (bounded memory, mergeable state) and writes
down, per column: the Arrow type, whether values may be missing and how many, a numeric range,
the exact domain of a low-cardinality column, a string format, uniqueness, reference quantiles
(for the mixed-units and outlier checks) and drift / skew thresholds. `datamill.validate.anomalies`
checks new data against it. The rules that keep a clean resample of the training data quiet are
in docs/schema.md ("Inference margins").

>>> import pyarrow as pa
>>> schema = infer_schema(pa.table({"size": ["S", "M", "L"] * 20, "n": list(range(60))}))
>>> schema.columns["size"].domain, schema.columns["n"].unique
(['L', 'M', 'S'], True)
>>> Schema.from_yaml(schema.to_yaml()) == schema
True
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datamill.core.columns import ID
from datamill.core.errors import ConfigError, did_you_mean
from datamill.validate.formats import FORMATS, FormatName, format_mask, infer_format, is_stringlike, numbers
from datamill.validate.sketches import QuantileSketch
from datamill.validate.stats import column_kind

__all__ = [
    "QUANTILE_PROBS",
    "ColumnSchema",
    "DriftRule",
    "OutlierRule",
    "Schema",
    "family",
    "infer_schema",
    "iter_batches",
    "load_schema",
    "missing_mask",
    "row_hashes",
    "share_bound",
    "value_hashes",
]

SCHEMA_VERSION: Literal[1] = 1
# The reference quantiles a numeric column keeps: 1%, 5%, 10%, 15%, …, 95%, 99%.
QUANTILE_PROBS: tuple[float, ...] = (0.01, *(round(0.05 * i, 2) for i in range(1, 20)), 0.99)

DriftMethod = Literal["wasserstein", "psi", "ks", "jensen_shannon", "linf", "chi2"]
# Defaults read by datamill.validate.drift, written into inferred schemas (docs/schema.md).
DEFAULT_DRIFT: dict[str, tuple[DriftMethod, float]] = {
    "numeric": ("wasserstein", 0.1), "categorical": ("jensen_shannon", 0.1)}
DEFAULT_SKEW: dict[str, tuple[DriftMethod, float]] = {
    "numeric": ("jensen_shannon", 0.1), "categorical": ("linf", 0.1)}

Share = float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DriftRule(_Model):
    """How a column's drift (or training/serving skew) is measured, and the bound it must stay under.

    >>> DriftRule(method="psi", threshold=0.2).method
    'psi'
    """

    method: DriftMethod
    threshold: float = Field(ge=0.0)


class OutlierRule(_Model):
    """Fences outside which a value is an outlier, and the share of such values allowed.

    ``iqr``: below q25 − k·IQR or above q75 + k·IQR (Tukey; k = 3 is "far out").
    ``zscore``: robust z-score |x − median| / (IQR / 1.349) above k (σ estimated from the IQR).
    """

    method: Literal["iqr", "zscore"] = "iqr"
    k: float = Field(3.0, gt=0.0)
    max_share: float = Field(0.0, ge=0.0, le=1.0)


class ColumnSchema(_Model):
    """What one column should hold. Every field but ``type`` is optional: None means "not checked".

    >>> ColumnSchema(type="int64", kind="numeric", min=0, max=10).max
    10.0
    """

    type: str = Field(description="Arrow type text, e.g. int64, double, string, timestamp[us].")
    kind: str = Field("other", description="Statistics family: numeric, bool, temporal, string, binary, list …")
    required: bool = Field(False, description="No missing value allowed.")
    max_missing: float | None = Field(None, ge=0.0, le=1.0, description="Largest share of missing values.")
    min: float | None = None
    max: float | None = None
    domain: list[bool | int | str] | None = Field(None, description="Every value allowed (low-cardinality).")
    format: FormatName | None = Field(None, description="String format every value should match.")
    max_invalid: float | None = Field(None, ge=0.0, le=1.0, description="Share of values allowed off `format`.")
    unique: bool = Field(False, description="No value may repeat (id-like column).")
    quantiles: list[float] | None = Field(None, description="Reference quantiles at QUANTILE_PROBS.")
    outliers: OutlierRule | None = None
    drift: DriftRule | None = None
    skew: DriftRule | None = None

    def fences(self) -> tuple[float, float] | None:
        """The outlier fences from the reference quantiles (None when the IQR is 0 or unknown).

        >>> q = [float(i) for i in range(21)]   # q25 = 5, q75 = 15 at QUANTILE_PROBS
        >>> ColumnSchema(type="double", quantiles=q, outliers=OutlierRule(k=1.0)).fences()
        (-5.0, 25.0)
        """
        if self.outliers is None or not self.quantiles or len(self.quantiles) != len(QUANTILE_PROBS):
            return None
        q = dict(zip(QUANTILE_PROBS, self.quantiles, strict=True))
        iqr = q[0.75] - q[0.25]
        if not iqr > 0:
            return None
        k = self.outliers.k
        if self.outliers.method == "iqr":
            return q[0.25] - k * iqr, q[0.75] + k * iqr
        sigma = iqr / 1.349
        return q[0.5] - k * sigma, q[0.5] + k * sigma


class Schema(_Model):
    """A table's schema: table-level bounds and one `ColumnSchema` per column (YAML, ``schema_version: 1``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    min_rows: int | None = Field(None, ge=0, description="Fewest rows a good table has.")
    max_duplicate_rows: float | None = Field(None, ge=0.0, le=1.0, description="Largest share of repeated rows.")
    columns: dict[str, ColumnSchema] = Field(default_factory=dict)

    def to_yaml(self) -> str:
        """Human-editable YAML (fields left at their default are left out)."""
        body = _tidy(self.model_dump(mode="json", exclude_none=True))
        text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
        if yaml.safe_load(text) != body:  # PyYAML writes a few characters (U+0085 …) it cannot read back
            text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=False, width=120)
        return text

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "schema") -> Schema:
        """Parse YAML; a bad key or value raises `ConfigError` naming its path and line.

        >>> Schema.from_yaml("schema_version: 1\\ncolumns:\\n  a: {type: int64, mni: 3}\\n")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        datamill.core.errors.ConfigError: schema line 3: columns.a.mni: unknown key. Did you mean 'min'? ...
        """
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{source}{where}: not valid YAML: {getattr(err, 'problem', err)}") from err
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a schema is a mapping with `schema_version: 1` and `columns`, "
                              f"got {type(data).__name__}")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ConfigError(f"{source}: `schema_version` must be {SCHEMA_VERSION}, got "
                              f"{data.get('schema_version')!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ConfigError(_explain(err, node, source)) from None


def load_schema(path: str | Path) -> Schema:
    """Read a schema YAML file.

    >>> load_schema("/nonexistent/schema.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    datamill.core.errors.ConfigError: schema file /nonexistent/schema.yaml does not exist; make one with ...
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"schema file {file} does not exist; make one with `datamill schema infer REF -o {file}`")
    return Schema.from_yaml(file.read_text(encoding="utf-8"), source=str(file))


def _tidy(value: Any) -> Any:
    """Whole floats written as integers (``max: 85``, not ``85.0``); they read back equal."""
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


class _Dumper(yaml.SafeDumper):
    """Lists of scalars on one line (quantiles, domains), everything else in block style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)

_FIELDS = {"": set(Schema.model_fields), "column": set(ColumnSchema.model_fields),
           "rule": set(DriftRule.model_fields) | set(OutlierRule.model_fields)}


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its closest parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v if part != "__key__" else k for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _explain(err: ValidationError, node: yaml.Node | None, source: str) -> str:
    lines: list[str] = []
    seen: set[tuple[Any, ...]] = set()
    for problem in err.errors():
        loc = tuple(p for p in problem["loc"] if not (isinstance(p, str) and p in {"bool", "int", "str"}))
        if loc in seen or len(lines) >= 10:
            continue  # a union's members each complain; one line per place is enough
        seen.add(loc)
        path = ".".join(str(p) for p in loc)
        line = _line(node, loc)
        where = f"{source} line {line}" if line else source
        if problem["type"] == "extra_forbidden":
            known = _FIELDS["" if len(loc) == 1 else "column" if len(loc) == 3 else "rule"]
            hint = did_you_mean(str(loc[-1]), known)
            lines.append(f"{where}: {path}: unknown key.{hint} Known keys: {', '.join(sorted(known))}")
        else:
            message = "should be a boolean, an integer or a string" if "domain" in loc else problem["msg"]
            lines.append(f"{where}: {path}: {message} (got {problem.get('input')!r})")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- shared helpers
def iter_batches(data: Any) -> tuple[pa.Schema | None, Iterable[pa.RecordBatch]]:
    """The Arrow schema (if known up front) and the record batches of ``data``.

    ``data`` is a `pyarrow.Table`, a `pyarrow.RecordBatch`, a `datamill.Dataset` (anything with
    ``batches()`` and ``schema``) or any iterable of record batches, as `datamill.validate.profile` takes.
    """
    if isinstance(data, pa.Table):
        return data.schema, data.to_batches()
    if isinstance(data, pa.RecordBatch):
        return data.schema, [data]
    if hasattr(data, "batches") and hasattr(data, "schema"):
        return data.schema, data.batches()
    return None, data


def family(dtype: pa.DataType | None) -> str:
    """A type family: two types of one family hold the same kind of values (int32 and int64).

    >>> family(pa.int32()), family(pa.float64()), family(pa.large_string()), family(None)
    ('integer', 'float', 'string', 'absent')
    """
    if dtype is None:
        return "absent"
    if pa.types.is_dictionary(dtype):
        return family(dtype.value_type)
    if pa.types.is_integer(dtype):
        return "integer"
    if pa.types.is_floating(dtype):
        return "float"
    if pa.types.is_decimal(dtype):
        return "decimal"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "datetime"
    kind = column_kind(dtype)
    return kind if kind != "temporal" else str(dtype).split("[")[0]


def missing_mask(values: pa.Array) -> np.ndarray:
    """True where a value is missing: null, NaN, or text that is empty after stripping whitespace.

    >>> missing_mask(pa.array([1.0, None, float("nan")])).tolist(), missing_mask(pa.array(["a", " ", None])).tolist()
    ([False, True, True], [False, True, True])
    """
    mask = values.is_null()
    if pa.types.is_floating(values.type):
        mask = pc.or_(mask, pc.fill_null(pc.is_nan(values), False))
    elif is_stringlike(values.type):
        text = values.cast(values.type.value_type) if pa.types.is_dictionary(values.type) else values
        mask = pc.or_(mask, pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0), False))
    out: np.ndarray = mask.to_numpy(zero_copy_only=False)
    return out


def value_hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of the non-missing values (polars' hash, fixed seed: stable within a process)."""
    keep = ~missing_mask(values)
    series = pl.Series(values.filter(pa.array(keep)) if not keep.all() else values)
    return series.hash(seed=0).to_numpy()


def row_hashes(batch: pa.RecordBatch, exclude: Iterable[str] = (ID,)) -> np.ndarray:
    """64-bit hashes of whole rows, leaving out ``exclude`` (the record id is unique by design)."""
    keep = [name for name in batch.schema.names if name not in set(exclude)]
    if not keep:
        return np.zeros(0, dtype=np.uint64)
    return pl.from_arrow(batch.select(keep)).hash_rows(seed=0).to_numpy()  # type: ignore[union-attr]


def share_bound(share: float, n: int, *, floor: float = 0.005) -> float:
    """An upper bound for a share seen as ``share`` in ``n`` rows: ``share`` + max(floor, 4 standard errors).

    A clean resample of the same data stays under it (4 binomial standard errors); a share of
    0 gives 0, so "never seen" stays strict.

    >>> share_bound(0.0, 1000), share_bound(0.3, 5000)
    (0.0, 0.3259)
    """
    if share <= 0.0 or n <= 0:
        return 0.0
    margin = max(floor, 4.0 * math.sqrt(share * (1.0 - share) / n))
    return round(min(1.0, share + margin), 4)


# --------------------------------------------------------------------------------- inference
@dataclass
class _ColumnState:
    """Mergeable inference state of one column."""

    rows: int = 0
    missing: int = 0
    types: Counter[str] = field(default_factory=Counter)
    counts: Counter[Any] | None = field(default_factory=Counter)  # exact value counts, until max_domain
    formats: Counter[str] = field(default_factory=Counter)
    text_values: int = 0
    numbers: int = 0
    low: float | None = None
    high: float | None = None
    integral: bool = True
    sketch: QuantileSketch = field(default_factory=QuantileSketch)
    hashes: list[np.ndarray] | None = field(default_factory=list)

    def merge(self, other: _ColumnState, max_domain: int) -> _ColumnState:
        counts = None if self.counts is None or other.counts is None else self.counts + other.counts
        if counts is not None and len(counts) > max_domain:
            counts = None
        lows = [v for v in (self.low, other.low) if v is not None]
        highs = [v for v in (self.high, other.high) if v is not None]
        return _ColumnState(
            self.rows + other.rows, self.missing + other.missing, self.types + other.types, counts,
            self.formats + other.formats, self.text_values + other.text_values, self.numbers + other.numbers,
            min(lows) if lows else None, max(highs) if highs else None, self.integral and other.integral,
            self.sketch.merge(other.sketch),
            None if self.hashes is None or other.hashes is None else self.hashes + other.hashes)


@dataclass
class SchemaState:
    """Mergeable state of `infer_schema`: ``update`` with batches, ``merge`` shards, ``finalize``."""

    max_domain: int = 1000
    rows: int = 0
    columns: dict[str, _ColumnState] = field(default_factory=dict)
    exclude: frozenset[str] = frozenset()
    row_hashes: list[np.ndarray] = field(default_factory=list)

    def update(self, batch: pa.RecordBatch) -> None:
        """Add one batch."""
        for name in self.columns:
            if name not in batch.schema.names:  # absent from this batch: missing in it
                state = self.columns[name]
                state.rows += batch.num_rows
                state.missing += batch.num_rows
        for name, values in zip(batch.schema.names, batch.columns, strict=True):
            if name in self.exclude:
                continue
            if name not in self.columns:
                self.columns[name] = _ColumnState(rows=self.rows, missing=self.rows)
            self._update_column(self.columns[name], values)
        self.rows += batch.num_rows
        self.row_hashes.append(row_hashes(batch, (ID, *self.exclude)))

    def _update_column(self, state: _ColumnState, values: pa.Array) -> None:
        n = len(values)
        state.rows += n
        missing = missing_mask(values)
        state.missing += int(missing.sum())
        if pa.types.is_null(values.type):
            return
        state.types[str(values.type)] += n
        present = values.filter(pa.array(~missing)) if missing.any() else values
        text = is_stringlike(values.type)
        numeric = column_kind(values.type) == "numeric" and not pa.types.is_boolean(values.type)
        if text or pa.types.is_integer(values.type) or pa.types.is_boolean(values.type):
            self._count_values(state, present)
        else:
            state.counts = None
        if text:
            state.text_values += len(present)
            for name in FORMATS:
                state.formats[name] += int(pc.sum(pc.cast(format_mask(present, name), pa.int64())).as_py() or 0)
        if text or numeric:
            parsed = numbers(present)
            finite = parsed[np.isfinite(parsed)]
            state.numbers += len(finite)
            if len(finite):
                low, high = float(finite.min()), float(finite.max())
                state.low = low if state.low is None else min(state.low, low)
                state.high = high if state.high is None else max(state.high, high)
                state.integral = state.integral and bool(np.all(finite == np.round(finite)))
                state.sketch.update(finite)
        if state.hashes is not None and (text or pa.types.is_integer(values.type)):
            hashes = value_hashes(present)
            if len(np.unique(hashes)) < len(hashes):
                state.hashes = None  # a repeat: not unique, stop paying for it
            else:
                state.hashes.append(hashes)
        else:
            state.hashes = None

    def _count_values(self, state: _ColumnState, present: pa.Array) -> None:
        if state.counts is None:
            return
        counts = pc.value_counts(present)
        if len(counts) > self.max_domain:
            state.counts = None
            return
        for value, count in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True):
            state.counts[value] += count
        if len(state.counts) > self.max_domain:
            state.counts = None

    def merge(self, other: SchemaState) -> SchemaState:
        """Both shards' state (columns first seen in either, absent ones counted as missing)."""
        out = SchemaState(self.max_domain, self.rows + other.rows, exclude=self.exclude | other.exclude)
        for name in list(self.columns) + [c for c in other.columns if c not in self.columns]:
            left = self.columns.get(name) or _ColumnState(rows=self.rows, missing=self.rows, hashes=None)
            right = other.columns.get(name) or _ColumnState(rows=other.rows, missing=other.rows, hashes=None)
            out.columns[name] = left.merge(right, self.max_domain)
        out.row_hashes = self.row_hashes + other.row_hashes
        return out


@dataclass(frozen=True)
class InferOptions:
    """How `infer_schema` sets its bounds (docs/schema.md, "Inference margins")."""

    max_domain: int = 1000
    max_unseen: float = 0.001
    range_margin: float = 0.1
    outlier_method: Literal["iqr", "zscore"] = "iqr"
    outlier_k: float = 3.0
    min_unique: int = 20
    max_int_domain: int = 50
    exclude: tuple[str, ...] = ()


def _domain(state: _ColumnState, options: InferOptions) -> list[Any] | None:
    if state.counts is None or not state.counts:
        return None
    present = sum(state.counts.values())
    singletons = sum(1 for c in state.counts.values() if c == 1)
    # Good–Turing: singletons / n estimates the share of rows holding a value never seen; a
    # domain is only closed when that share is small, so a resample rarely meets a new value.
    if present < 20 or singletons / present > options.max_unseen or len(state.counts) > options.max_domain:
        return None
    values = [v for v in state.counts if not isinstance(v, float)]
    if isinstance(values[0], bool):
        return None  # a boolean's domain says nothing
    if isinstance(values[0], int) and len(values) > options.max_int_domain:
        return None  # many integers are a quantity (age, hours), checked by its range
    return sorted(values, key=lambda v: (str(type(v)), v))


def _column(state: _ColumnState, options: InferOptions) -> ColumnSchema:
    dtype = state.types.most_common(1)[0][0] if state.types else "null"
    arrow = _parse_type(dtype)
    kind = column_kind(arrow) if arrow is not None else "other"
    present = state.rows - state.missing
    missing_share = state.missing / state.rows if state.rows else 0.0
    fmt = infer_format(dict(state.formats), state.text_values) if state.text_values else None
    spec: dict[str, Any] = {"type": dtype, "kind": kind, "required": state.rows > 0 and state.missing == 0}
    if state.missing:
        spec["max_missing"] = share_bound(missing_share, state.rows)
    if fmt is not None:
        invalid = 1.0 - state.formats[fmt] / state.text_values
        spec["format"] = fmt
        spec["max_invalid"] = share_bound(invalid, state.text_values)
    domain = _domain(state, options)
    if domain is not None:
        spec["domain"] = domain
    numeric = (kind == "numeric" and dtype != "bool") or fmt in {"integer", "number"}
    if numeric and state.numbers and state.low is not None and state.high is not None:
        spec.update(_numeric(state, options, arrow))
    if state.hashes is not None and present >= options.min_unique and kind in {"string", "numeric"}:
        hashes = np.concatenate(state.hashes) if state.hashes else np.zeros(0, np.uint64)
        spec["unique"] = len(np.unique(hashes)) == len(hashes)
    if domain is not None and kind != "numeric":  # a numeric column with a domain is tested as numbers
        spec["drift"] = DriftRule(method=DEFAULT_DRIFT["categorical"][0], threshold=DEFAULT_DRIFT["categorical"][1])
        spec["skew"] = DriftRule(method=DEFAULT_SKEW["categorical"][0], threshold=DEFAULT_SKEW["categorical"][1])
    elif "quantiles" in spec:
        spec["drift"] = DriftRule(method=DEFAULT_DRIFT["numeric"][0], threshold=DEFAULT_DRIFT["numeric"][1])
        spec["skew"] = DriftRule(method=DEFAULT_SKEW["numeric"][0], threshold=DEFAULT_SKEW["numeric"][1])
    return ColumnSchema(**spec)


def _numeric(state: _ColumnState, options: InferOptions, arrow: pa.DataType | None) -> dict[str, Any]:
    assert state.low is not None and state.high is not None
    low, high = state.low, state.high
    pad = options.range_margin * (high - low)
    # Widen by a share of the span, but never across zero: a non-negative column stays so.
    lo = low - pad if low < 0 or low - pad >= 0 else 0.0
    hi = high + pad if high > 0 or high + pad <= 0 else 0.0
    if state.integral:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    out: dict[str, Any] = {"min": _round(lo), "max": _round(hi)}
    quantiles = state.sketch.quantiles(QUANTILE_PROBS)
    if quantiles:
        out["quantiles"] = [_round(q) for q in quantiles]
        probe = ColumnSchema(type="double", quantiles=out["quantiles"],
                             outliers=OutlierRule(method=options.outlier_method, k=options.outlier_k))
        fences = probe.fences()
        if fences is not None:
            edges = [-math.inf, fences[0], fences[1], math.inf]
            below, _, above = state.sketch.histogram(edges)
            share = (below + above) / state.sketch.n
            out["outliers"] = OutlierRule(method=options.outlier_method, k=options.outlier_k,
                                          max_share=max(0.01, share_bound(share, state.sketch.n, floor=0.01)))
    return out


def _round(value: float) -> float:
    """Twelve significant digits: enough, and readable in YAML."""
    return float(f"{value:.12g}")


def _parse_type(text: str) -> pa.DataType | None:
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        return {"large_string": pa.large_string(), "large_binary": pa.large_binary()}.get(text)


def infer_schema(data: Any, **options: Any) -> Schema:
    """A schema for ``data``, inferred in one streaming pass (docs/schema.md says what and how).

    ``data`` is a `pyarrow.Table`, a `RecordBatch`, a `datamill.Dataset` or an iterable of batches.
    Options: ``max_domain`` (1000: most distinct values of a categorical column), ``max_unseen``
    (0.001: largest Good–Turing share of unseen values for a closed domain), ``range_margin``
    (0.1: ranges widened by this share of their span), ``outlier_method`` (iqr | zscore),
    ``outlier_k`` (3.0), ``min_unique`` (20: fewest values for a column to be called unique),
    ``max_int_domain`` (50: most distinct values of an integer column given a domain),
    ``exclude`` (columns left out of the schema and of the duplicate-row hash).

    >>> schema = infer_schema(pa.table({"x": [1.0, 2.0, None, 4.0] * 10}))
    >>> x = schema.columns["x"]
    >>> x.required, x.max_missing, x.min, x.max
    (False, 0.5239, 0.0, 5.0)
    """
    try:
        settings = InferOptions(**options)
    except TypeError as err:
        raise ConfigError(f"infer_schema: {err}; options are {', '.join(InferOptions.__dataclass_fields__)}") from None
    state = infer_state(data, settings.max_domain, settings.exclude)
    return finalize_schema(state, settings)


def infer_state(data: Any, max_domain: int = 1000, exclude: Iterable[str] = ()) -> SchemaState:
    """The mergeable inference state of ``data`` (for shards inferred apart, then merged)."""
    schema, batches = iter_batches(data)
    state = SchemaState(max_domain, exclude=frozenset(exclude))
    for item in schema or ():
        if item.name not in state.exclude:  # known up front: columns of an empty table count too
            state.columns[item.name] = _ColumnState(types=Counter({str(item.type): 0}))
    for batch in _as_batches(batches):
        state.update(batch)
    return state


def _as_batches(batches: Iterable[Any]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if isinstance(batch, pa.Table):
            yield from batch.to_batches()
        elif isinstance(batch, pa.RecordBatch):
            yield batch
        else:
            raise ConfigError(f"expected pyarrow record batches, got {type(batch).__name__}")


def finalize_schema(state: SchemaState, options: InferOptions | None = None) -> Schema:
    """The schema an inference state describes."""
    settings = options or InferOptions()
    hashes = np.concatenate(state.row_hashes) if state.row_hashes else np.zeros(0, np.uint64)
    duplicates = (len(hashes) - len(np.unique(hashes))) / len(hashes) if len(hashes) else 0.0
    return Schema(
        min_rows=1 if state.rows else 0,
        max_duplicate_rows=share_bound(duplicates, state.rows),
        columns={name: _column(col, settings) for name, col in state.columns.items()},
    )
