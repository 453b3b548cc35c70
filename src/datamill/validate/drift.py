"""Drift and skew: has each column's distribution moved between a reference and a current dataset?

`drift` tests one column at a time (only that column, and the slice column, are read, so
memory stays at a few columns whatever the width), picks a test per column as Evidently 0.7's
``DataDriftPreset`` does (docs/drift.md), and returns one result per column and slice, in the
shape the HTML report renders. `drift_findings` turns the drifted (and the untestable) results
into `Finding` s. Skew (training against serving data) is the same comparison with the
schema's ``skew`` thresholds instead of its ``drift`` ones.

>>> import pyarrow as pa
>>> ref = pa.table({"x": [float(i % 50) for i in range(2000)]})
>>> cur = pa.table({"x": [float(i % 50) + 20 for i in range(2000)]})
>>> [(r["column"], r["method"], r["drifted"], r["severity"]) for r in drift(ref, cur)]
[('x', 'wasserstein', True, 'error')]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datamill.core.columns import PROVENANCE
from datamill.core.errors import ConfigError, SchemaError
from datamill.validate.divergence import OTHER, categorical_measures, numeric_measures, z_test
from datamill.validate.drift_input import DriftInput, Side, decode, read_side, to_float
from datamill.validate.findings import Finding, Severity
from datamill.validate.stats import column_kind
from datamill.validate.text_drift import is_text, text_measures, text_sample

__all__ = ["DEFAULT_THRESHOLDS", "METHODS", "DriftInput", "drift", "drift_findings", "read_side"]

Kind = Literal["numeric", "categorical", "text", "temporal", "label"]

#: Each method's default threshold; ``ks``, ``chi2`` and ``z`` are p-values (drift below), the
#: rest distances (drift at or above), as in Evidently.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1, "jensen_shannon": 0.1, "psi": 0.1, "linf": 0.1, "ks": 0.05, "chi2": 0.05, "z": 0.05,
}
P_VALUE_METHODS = frozenset({"ks", "chi2", "z"})
#: The methods each kind of column accepts (text: its length takes the numeric ones, its
#: vocabulary ``jensen_shannon``).
METHODS: dict[str, frozenset[str]] = {
    "numeric": frozenset({"wasserstein", "ks", "psi", "jensen_shannon"}),
    "categorical": frozenset({"jensen_shannon", "linf", "chi2", "psi", "z"}),
    "text": frozenset({"jensen_shannon", "wasserstein", "ks", "psi"}),
}
# Evidently's cut-offs: up to 1,000 reference values a column gets a p-value test, above it a
# distance; a numeric column with 5 distinct values or fewer is compared value by value, and an
# integer column with 10 distinct values or fewer is categorical.
SMALL_SAMPLE = 1000
FEW_VALUES = 5
INTEGER_CATEGORICAL = 10
CHART_CATEGORIES = 20


# ------------------------------------------------------------------------------------ one test
@dataclass(frozen=True)
class _Spec:
    method: str | None
    threshold: float | None


def _spec(thresholds: Mapping[str, Any] | None, column: str) -> _Spec:
    entry = (thresholds or {}).get(column)
    if entry is None:
        return _Spec(None, None)
    if isinstance(entry, int | float):
        return _Spec(None, float(entry))
    if not isinstance(entry, Mapping):
        raise ConfigError(f"thresholds[{column!r}] must be a number or {{'method': ..., 'threshold': ...}}, "
                          f"got {entry!r}")
    method = entry.get("method")
    method = None if method in (None, "auto") else str(method)
    if method is not None and method not in DEFAULT_THRESHOLDS:
        raise ConfigError(f"thresholds[{column!r}]: unknown drift method {method!r}; "
                          f"use one of {', '.join(sorted(DEFAULT_THRESHOLDS))} (or 'auto')")
    threshold = entry.get("threshold")
    return _Spec(method, None if threshold is None else float(threshold))


def _decide(statistic: float, p_value: float | None, threshold: float, error_factor: float,
            ) -> tuple[bool, Severity]:
    """Whether it drifted (a p-value below its threshold, a distance at or above it), and how badly:
    ``error`` at ``error_factor`` × the threshold (a p-value at a hundredth of it)."""
    if p_value is not None:
        if p_value >= threshold:
            return False, "info"
        return True, "error" if p_value < threshold / 100 else "warning"
    if statistic < threshold:
        return False, "info"
    return True, "error" if statistic >= error_factor * threshold else "warning"


def _result(column: str, slice_: dict[str, Any] | None, kind: Kind, ref_rows: int, cur_rows: int) -> dict[str, Any]:
    return {"column": column, "slice": slice_, "kind": kind, "check": "label_drift" if kind == "label" else "drift",
            "method": "none", "statistic": None, "p_value": None, "threshold": None, "drifted": False,
            "severity": "info", "statistics": {}, "reference_rows": ref_rows, "current_rows": cur_rows,
            "chart": None}


def _skip(result: dict[str, Any], reason: str, severity: Severity = "info") -> dict[str, Any]:
    result.update(skipped=reason, severity=severity)
    return result


def _value_counts(values: pa.ChunkedArray) -> pa.Table:
    values = decode(values).drop_null()
    counts = pc.value_counts(values.combine_chunks()) if len(values) else pa.array(
        [], pa.struct([("values", values.type), ("counts", pa.int64())]))
    return pa.table({"value": counts.field("values"), "n": counts.field("counts")})


def _aligned_counts(ref: pa.ChunkedArray, cur: pa.ChunkedArray) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Categories (most frequent overall first) and their counts on each side."""
    a, b = _value_counts(ref), _value_counts(cur)
    if a.schema.field("value").type != b.schema.field("value").type:
        b = b.cast(a.schema)
    joined = a.join(b, "value", join_type="full outer", left_suffix="_ref", right_suffix="_cur",
                    use_threads=False)
    ref_n = pc.fill_null(joined["n_ref"], 0).to_numpy().astype(np.int64)
    cur_n = pc.fill_null(joined["n_cur"], 0).to_numpy().astype(np.int64)
    order = np.argsort(-(ref_n + cur_n), kind="stable")
    values = joined["value"].take(pa.array(order))
    return values.to_pylist(), ref_n[order], cur_n[order]


