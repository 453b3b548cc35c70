"""Check data against a `Schema`: anomalies as `Finding`s, in one streaming pass.

`CheckState` is mergeable: ``update`` it with batches (a shard each in a worker), ``merge`` the
states, then ``findings()``. It keeps counts, a few examples, a KLL sketch per numeric column,
a bounded table of spellings per text column, and 8 bytes per row for each hashed thing (a
``unique`` column, whole rows when the schema bounds duplicates).

Severities follow one rule for everything counted as a share of rows (docs/schema.md): with ``a``
the share the schema allows (0 for a domain, a range, a required column; ``max_missing``,
``max_invalid``, ``max_duplicate_rows`` otherwise), a share ``s ≤ a`` is fine, ``a < s < a + error_share``
is a warning and ``s ≥ a + error_share`` an error (``error_share`` = 0.01 by default).

>>> import pyarrow as pa
>>> from datamill.validate.schema import infer_schema
>>> schema = infer_schema(pa.table({"size": ["S", "M", "L"] * 20}))
>>> [(f.check, f.column, f.severity) for f in check(pa.table({"size": ["S", "XL"] * 30}), schema)]
[('out_of_domain', 'size', 'error')]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import ID, META, PAGE, SOURCE
from datamill.core.errors import ConfigError
from datamill.validate.findings import Finding, Severity
from datamill.validate.formats import MISSING_KEY, UNIT_TRANSFORMS, format_mask, is_stringlike, numbers, spelling_keys
from datamill.validate.schema import (
    QUANTILE_PROBS,
    ColumnSchema,
    Schema,
    _as_batches,
    family,
    iter_batches,
    missing_mask,
    row_hashes,
    value_hashes,
)
from datamill.validate.sketches import QuantileSketch

__all__ = ["CheckOptions", "CheckState", "check", "unit_change"]

_EXAMPLES = 5
_MAX_VALUES = 1000  # distinct offending values counted per column
_MAX_SPELLINGS = 10_000  # canonical keys tracked per text column for mixed formats


@dataclass(frozen=True)
class CheckOptions:
    """Settings of `check` (docs/schema.md)."""

    error_share: float = 0.01
    mixed_format: bool = True
    mixed_units: bool = True
    isolation_forest: bool = False
    sample_rows: int = 10_000
    seed: int = 0
    ignore: tuple[str, ...] = (ID, SOURCE, PAGE, META)

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_share <= 1.0:
            raise ConfigError(f"`error_share` must lie in 0 … 1, got {self.error_share!r}")
        if self.sample_rows < 1:
            raise ConfigError(f"`sample_rows` must be at least 1, got {self.sample_rows!r}")


def _severity(share: float, allowed: float, error_share: float) -> Severity | None:
    if share <= allowed:
        return None
    return "error" if share >= allowed + error_share else "warning"


def _clip(value: Any, width: int = 200) -> Any:
    """Long text and bytes cut to ``width`` (a 10 MB value is evidence, not a message)."""
    if isinstance(value, str) and len(value) > width:
        return value[:width] + "…"
    if isinstance(value, bytes) and len(value) > width:
        return value[:width] + b"..."
    return value


def _add_examples(bucket: list[Any], values: Iterable[Any]) -> None:
    for value in map(_clip, values):
        if len(bucket) >= _EXAMPLES:
            return
        if value not in bucket:
            bucket.append(value)


@dataclass
class _ColumnCheck:
    rows: int = 0
    missing: int = 0
    types: Counter[str] = field(default_factory=Counter)
    off_domain: Counter[Any] = field(default_factory=Counter)
    off_domain_rows: int = 0
    below: int = 0
    above: int = 0
    range_examples: list[Any] = field(default_factory=list)
    text_values: int = 0
    invalid: int = 0
    invalid_examples: list[Any] = field(default_factory=list)
    hashes: list[np.ndarray] = field(default_factory=list)
    repeat_examples: list[Any] = field(default_factory=list)
    spellings: dict[str, Counter[Any]] = field(default_factory=dict)
    sketch: QuantileSketch = field(default_factory=QuantileSketch)
    outliers: int = 0
    outlier_examples: list[Any] = field(default_factory=list)

    def merge(self, other: _ColumnCheck) -> _ColumnCheck:
        off = self.off_domain + other.off_domain
        spellings = {k: Counter(v) for k, v in self.spellings.items()}
        for key, raws in other.spellings.items():
            if key in spellings:
                spellings[key].update(raws)
            elif len(spellings) < _MAX_SPELLINGS:
                spellings[key] = Counter(raws)
        out = _ColumnCheck(
            self.rows + other.rows, self.missing + other.missing, self.types + other.types,
            Counter(dict(off.most_common(_MAX_VALUES))), self.off_domain_rows + other.off_domain_rows,
            self.below + other.below, self.above + other.above, list(self.range_examples),
            self.text_values + other.text_values, self.invalid + other.invalid, list(self.invalid_examples),
            self.hashes + other.hashes, list(self.repeat_examples), spellings, self.sketch.merge(other.sketch),
            self.outliers + other.outliers, list(self.outlier_examples))
        _add_examples(out.range_examples, other.range_examples)
        _add_examples(out.invalid_examples, other.invalid_examples)
        _add_examples(out.repeat_examples, other.repeat_examples)
        _add_examples(out.outlier_examples, other.outlier_examples)
        return out


@dataclass
class CheckState:
    """Mergeable state of `check` against one schema: ``update``, ``merge``, ``findings``."""

    schema: Schema
    options: CheckOptions = field(default_factory=CheckOptions)
    rows: int = 0
    columns: dict[str, _ColumnCheck] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    row_hashes: list[np.ndarray] = field(default_factory=list)
    sample: pa.Table | None = None
    sample_keys: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def declare(self, schema: pa.Schema) -> None:
        """The data's Arrow schema, known before any batch (an empty table still has its columns)."""
        for item in schema:
            if item.name in self.schema.columns or item.name not in self.options.ignore:
                self.seen.add(item.name)
                if not pa.types.is_null(item.type):
                    self.columns.setdefault(item.name, _ColumnCheck()).types[str(item.type)] += 0

    def update(self, batch: pa.RecordBatch) -> None:
        """Add one batch."""
        names = {n for n in batch.schema.names if n in self.schema.columns or n not in self.options.ignore}
        self.seen |= names
        for name in set(self.columns) | set(self.schema.columns) | names:
            state = self.columns.setdefault(name, _ColumnCheck())
            if name not in names:
                state.rows += batch.num_rows
                state.missing += batch.num_rows
            else:
                self._update_column(name, state, batch.column(name))
        if self.schema.max_duplicate_rows is not None:
            skip = [n for n in batch.schema.names
                    if n == ID or (n in self.options.ignore and n not in self.schema.columns)]
            self.row_hashes.append(row_hashes(batch, skip))
        if self.options.isolation_forest:
            self._sample(batch)
        self.rows += batch.num_rows

    def _update_column(self, name: str, state: _ColumnCheck, values: pa.Array) -> None:
        state.rows += len(values)
        missing = missing_mask(values)
        state.missing += int(missing.sum())
        if pa.types.is_null(values.type):
            return
        state.types[str(values.type)] += len(values)
        spec = self.schema.columns.get(name)
        text = is_stringlike(values.type)
        present = values.filter(pa.array(~missing)) if missing.any() else values
        if text and self.options.mixed_format:
            self._spellings(state, values)
        if spec is None or not len(present):
            return
        if spec.domain is not None:
            self._domain(state, spec, present)
        if spec.format is not None and text:
            valid = pc.fill_null(format_mask(present, spec.format), False)
            bad = present.filter(pc.invert(valid))
            state.text_values += len(present)
            state.invalid += len(bad)
            _add_examples(state.invalid_examples, bad.slice(0, _EXAMPLES).to_pylist())
        if spec.unique:
            hashes = value_hashes(present)
            state.hashes.append(hashes)
            if len(state.repeat_examples) < _EXAMPLES and len(np.unique(hashes)) < len(hashes):
                repeated = pl.Series(present).filter(pl.Series(present).is_duplicated()).unique().head(_EXAMPLES)
                _add_examples(state.repeat_examples, repeated.to_list())
        if text or (pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
                    or pa.types.is_decimal(values.type)):
            self._numbers(state, spec, present)

    def _domain(self, state: _ColumnCheck, spec: ColumnSchema, present: pa.Array) -> None:
        assert spec.domain is not None
        as_text = present.cast(pa.large_string()) if not is_stringlike(present.type) else present
        allowed = pa.array([str(v).lower() if isinstance(v, bool) else str(v) for v in spec.domain],
                           pa.large_string())
        off = as_text.filter(pc.invert(pc.is_in(as_text.cast(pa.large_string()), value_set=allowed)))
        if len(off):
            state.off_domain_rows += len(off)
            counts = pc.value_counts(off)
            state.off_domain.update(dict(zip(counts.field("values").to_pylist()[:_MAX_VALUES],
                                             counts.field("counts").to_pylist()[:_MAX_VALUES], strict=True)))
            if len(state.off_domain) > _MAX_VALUES:
                state.off_domain = Counter(dict(state.off_domain.most_common(_MAX_VALUES)))

    def _numbers(self, state: _ColumnCheck, spec: ColumnSchema, present: pa.Array) -> None:
        if spec.min is None and spec.max is None and spec.quantiles is None:
            return
        values = numbers(present)
        values = values[~np.isnan(values)]
        if spec.min is not None:
            low = values[values < spec.min]
            state.below += len(low)
            _add_examples(state.range_examples, low[:_EXAMPLES].tolist())
        if spec.max is not None:
            high = values[values > spec.max]
            state.above += len(high)
            _add_examples(state.range_examples, high[:_EXAMPLES].tolist())
        finite = values[np.isfinite(values)]
        state.sketch.update(finite)
        fences = spec.fences()
        if fences is not None:
            far = finite[(finite < fences[0]) | (finite > fences[1])]
            state.outliers += len(far)
            _add_examples(state.outlier_examples, far[:_EXAMPLES].tolist())

    def _spellings(self, state: _ColumnCheck, values: pa.Array) -> None:
        for key, raw, n in spelling_keys(values).iter_rows():
            if key in state.spellings:
                state.spellings[key][raw] += n
            elif len(state.spellings) < _MAX_SPELLINGS:
                state.spellings[key] = Counter({raw: n})

    def _sample(self, batch: pa.RecordBatch) -> None:
        """Bottom-k by a random key: a uniform sample of rows that merges exactly."""
        names = [n for n, s in self.schema.columns.items() if s.quantiles is not None and n in batch.schema.names]
        if not names:
            return
        rng = np.random.default_rng([self.options.seed, self.rows])
        keys = rng.random(batch.num_rows)
        table = pa.table({n: numbers(batch.column(n)) for n in names})
        self._keep(table, keys)

    def _keep(self, table: pa.Table, keys: np.ndarray) -> None:
        if self.sample is not None:
            table = pa.concat_tables([self.sample, table], promote_options="default")
            keys = np.concatenate([self.sample_keys, keys])
        order = np.argsort(keys, kind="stable")[: self.options.sample_rows]
        self.sample, self.sample_keys = table.take(pa.array(order)), keys[order]

    def merge(self, other: CheckState) -> CheckState:
        """Both shards' state."""
        out = CheckState(self.schema, self.options, self.rows + other.rows)
        for name in set(self.columns) | set(other.columns):
            left, right = self.columns.get(name), other.columns.get(name)
            if left is None or right is None:
                only = left or right
                assert only is not None
                absent = other.rows if left is not None else self.rows
                pad = _ColumnCheck(rows=absent, missing=absent)
                out.columns[name] = only.merge(pad) if left is not None else pad.merge(only)
            else:
                out.columns[name] = left.merge(right)
        out.seen = self.seen | other.seen
        out.row_hashes = self.row_hashes + other.row_hashes
        out.sample, out.sample_keys = self.sample, self.sample_keys
        if other.sample is not None:
            out._keep(other.sample, other.sample_keys)
        return out

    def findings(self) -> list[Finding]:
        """Everything found, table-level findings first, then column by column."""
        found: list[Finding] = []
        schema, share_bar = self.schema, self.options.error_share
        if schema.min_rows is not None and self.rows < schema.min_rows:
            found.append(Finding("volume", None, "error",
                                 f"{self.rows:,} rows, fewer than min_rows {schema.min_rows:,}",
                                 value=float(self.rows), threshold=float(schema.min_rows)))
        if schema.max_duplicate_rows is not None and self.rows:
            hashes = np.concatenate(self.row_hashes) if self.row_hashes else np.zeros(0, np.uint64)
            repeats = len(hashes) - len(np.unique(hashes))
            share = repeats / self.rows
            severity = _severity(share, schema.max_duplicate_rows, share_bar)
            if severity:
                found.append(Finding("duplicate_rows", None, severity,
                                     f"{repeats:,} repeated rows ({share:.2%}; "
                                     f"allowed {schema.max_duplicate_rows:.2%})",
                                     value=share, threshold=schema.max_duplicate_rows, details={"rows": repeats}))
        for name, spec in schema.columns.items():
            if name not in self.seen:
                found.append(Finding("missing_column", name, "error", f"column {name!r} is missing",
                                     details={"type": spec.type}))
            else:
                found.extend(self._column_findings(name, spec, self.columns[name]))
        for name in sorted(self.seen - set(schema.columns)):
            state = self.columns[name]
            found.append(Finding("new_column", name, "warning", f"column {name!r} is not in the schema",
                                 details={"types": dict(state.types)}))
            if self.options.mixed_format:
                found.extend(self._mixed_format(name, state))
        if self.options.isolation_forest:
            found.extend(self._isolation_forest())
        return found

    def _column_findings(self, name: str, spec: ColumnSchema, state: _ColumnCheck) -> list[Finding]:
        found: list[Finding] = []
        bar = self.options.error_share
        expected = family(_type_or_none(spec.type))
        for seen_type, n in state.types.items():
            got = family(_type_or_none(seen_type))
            if seen_type == spec.type or got == "null":
                continue
            severity: Severity = "error" if got != expected else "info"
            found.append(Finding("type_change", name, severity,
                                 f"type {seen_type} (schema: {spec.type})" + (f" in {n:,} rows" if n else ""),
                                 details={"expected": spec.type, "found": seen_type, "rows": n}))
        if state.rows:
            share = state.missing / state.rows
            allowed = 0.0 if spec.required else spec.max_missing
            if allowed is not None:
                severity_m = _severity(share, allowed, bar)
                if severity_m:
                    check = "required" if spec.required else "missing_rate"
                    found.append(Finding(check, name, severity_m,
                                         f"{state.missing:,} missing ({share:.2%}; allowed {allowed:.2%})",
                                         value=share, threshold=allowed, details={"missing": state.missing}))
        present = state.rows - state.missing
        if spec.domain is not None and state.off_domain_rows and present:
            share = state.off_domain_rows / present
            top = [(_clip(v, 60), n) for v, n in state.off_domain.most_common(_EXAMPLES)]
            found.append(Finding(
                "out_of_domain", name, _severity(share, 0.0, bar) or "warning",
                f"{state.off_domain_rows:,} values ({share:.2%}) outside the domain of {len(spec.domain)}: "
                + ", ".join(f"{v!r} ({n:,})" for v, n in top),
                value=share, threshold=0.0, examples=tuple(v for v, _ in top),
                details={"rows": state.off_domain_rows, "values": dict(top)}))
        if (state.below or state.above) and present:
            share = (state.below + state.above) / present
            found.append(Finding(
                "out_of_range", name, _severity(share, 0.0, bar) or "warning",
                f"{state.below:,} below {spec.min} and {state.above:,} above {spec.max} ({share:.2%})",
                value=share, threshold=0.0, examples=tuple(state.range_examples),
                details={"below": state.below, "above": state.above, "min": spec.min, "max": spec.max}))
        if spec.format is not None and state.text_values:
            share = state.invalid / state.text_values
            allowed = spec.max_invalid or 0.0
            severity_f = _severity(share, allowed, bar)
            if severity_f:
                found.append(Finding("format", name, severity_f,
                                     f"{state.invalid:,} values ({share:.2%}) are not {spec.format} "
                                     f"(allowed {allowed:.2%})", value=share, threshold=allowed,
                                     examples=tuple(state.invalid_examples), details={"format": spec.format}))
        if spec.unique and state.hashes:
            hashes = np.concatenate(state.hashes)
            repeats = len(hashes) - len(np.unique(hashes))
            if repeats:
                found.append(Finding("not_unique", name, "error", f"{repeats:,} repeated values in a unique column",
                                     value=float(repeats), threshold=0.0, examples=tuple(state.repeat_examples)))
        if self.options.mixed_format:
            found.extend(self._mixed_format(name, state))
        # A column with a closed domain holds codes or counts (months, ratings), not measurements:
        # a shift between its values is drift, not a unit.
        if self.options.mixed_units and spec.quantiles is not None and spec.domain is None:
            change = unit_change(spec.quantiles, state.sketch)
            if change is not None:
                found.append(Finding(
                    "mixed_units", name, "error",
                    f"{change['share']:.0%} of values look converted by {change['transform']} "
                    f"against the reference (distance {change['distance']:.3f} → {change['fitted']:.3f})",
                    value=change["share"], threshold=None, details=change))
        if spec.outliers is not None and state.outliers and state.sketch.n:
            share = state.outliers / state.sketch.n
            if share > spec.outliers.max_share:
                found.append(Finding(
                    "outliers", name, "warning",
                    f"{state.outliers:,} values ({share:.2%}) outside the {spec.outliers.method} fences "
                    f"(k = {spec.outliers.k:g}; allowed {spec.outliers.max_share:.2%})",
                    value=share, threshold=spec.outliers.max_share, examples=tuple(state.outlier_examples),
                    details={"fences": list(spec.fences() or ()), "method": spec.outliers.method}))
        return found

    def _mixed_format(self, name: str, state: _ColumnCheck) -> list[Finding]:
        groups = {key: raws for key, raws in state.spellings.items() if len(raws) > 1}
        if not groups:
            return []
        ordered = sorted(groups.items(), key=lambda kv: -sum(kv[1].values()))
        minority = sum(sum(r.values()) - max(r.values()) for _, r in ordered)
        parts = []
        for key, raws in ordered[:3]:
            label = "missing" if key == MISSING_KEY else repr(raws.most_common(1)[0][0])
            spelled = ", ".join(f"{'null' if r is None else repr(_clip(r, 60))} ({n:,})"
                                for r, n in raws.most_common(4))
            parts.append(f"{label} written {len(raws)} ways: {spelled}")
        examples = tuple(_clip(r) for _, raws in ordered for r, _ in raws.most_common(3))[:_EXAMPLES]
        return [Finding("mixed_format", name, "warning",
                        f"{len(groups):,} value(s) spelled several ways; " + "; ".join(parts),
                        value=minority / state.rows if state.rows else None, examples=examples,
                        details={"groups": {_clip(k, 60): {str(_clip(r, 60)): n for r, n in raws.most_common(10)}
                                            for k, raws in ordered[:20]}})]

    def _isolation_forest(self) -> list[Finding]:
        if self.sample is None or self.sample.num_rows < 50:
            return []
        try:
            from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]
        except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
            raise ConfigError("the isolation-forest check needs scikit-learn: pip install scikit-learn") from err
        matrix = np.column_stack([c.to_numpy(zero_copy_only=False) for c in self.sample.columns]).astype(float)
        matrix[~np.isfinite(matrix)] = np.nan
        medians = np.nan_to_num(np.nanmedian(matrix, axis=0))
        matrix = np.where(np.isnan(matrix), medians, matrix)
        model = IsolationForest(random_state=self.options.seed).fit(matrix)
        scores = model.score_samples(matrix)
        flagged = model.predict(matrix) == -1
        worst = np.argsort(scores)[:_EXAMPLES]
        names = self.sample.column_names
        examples = tuple({n: float(matrix[i, j]) for j, n in enumerate(names)} for i in worst)
        share = float(flagged.mean())
        return [Finding("outliers", None, "info",
                        f"IsolationForest flags {share:.2%} of {len(matrix):,} sampled rows over {len(names)} "
                        "numeric columns", value=share, examples=examples,
                        details={"method": "isolation_forest", "columns": names, "sampled": len(matrix)})]


