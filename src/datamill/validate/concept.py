"""Concept drift: does the relation between the features and the label still hold?

`concept_drift` fits a scikit-learn ``HistGradientBoosting`` model on part of the reference,
scores it on the held-out rest of the reference and on the current data, and tests whether
the current data's per-row loss is significantly worse (a one-sided two-sample z-test; for a
classifier the loss is the 0/1 error, so this is the two-proportion z-test on accuracy; for a
regressor the absolute error). A drop that is significant but smaller than ``min_drop`` is
not reported: on millions of rows a hair's difference is significant and rarely matters.

Feature columns may drift on their own without the concept changing; the model then scores
differently because it sees other inputs. Read a concept-drift result beside the per-column
ones (`datamill.validate.drift`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats  # type: ignore[import-untyped]

from datamill.core.columns import ID
from datamill.core.errors import ConfigError, SchemaError
from datamill.validate.drift import DriftInput, read_side
from datamill.validate.text_drift import is_text

__all__ = ["concept_drift"]

# Categories beyond the 250 most frequent share one code (HistGradientBoosting takes at most 255 bins).
_MAX_CATEGORIES = 250


def _is_classification(values: pa.ChunkedArray) -> bool:
    dtype = values.type
    if pa.types.is_floating(dtype):
        return len(pc.unique(values.drop_null())) <= 20
    return not (pa.types.is_decimal(dtype) or pa.types.is_temporal(dtype))


def _encode(column: pa.ChunkedArray, categories: pa.Array | None) -> tuple[np.ndarray, pa.Array | None]:
    """A float feature: numbers as they are, times as integers, strings and booleans as codes of
    the reference's most frequent categories (the rest ``_MAX_CATEGORIES``, missing NaN)."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    dtype = column.type
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), None
    if pa.types.is_temporal(dtype):
        width = pa.int32() if dtype.bit_width == 32 else pa.int64()
        return column.cast(width).cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64), None
    if categories is None:
        counts = pc.value_counts(column.drop_null().combine_chunks())
        order = np.argsort(-counts.field("counts").to_numpy(), kind="stable")[:_MAX_CATEGORIES]
        categories = counts.field("values").take(pa.array(order))
    codes = pc.index_in(column, value_set=categories.cast(dtype)).to_numpy(zero_copy_only=False)
    codes = np.where(np.isnan(codes.astype(np.float64)), float(_MAX_CATEGORIES), codes)
    missing = column.is_null().to_numpy(zero_copy_only=False)
    return np.where(missing, np.nan, codes).astype(np.float64), categories


def _features(ref: Any, cur: Any, label: str, features: Sequence[str] | None) -> list[str]:
    if features is not None:
        missing = [f for f in features if f not in ref.schema.names or f not in cur.schema.names]
        if missing:
            raise SchemaError(f"feature columns {', '.join(map(repr, missing))} must be in both datasets")
        return list(features)
    chosen = []
    for name in ref.schema.names:
        if name in (label, ID) or name not in cur.schema.names:
            continue
        dtype = ref.schema.field(name).type
        if pa.types.is_dictionary(dtype):
            dtype = dtype.value_type
        if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
            if is_text(ref.batches([name]), name):
                continue  # free text is not a feature a tree can split on
        elif not (pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)
                  or pa.types.is_temporal(dtype) or pa.types.is_decimal(dtype)):
            continue
        chosen.append(name)
    if not chosen:
        raise SchemaError(f"no feature columns to fit a model on besides {label!r}; name them with features=")
    return chosen