def _categorical_chart(values: list[Any], ref_n: np.ndarray, cur_n: np.ndarray) -> dict[str, Any]:
    shown = min(len(values), CHART_CATEGORIES)
    chart = {"type": "categorical", "categories": [v if isinstance(v, int | float | bool) else str(v)
                                                   for v in values[:shown]],
             "reference": ref_n[:shown].tolist(), "current": cur_n[:shown].tolist()}
    if len(values) > shown:
        chart["categories"].append(OTHER)
        chart["reference"].append(int(ref_n[shown:].sum()))
        chart["current"].append(int(cur_n[shown:].sum()))
    return chart


def _auto_method(kind: str, ref_values: int, distinct: int) -> str:
    """Evidently 0.7's default test for a column (``_get_default_stattest``)."""
    if ref_values <= SMALL_SAMPLE:
        if kind == "numeric" and distinct > FEW_VALUES:
            return "ks"
        return "chi2" if distinct > 2 else "z"
    if kind == "numeric" and distinct > FEW_VALUES:
        return "wasserstein"
    return "jensen_shannon"


def _test(column: str, ref: pa.ChunkedArray | tuple[np.ndarray, pa.Array],
          cur: pa.ChunkedArray | tuple[np.ndarray, pa.Array], *, kind: Kind, as_kind: str, spec: _Spec,
          slice_: dict[str, Any] | None, ref_rows: int, cur_rows: int, min_count: int,
          error_factor: float, languages: bool = False) -> dict[str, Any]:
    """Test one column (or one slice of it); ``as_kind`` is how it is compared: numeric,
    categorical or text (``kind`` is what the result calls it)."""
    result = _result(column, slice_, kind, ref_rows, cur_rows)
    statistics: dict[str, float] = {}
    if as_kind == "text":
        assert isinstance(ref, tuple) and isinstance(cur, tuple)
        ref_len, cur_len = ref[0], cur[0]
        n_ref, n_cur = len(ref_len), len(cur_len)
    elif as_kind == "numeric":
        assert isinstance(ref, pa.ChunkedArray) and isinstance(cur, pa.ChunkedArray)
        integer = pa.types.is_integer(decode(ref).type)
        ref_f, cur_f = np.sort(to_float(ref)), np.sort(to_float(cur))
        n_ref, n_cur = len(ref_f), len(cur_f)
    else:
        assert isinstance(ref, pa.ChunkedArray) and isinstance(cur, pa.ChunkedArray)
        n_ref, n_cur = len(ref) - ref.null_count, len(cur) - cur.null_count
    statistics.update(reference_values=n_ref, current_values=n_cur,
                      reference_missing=1 - n_ref / ref_rows if ref_rows else 0.0,
                      current_missing=1 - n_cur / cur_rows if cur_rows else 0.0)
    result["statistics"] = statistics
    if n_ref == 0 or n_cur == 0:
        empty = [name for name, n in (("reference", n_ref), ("current", n_cur)) if n == 0]
        both = len(empty) == 2
        return _skip(result, f"no values to compare in the {' and the '.join(empty)} "
                     f"({ref_rows if empty[0] == 'reference' else cur_rows:,} rows, all missing)",
                     "info" if both else "warning")

    if as_kind == "numeric":
        measures = numeric_measures(ref_f, cur_f)
        result["chart"] = measures.pop("chart")
        distinct = int(measures["distinct"])
        ref_distinct = int(np.count_nonzero(ref_f[1:] != ref_f[:-1]) + 1)
        if distinct <= FEW_VALUES or (integer and ref_distinct <= INTEGER_CATEGORICAL):
            # Few values: compared value by value, as a categorical column.
            values, ref_n, cur_n = _aligned_counts(pa.chunked_array([ref_f]), pa.chunked_array([cur_f]))
            measures.update(categorical_measures(ref_n, cur_n, min_count=min_count))
            measures["z"], measures["z_p"] = z_test(ref_n, cur_n) if len(ref_n) == 2 else (0.0, 1.0)
            result["chart"] = _categorical_chart(values, ref_n, cur_n)
            auto = _auto_method("categorical", n_ref, distinct)
        else:
            auto = _auto_method("numeric", n_ref, distinct)
        del ref_f, cur_f
    elif as_kind == "categorical":
        values, ref_n, cur_n = _aligned_counts(ref, cur)  # type: ignore[arg-type]
        measures = dict(categorical_measures(ref_n, cur_n, min_count=min_count))
        measures["z"], measures["z_p"] = z_test(ref_n, cur_n) if len(ref_n) == 2 else (0.0, 1.0)
        result["chart"] = _categorical_chart(values, ref_n, cur_n)
        auto = _auto_method("categorical", n_ref, len(values))
    else:
        measures = text_measures(ref, cur, min_count=min_count, languages=languages)  # type: ignore[arg-type]
        result["chart"] = measures.pop("chart")
        auto = "jensen_shannon"  # unused: text picks the worse of its two tests below
    statistics.update({k: float(v) for k, v in measures.items()})

    threshold: float | None
    if as_kind == "text":
        if spec.method is None:
            method, threshold, key = _worse_text_test(statistics, spec.threshold)
        else:
            method, threshold = spec.method, spec.threshold
            key = method if method == "jensen_shannon" else f"length_{method}"
    else:
        method, threshold, key = spec.method or auto, spec.threshold, spec.method or auto
    allowed = METHODS[as_kind] | (METHODS["categorical"] if "chi2" in statistics else frozenset())
    if method not in allowed:
        raise ConfigError(f"drift method {method!r} does not apply to {as_kind} column {column!r}; "
                          f"use one of {', '.join(sorted(allowed))}")
    decided = DEFAULT_THRESHOLDS[method] if threshold is None else threshold
    statistic = float(statistics[key])
    p_value = float(statistics[f"{key}_p"]) if method in P_VALUE_METHODS else None
    drifted, severity = _decide(statistic, p_value, decided, error_factor)
    result.update(method=method, statistic=statistic, p_value=p_value, threshold=decided, drifted=drifted,
                  severity=severity, measure=key)
    return result