def _type_or_none(text: str) -> pa.DataType | None:
    from datamill.validate.schema import _parse_type

    parsed = _parse_type(text)
    if parsed is None and text.startswith("dictionary<values=string"):
        return pa.string()
    return parsed if parsed is not None else pa.binary() if "binary" in text else pa.string()


def unit_change(quantiles: list[float], sketch: QuantileSketch, *, min_distance: float = 0.04,
                min_share: float = 0.05) -> dict[str, Any] | None:
    """Whether values look converted by a unit factor against the reference quantiles.

    The current CDF is fitted as a mixture ``(1 − w)·F_ref(x) + w·F_ref(g⁻¹(x))`` for each unit
    transform ``g`` in `UNIT_TRANSFORMS` (both directions) and ``w`` in 0 … 1. A unit change is
    reported when the plain distance is at least ``min_distance`` (and above sampling noise,
    1.63/√n plus the sketch's rank error) and the best mixture, with ``w ≥ min_share``, is at most
    a third of it. Distances are Kolmogorov–Smirnov-like, measured outside the band the reference
    CDF must lie in (it is only known at its quantiles), so coarse quantiles add no noise.

    >>> rng = np.random.default_rng(0)
    >>> miles = rng.lognormal(1.0, 0.6, 20_000)
    >>> reference = np.quantile(miles, QUANTILE_PROBS).tolist()
    >>> sketch = QuantileSketch(); sketch.update(np.concatenate([miles[:10_000], miles[10_000:] * 1.609344]))
    >>> found = unit_change(reference, sketch)
    >>> found["transform"], round(found["share"], 1)
    ('x1.609 (miles -> km)', 0.5)
    """
    if not sketch.n or len(quantiles) != len(QUANTILE_PROBS):
        return None
    q = np.asarray(quantiles, dtype=np.float64)
    probs = np.asarray(QUANTILE_PROBS)
    transforms = [(name, a, b) for name, a, b in UNIT_TRANSFORMS] + [
        (f"1/({name})", 1.0 / a, -b / a) for name, a, b in UNIT_TRANSFORMS]
    points = np.unique(np.concatenate([q] + [a * q + b for _, a, b in transforms]))
    edges = [-np.inf, *np.nextafter(points, np.inf).tolist(), np.inf]
    counts = np.asarray(sketch.histogram(edges), dtype=np.float64)
    current = np.cumsum(counts)[:-1] / max(counts.sum(), 1.0)

    def band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # q_i is the P_i-quantile, so F(x) >= P_i for x >= q_i and F(x) <= P_j for x < q_j:
        # between quantiles the reference CDF is only known to lie in this band.
        below = np.searchsorted(q, x, side="right")  # quantiles <= x
        lower = np.where(below > 0, probs[np.maximum(below - 1, 0)], 0.0)
        upper = np.where(below < len(q), probs[np.minimum(below, len(q) - 1)], 1.0)
        return lower, upper

    def off(low: np.ndarray, high: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.max(np.maximum(0.0, np.maximum(low - current, current - high)), axis=-1)
        return out

    base_low, base_high = band(points)
    distance = float(off(base_low, base_high))
    if distance < max(min_distance, 1.63 / np.sqrt(sketch.n) + sketch.rank_error):
        return None
    weights = np.linspace(min_share, 1.0, round((1.0 - min_share) / 0.01) + 1)[:, None]
    best: tuple[float, str, float, float, float] | None = None
    for name, a, b in transforms:
        moved_low, moved_high = band((points - b) / a)
        fit = off((1 - weights) * base_low + weights * moved_low, (1 - weights) * base_high + weights * moved_high)
        i = int(np.argmin(fit))
        if best is None or fit[i] < best[0]:
            best = (float(fit[i]), name, float(weights[i, 0]), a, b)
    assert best is not None
    if best[0] > distance / 3:
        return None
    return {"transform": best[1], "share": round(best[2], 2), "factor": best[3], "offset": best[4],
            "distance": round(distance, 4), "fitted": round(best[0], 4), "method": "reference_quantiles"}


def check(data: Any, schema: Schema, **options: Any) -> list[Finding]:
    """Check ``data`` against ``schema`` in one streaming pass; the findings, errors first.

    ``data`` is a `pyarrow.Table`, a `RecordBatch`, a `datamill.Dataset` or an iterable of
    batches. Options (`CheckOptions`): ``error_share`` (0.01), ``mixed_format`` (True),
    ``mixed_units`` (True), ``isolation_forest`` (False), ``sample_rows`` (10,000), ``seed``,
    ``ignore`` (provenance columns ``id``, ``source``, ``page``, ``meta``: not reported as new
    columns, and, with ``id`` always, left out of the duplicate-row hash unless the schema names them).

    >>> schema = Schema.from_yaml("schema_version: 1\\ncolumns:\\n  age: {type: int64, required: true, max: 120}\\n")
    >>> [(f.check, f.severity) for f in check(pa.table({"age": [30, None, 300]}), schema)]
    [('required', 'error'), ('out_of_range', 'error')]
    """
    try:
        settings = CheckOptions(**options)
    except TypeError as err:
        raise ConfigError(f"check: {err}; options are {', '.join(CheckOptions.__dataclass_fields__)}") from None
    arrow_schema, batches = iter_batches(data)
    state = CheckState(schema, settings)
    if arrow_schema is not None:
        state.declare(arrow_schema)
    for batch in _as_batches(batches):
        state.update(batch)
    rank = {"error": 0, "warning": 1, "info": 2}
    return sorted(state.findings(), key=lambda f: (rank[f.severity], f.column or ""))