def concept_drift(
    reference: DriftInput,
    current: DriftInput,
    *,
    label: str,
    features: Sequence[str] | None = None,
    holdout: float = 0.3,
    max_rows: int = 200_000,
    alpha: float = 0.01,
    min_drop: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit on the reference, score on held-out reference and on current; one drift result.

    ``features`` default to every number, time, boolean and categorical column in both (free
    text and ``id`` left out). At most ``max_rows`` rows of each side are used (a seeded sample).
    The result has the shape of `datamill.validate.drift`'s, with ``check: "concept_drift"``,
    ``kind: "label"``, ``method`` ``"accuracy"`` (classification) or ``"loss"`` (regression,
    mean absolute error), ``statistic`` the drop (accuracy points, or the relative rise of the
    error), ``p_value`` of the one-sided z-test, and ``drifted`` when p < ``alpha`` and the drop
    is at least ``min_drop`` (default 0.01 accuracy, or 5% more error).

    >>> import numpy as np, pyarrow as pa
    >>> x = np.random.default_rng(0).normal(size=4000)
    >>> ref = pa.table({"x": x, "y": x > 0})
    >>> cur = pa.table({"x": x, "y": x < 0})
    >>> r = concept_drift(ref, cur, label="y")
    >>> r["drifted"], r["severity"], r["statistics"]["current_score"] < 0.2
    (True, 'error', True)
    """
    if not 0 < holdout < 1:
        raise ConfigError(f"holdout must be between 0 and 1, got {holdout}")
    ref, cur = read_side(reference, "reference"), read_side(current, "current")
    for side in (ref, cur):
        if label not in side.schema.names:
            raise SchemaError(f"label column {label!r} is not in the {side.which} data "
                              f"(it has {', '.join(side.schema.names)})")
    names = _features(ref, cur, label, features)
    rng = np.random.default_rng(seed)
    ref_table, cur_table = ref.read([*names, label]), cur.read([*names, label])
    ref_table = ref_table.filter(pc.is_valid(ref_table[label]))
    cur_table = cur_table.filter(pc.is_valid(cur_table[label]))
    if ref_table.num_rows > max_rows:
        ref_table = ref_table.take(pa.array(np.sort(rng.choice(ref_table.num_rows, max_rows, replace=False))))
    if cur_table.num_rows > max_rows:
        cur_table = cur_table.take(pa.array(np.sort(rng.choice(cur_table.num_rows, max_rows, replace=False))))
    classify = _is_classification(ref_table[label])
    result: dict[str, Any] = {
        "column": label, "slice": None, "kind": "label", "check": "concept_drift",
        "method": "accuracy" if classify else "loss", "statistic": None, "p_value": None, "threshold": alpha,
        "drifted": False, "severity": "info", "statistics": {"features": float(len(names))},
        "reference_rows": ref.num_rows, "current_rows": cur.num_rows, "chart": None,
    }
    if ref_table.num_rows < 50 or cur_table.num_rows < 20:
        result.update(skipped=f"too few labelled rows to fit and score a model ({ref_table.num_rows:,} reference, "
                              f"{cur_table.num_rows:,} current; need 50 and 20)")
        return result

    columns_ref, columns_cur = [], []
    for name in names:
        values, categories = _encode(ref_table[name], None)
        columns_ref.append(values)
        columns_cur.append(_encode(cur_table[name], categories)[0])
    x_ref, x_cur = np.column_stack(columns_ref), np.column_stack(columns_cur)
    categorical = [not (pa.types.is_integer(ref_table.schema.field(n).type)
                        or pa.types.is_floating(ref_table.schema.field(n).type)
                        or pa.types.is_decimal(ref_table.schema.field(n).type)
                        or pa.types.is_temporal(ref_table.schema.field(n).type)) for n in names]
    y_ref, y_cur = _targets(ref_table[label], cur_table[label], classify)

    order = rng.permutation(len(y_ref))
    cut = int(len(order) * (1 - holdout))
    train, test = order[:cut], order[cut:]
    from sklearn.ensemble import (  # type: ignore[import-untyped]
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )

    model: Any = (HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor)(
        categorical_features=categorical if any(categorical) else None, random_state=seed)
    model.fit(x_ref[train], y_ref[train])
    loss_ref = _loss(model.predict(x_ref[test]), y_ref[test], classify)
    loss_cur = _loss(model.predict(x_cur), y_cur, classify)
    m_ref, m_cur = float(loss_ref.mean()), float(loss_cur.mean())
    se = math.sqrt(loss_ref.var(ddof=1) / len(loss_ref) + loss_cur.var(ddof=1) / len(loss_cur))
    z = (m_cur - m_ref) / se if se > 0 else (0.0 if m_cur == m_ref else math.copysign(math.inf, m_cur - m_ref))
    p = float(stats.norm.sf(z))
    if classify:
        drop, floor = m_cur - m_ref, 0.01 if min_drop is None else min_drop
        scores = {"reference_score": 1 - m_ref, "current_score": 1 - m_cur}
    else:
        drop, floor = (m_cur - m_ref) / max(m_ref, 1e-12), 0.05 if min_drop is None else min_drop
        scores = {"reference_score": m_ref, "current_score": m_cur}
    drifted = p < alpha and drop >= floor
    severity = ("error" if p < alpha / 100 and drop >= 2 * floor else "warning") if drifted else "info"
    result["statistics"].update(scores, z=z, p=p, drop=drop, min_drop=floor, reference_scored=float(len(test)),
                                current_scored=float(len(y_cur)), train_rows=float(len(train)))
    result.update(statistic=drop, p_value=p, drifted=drifted, severity=severity)
    return result


def _targets(ref: pa.ChunkedArray, cur: pa.ChunkedArray, classify: bool) -> tuple[np.ndarray, np.ndarray]:
    if not classify:
        return (ref.cast(pa.float64()).to_numpy().astype(np.float64),
                cur.cast(pa.float64()).to_numpy().astype(np.float64))
    # One code per class over both sides, so a class only the current data has counts as an error.
    cur = cur.cast(ref.type)
    classes = pc.unique(pa.chunked_array([*ref.chunks, *cur.chunks], ref.type))
    ref_codes = pc.index_in(ref, value_set=classes).to_numpy(zero_copy_only=False)
    cur_codes = pc.index_in(cur, value_set=classes).to_numpy(zero_copy_only=False)
    return ref_codes.astype(np.int64), cur_codes.astype(np.int64)


def _loss(predicted: np.ndarray, actual: np.ndarray, classify: bool) -> np.ndarray:
    loss: np.ndarray = (predicted != actual) if classify else np.abs(predicted - actual)
    return loss.astype(np.float64)