def _worse_text_test(statistics: Mapping[str, float], threshold: float | None) -> tuple[str, float, str]:
    """Text drifts when its vocabulary, its length distribution or (when measured) its languages
    moved: the test furthest past its threshold decides. Returns (method, threshold, statistic key)."""
    length = "ks" if statistics["reference_values"] <= SMALL_SAMPLE else "wasserstein"
    js_t = DEFAULT_THRESHOLDS["jensen_shannon"] if threshold is None else threshold
    length_t = DEFAULT_THRESHOLDS[length] if threshold is None else threshold
    candidates = [(statistics["jensen_shannon"] / js_t, "jensen_shannon", js_t, "jensen_shannon")]
    if length == "ks":
        candidates.append((length_t / max(statistics["length_ks_p"], 1e-300), "ks", length_t, "length_ks"))
    else:
        candidates.append((statistics["length_wasserstein"] / length_t, "wasserstein", length_t, "length_wasserstein"))
    if "language_jensen_shannon" in statistics:
        candidates.append((statistics["language_jensen_shannon"] / js_t, "jensen_shannon", js_t,
                           "language_jensen_shannon"))
    _, method, chosen, key = max(candidates, key=lambda c: c[0])
    return method, chosen, key


# ------------------------------------------------------------------------------------ public
def drift(
    reference: DriftInput,
    current: DriftInput,
    *,
    columns: Sequence[str] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    label: str | None = None,
    slice_by: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] = PROVENANCE,
    min_count: int = 10,
    min_slice_rows: int = 200,
    max_slices: int = 20,
    text_sample: int = 20_000,
    languages: bool = False,
    error_factor: float = 2.0,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Test every column (or ``columns``) of ``current`` against ``reference`` for drift.

    Inputs are `pyarrow.Table` s, datamill `Dataset` s or Parquet paths (a file or a folder);
    each column is read on its own. ``thresholds`` maps a column to ``{"method": ..., "threshold":
    ...}`` (either may be left out; a bare number is a threshold), as the schema's ``drift`` or
    ``skew`` entries; other columns get Evidently 0.7's defaults (docs/drift.md). ``label`` is
    tested too, as ``label_drift``; ``slice_by`` repeats every test within each of its
    ``max_slices`` most common reference values (slices with fewer than ``min_slice_rows`` rows
    on a side are reported as skipped). ``languages``: also compare the languages of up to 2,000
    sampled documents of each text column (lingua, via `datamill.clean.language`). ``min_count``:
    categories seen fewer times than this in both samples together are pooled before the
    categorical distances. A result is
    ``warning`` when drifted and ``error`` when a distance reaches ``error_factor`` × its
    threshold (a p-value a hundredth of it). Columns that cannot be compared (empty, or of
    another type on the other side) get a result with a ``skipped`` reason.

    >>> ref = pa.table({"shop": ["a"] * 900 + ["b"] * 300})
    >>> cur = pa.table({"shop": ["a"] * 300 + ["b"] * 300 + ["c"] * 600})
    >>> r = drift(ref, cur)[0]
    >>> r["kind"], r["method"], r["drifted"], r["chart"]["categories"]
    ('categorical', 'jensen_shannon', True, ['a', 'b', 'c'])
    """
    if min_count < 1 or min_slice_rows < 1 or max_slices < 1 or text_sample < 1 or error_factor < 1:
        raise ConfigError("min_count, min_slice_rows, max_slices and text_sample must be at least 1, "
                          "error_factor at least 1")
    ref, cur = Side(reference, "reference"), Side(current, "current")
    names = _columns(ref, cur, columns, exclude, label, slice_by)
    for name in (label, slice_by):
        if name is not None and (name not in ref.schema.names or name not in cur.schema.names):
            raise SchemaError(f"column {name!r} must be in both datasets to test drift by it")
    text = set(text_columns or ()) | ref.text_columns
    slices = _slice_values(ref, slice_by, max_slices) if slice_by else []
    results: list[dict[str, Any]] = []
    for name in names:
        results += _column_results(name, ref, cur, spec=_spec(thresholds, name), label=name == label,
                                   text=text, slice_by=slice_by, slices=slices, min_count=min_count,
                                   min_slice_rows=min_slice_rows, sample=text_sample, error_factor=error_factor,
                                   seed=seed, languages=languages)
    return results


def _columns(ref: Side, cur: Side, columns: Sequence[str] | None, exclude: Sequence[str],
             label: str | None, slice_by: str | None) -> list[str]:
    if columns is not None:
        unknown = [c for c in columns if c not in ref.schema.names and c not in cur.schema.names]
        if unknown:
            raise SchemaError(f"no column {', '.join(map(repr, unknown))} in either dataset; "
                              f"the reference has {', '.join(ref.schema.names)}")
        names = list(dict.fromkeys(columns))
    else:
        names = [c for c in dict.fromkeys([*ref.schema.names, *cur.schema.names]) if c not in exclude]
    if label is not None and label not in names:
        names.append(label)
    return names


def _slice_values(ref: Side, slice_by: str, max_slices: int) -> list[Any]:
    counts = _value_counts(ref.read([slice_by])[slice_by])
    order = np.argsort(-counts["n"].to_numpy(), kind="stable")[:max_slices]
    values: list[Any] = counts["value"].take(pa.array(order)).to_pylist()
    return values


def _column_results(name: str, ref: Side, cur: Side, *, spec: _Spec, label: bool, text: set[str],
                    slice_by: str | None, slices: list[Any], min_count: int, min_slice_rows: int, sample: int,
                    error_factor: float, seed: int, languages: bool) -> list[dict[str, Any]]:
    in_ref, in_cur = name in ref.schema.names, name in cur.schema.names
    ref_type = ref.schema.field(name).type if in_ref else None
    cur_type = cur.schema.field(name).type if in_cur else None
    ref_family = column_kind(ref_type) if ref_type is not None else "null"
    cur_family = column_kind(cur_type) if cur_type is not None else "null"
    # A side whose column is of Arrow's null type (all missing) compares as empty, whatever the other's type.
    fam = cur_family if ref_family == "null" else ref_family
    as_kind = {"numeric": "numeric", "temporal": "numeric", "string": "categorical", "bool": "categorical",
               "null": "categorical"}.get(fam, "other")
    kind: Kind = "label" if label else ("temporal" if fam == "temporal" else as_kind)  # type: ignore[assignment]
    result = _result(name, None, kind, ref.num_rows, cur.num_rows)
    if not (in_ref and in_cur):
        where = "reference" if not in_ref else "current"
        return [_skip(result, f"column {name!r} is absent from the {where} data", "warning")]
    if "null" not in (ref_family, cur_family) and ref_family != cur_family:
        return [_skip(result, f"cannot compare {name!r}: {ref_type} in the reference, {cur_type} in the current "
                      "data; cast one side to the other's type first", "warning")]
    if as_kind == "other":
        return [_skip(result, f"drift is not tested on {ref_type} columns")]
    null_side = "null" in (ref_family, cur_family)
    read = [name] if slice_by is None or slice_by == name else [name, slice_by]
    if fam == "string" and not label and not null_side and (
            name in text or is_text(ref.batches([name]), name)):
        as_kind, kind = "text", "text"
    if as_kind == "text":
        ref_data, cur_data = (text_sample(side.batches(read), name, slice_by, side.num_rows, sample, seed)
                              for side in (ref, cur))
    else:
        ref_data, cur_data = ref.read(read), cur.read(read)

    def test(ref_part: Loaded, cur_part: Loaded, slice_: dict[str, Any] | None, ref_rows: int,
             cur_rows: int) -> dict[str, Any]:
        return _test(name, _payload(ref_part, name, as_kind), _payload(cur_part, name, as_kind), kind=kind,
                     as_kind=as_kind, spec=spec, slice_=slice_, ref_rows=ref_rows, cur_rows=cur_rows,
                     min_count=min_count, error_factor=error_factor, languages=languages)

    results = [test(ref_data, cur_data, None, ref.num_rows, cur.num_rows)]
    if slice_by is None or slice_by == name:
        return results
    for value in slices:
        slice_ = {"column": slice_by, "value": value}
        ref_part, cur_part = _in_slice(ref_data, slice_by, value), _in_slice(cur_data, slice_by, value)
        ref_rows, cur_rows = _rows(ref_part), _rows(cur_part)
        if min(ref_rows, cur_rows) < min_slice_rows:
            results.append(_skip(_result(name, slice_, kind, ref_rows, cur_rows),
                                 f"slice {slice_by} = {value!r} skipped: {ref_rows:,} reference and {cur_rows:,} "
                                 f"current rows, fewer than {min_slice_rows:,} on a side"))
            continue
        results.append(test(ref_part, cur_part, slice_, ref_rows, cur_rows))
    return results


Loaded: TypeAlias = "pa.Table | tuple[pa.Table, pa.Table]"


def _payload(data: Loaded, name: str, as_kind: str) -> pa.ChunkedArray | tuple[np.ndarray, pa.Array]:
    if as_kind == "text":
        assert isinstance(data, tuple)
        lengths, sampled = data
        return (lengths["length"].drop_null().to_numpy().astype(np.float64),
                sampled["text"].combine_chunks().drop_null())
    assert isinstance(data, pa.Table)
    return data[name]


def _in_slice(data: Loaded, slice_by: str, value: Any) -> Loaded:
    if isinstance(data, tuple):
        return tuple(_in_slice(part, slice_by, value) for part in data)  # type: ignore[return-value]
    column = data[slice_by]
    mask = pc.is_null(column) if value is None else pc.equal(decode(column), pa.scalar(value, decode(column).type))
    return data.filter(pc.fill_null(mask, False))


def _rows(data: Loaded) -> int:
    return int(data[0].num_rows if isinstance(data, tuple) else data.num_rows)


def drift_findings(results: Sequence[Mapping[str, Any]]) -> list[Finding]:
    """A `Finding` for each drifted result, and for each column that could not be tested when
    that deserves a look (severity warning: a type change, a side with no values).

    >>> ref = pa.table({"x": [float(i % 50) for i in range(2000)]})
    >>> cur = pa.table({"x": [float(i % 50) + 20 for i in range(2000)]})
    >>> [(f.check, f.column, f.severity) for f in drift_findings(drift(ref, cur))]
    [('drift', 'x', 'error')]
    """
    findings = []
    for r in results:
        check = r.get("check") or ("label_drift" if r["kind"] == "label" else "drift")
        where = "" if not r.get("slice") else f" in slice {r['slice']['column']} = {r['slice']['value']!r}"
        details = {"method": r["method"], "p_value": r.get("p_value"), "slice": r.get("slice"),
                   "statistics": dict(r.get("statistics") or {}), "reference_rows": r.get("reference_rows"),
                   "current_rows": r.get("current_rows")}
        if r.get("skipped"):
            if r["severity"] != "info":
                findings.append(Finding(check, r["column"], r["severity"], f"drift not tested{where}: {r['skipped']}",
                                        details=details))
            continue
        if not r["drifted"]:
            continue
        findings.append(Finding(check, r["column"], r["severity"], _message(r) + where, value=r["statistic"],
                                threshold=r["threshold"], examples=_examples(r.get("chart")), details=details))
    return findings


_NAMES = {"wasserstein": "Wasserstein distance (normed by the reference std)", "psi": "PSI",
          "jensen_shannon": "Jensen–Shannon distance", "linf": "L∞ distance", "ks": "KS test",
          "chi2": "chi-squared test", "z": "z-test", "accuracy": "accuracy z-test", "loss": "loss z-test"}


def _message(r: Mapping[str, Any]) -> str:
    name = _NAMES.get(r["method"], r["method"])
    if r["kind"] == "text":
        measure = str(r.get("measure", ""))
        name = ("language " if measure.startswith("language") else "length " if measure.startswith("length")
                else "vocabulary ") + name
    if r.get("p_value") is not None:
        return f"{name}: statistic {r['statistic']:.4g}, p = {r['p_value']:.3g} < {r['threshold']:g}"
    return f"{name} {r['statistic']:.4g} ≥ {r['threshold']:g}"


def _examples(chart: Mapping[str, Any] | None) -> tuple[str, ...]:
    """For a categorical chart, the categories whose share moved most, as ``value: 10.0% → 35.0%``."""
    if not chart or chart.get("type") != "categorical":
        return ()
    ref, cur = np.asarray(chart["reference"], float), np.asarray(chart["current"], float)
    ref_share, cur_share = ref / max(ref.sum(), 1), cur / max(cur.sum(), 1)
    order = np.argsort(-np.abs(cur_share - ref_share), kind="stable")[:5]
    return tuple(f"{chart['categories'][i]}: {ref_share[i]:.1%} → {cur_share[i]:.1%}" for i in order
                 if not math.isclose(ref_share[i], cur_share[i]))
