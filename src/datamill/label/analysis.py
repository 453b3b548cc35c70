"""How labelling functions behave: coverage, overlaps, conflicts, polarity, accuracy, correlation.

The statistics are Snorkel's ``LFAnalysis.lf_summary`` columns, computed on the votes of any
sources (LFs or raters):

- ``polarity``: the classes the LF ever voted;
- ``coverage``: the share of items it voted on;
- ``overlaps``: the share of items it voted on *and* at least one other source voted on;
- ``conflicts``: the share of items it voted on where another source voted a different class;
- with gold labels (-1 where unknown): ``correct`` / ``incorrect`` among the items it voted on
  that have a gold label, and ``accuracy`` = correct / (correct + incorrect) (null when it voted
  on no gold item);
- :func:`lf_correlations`: the Pearson correlation of two LFs' one-hot votes (an abstain is all
  zeros), over every (item, class) cell. Two copies of one LF correlate 1; two LFs that vote
  the same class on the same items correlate highly, and a label model that takes them as
  independent evidence would count them twice.

>>> from datamill.label import LabelMatrix
>>> votes = LabelMatrix.from_dense([[1, 1, -1], [1, -1, 0], [-1, -1, 0], [1, 1, 0]],
...                                source_names=["a", "b", "c"], class_names=["ham", "spam"])
>>> table = lf_summary(votes, gold=[1, 0, 0, -1])
>>> table.column("lf").to_pylist(), table.column("coverage").to_pylist()
(['a', 'b', 'c'], [0.75, 0.5, 0.75])
>>> table.column("conflicts").to_pylist(), table.column("accuracy").to_pylist()
([0.5, 0.25, 0.5], [0.5, 1.0, 1.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import ArrayLike, NDArray

from datamill.core.errors import ConfigError
from datamill.label.matrix import LabelMatrix, _as_int_array, as_label_matrix

__all__ = ["lf_correlations", "lf_report", "lf_summary"]

_SUMMARY_SCHEMA = pa.schema([
    pa.field("lf", pa.string()),
    pa.field("polarity", pa.list_(pa.string())),
    pa.field("votes", pa.int64()),
    pa.field("coverage", pa.float64()),
    pa.field("overlaps", pa.float64()),
    pa.field("conflicts", pa.float64()),
    pa.field("correct", pa.int64()),
    pa.field("incorrect", pa.int64()),
    pa.field("accuracy", pa.float64()),
])


def _gold(gold: ArrayLike | None, n: int) -> NDArray[np.int64] | None:
    if gold is None:
        return None
    values = _as_int_array(gold, "gold", ndim=1)
    if len(values) != n:
        raise ConfigError(f"`gold` has {len(values)} labels for {n} items; give one per item (-1 where unknown).")
    return values


def _names(matrix: LabelMatrix) -> list[str]:
    return list(matrix.source_names) if matrix.source_names is not None else [str(s) for s in range(matrix.n_sources)]


def _class(matrix: LabelMatrix, c: int) -> str:
    return matrix.class_names[c] if matrix.class_names is not None else str(c)


def _rows(matrix: LabelMatrix, gold: NDArray[np.int64] | None) -> list[dict[str, Any]]:
    n, m, k = matrix.n_items, matrix.n_sources, max(matrix.n_classes, 1)
    item = matrix.items.astype(np.int64)
    source = matrix.sources.astype(np.int64)
    label = matrix.labels.astype(np.int64)
    per_item = np.bincount(item, minlength=n)
    counts = matrix.class_counts() if n and matrix.n_classes else np.zeros((n, k), np.int64)
    # a vote conflicts when its item has a vote of another class
    other_class = per_item[item] - counts[item, label] > 0 if len(label) else np.zeros(0, bool)
    overlap = per_item[item] > 1
    votes = np.bincount(source, minlength=m)
    n_overlap = np.bincount(source, weights=overlap, minlength=m)
    n_conflict = np.bincount(source, weights=other_class, minlength=m)
    polarity = np.zeros((m, k), dtype=bool)
    polarity[source, label] = True
    rows = []
    if gold is not None:
        known = gold[item] >= 0
        right = known & (gold[item] == label)
        n_correct = np.bincount(source, weights=right, minlength=m).astype(np.int64)
        n_wrong = np.bincount(source, weights=known & ~right, minlength=m).astype(np.int64)
    for s, name in enumerate(_names(matrix)):
        row: dict[str, Any] = {
            "lf": name, "polarity": [_class(matrix, int(c)) for c in np.flatnonzero(polarity[s])],
            "votes": int(votes[s]), "coverage": votes[s] / n if n else 0.0,
            "overlaps": n_overlap[s] / n if n else 0.0, "conflicts": n_conflict[s] / n if n else 0.0,
            "correct": None, "incorrect": None, "accuracy": None,
        }
        if gold is not None:
            seen = int(n_correct[s] + n_wrong[s])
            row.update(correct=int(n_correct[s]), incorrect=int(n_wrong[s]),
                       accuracy=n_correct[s] / seen if seen else None)
        rows.append(row)
    return rows


def lf_summary(votes: LabelMatrix | ArrayLike, gold: ArrayLike | None = None) -> pa.Table:
    """One row per source: polarity, votes, coverage, overlaps, conflicts, and accuracy with ``gold``.

    ``gold`` is one true class per item, -1 (or NaN) where unknown: accuracy is measured on the
    items that have one, as on a small labelled dev set. The columns are those of the module's
    documentation; ``correct``, ``incorrect`` and ``accuracy`` are null without gold.
    """
    matrix = as_label_matrix(votes)
    return pa.Table.from_pylist(_rows(matrix, _gold(gold, matrix.n_items)), schema=_SUMMARY_SCHEMA)


def lf_correlations(votes: LabelMatrix | ArrayLike) -> NDArray[np.float64]:
    """``sources × sources`` Pearson correlations of the sources' one-hot votes (NaN for a constant source).

    >>> lf_correlations([[1, 1, 0], [-1, -1, 0], [1, 1, -1]]).round(2).tolist()
    [[1.0, 1.0, -0.5], [1.0, 1.0, -0.5], [-0.5, -0.5, 1.0]]
    """
    matrix = as_label_matrix(votes)
    n, m, k = matrix.n_items, matrix.n_sources, max(matrix.n_classes, 1)
    cells = n * k
    if cells == 0:
        return np.full((m, m), np.nan)
    # one-hot cells as a sparse product: co-occurrences are votes on the same (item, class)
    cell = matrix.items.astype(np.int64) * k + matrix.labels
    source = matrix.sources.astype(np.int64)
    counts = np.bincount(source, minlength=m).astype(np.float64)
    order = np.argsort(cell, kind="stable")
    cell, source = cell[order], source[order]
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    co = np.zeros((m, m))
    sizes = np.diff(np.r_[starts, len(cell)])
    for size in np.unique(sizes):  # cells voted by `size` sources: pair them up at once
        first = starts[sizes == size]
        members = source[first[:, None] + np.arange(size)[None, :]]
        for a in range(size):
            for b in range(size):
                np.add.at(co, (members[:, a], members[:, b]), 1.0)
    mean = counts / cells
    cov = co / cells - np.outer(mean, mean)
    std = np.sqrt(np.maximum(np.diag(cov), 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = cov / np.outer(std, std)
    corr[np.outer(std, std) == 0] = np.nan
    out: NDArray[np.float64] = np.clip(corr, -1.0, 1.0)
    return out


def lf_report(votes: LabelMatrix | ArrayLike, gold: ArrayLike | None = None) -> dict[str, Any]:
    """Everything :func:`lf_summary` and :func:`lf_correlations` say, as one JSON-able dict.

    Keys: ``items``, ``sources``, ``coverage`` (items with any vote), ``overlap`` (items with
    two or more votes), ``conflict`` (items whose votes disagree), ``lfs`` (the summary rows),
    ``correlation`` (rows of the matrix, None for NaN) and, with gold, ``gold_items``.

    >>> report = lf_report([[1, 1], [1, 0], [-1, -1]])
    >>> report["coverage"], report["overlap"], report["conflict"]
    (0.6666666666666666, 0.6666666666666666, 0.3333333333333333)
    """
    matrix = as_label_matrix(votes)
    g = _gold(gold, matrix.n_items)
    n = matrix.n_items
    per_item = matrix.votes_per_item
    counts = matrix.class_counts() if n and matrix.n_classes else np.zeros((n, 1), np.int64)
    disagree = (counts > 0).sum(axis=1) > 1
    corr = lf_correlations(matrix)
    report: dict[str, Any] = {
        "items": n, "sources": matrix.n_sources,
        "classes": list(matrix.class_names) if matrix.class_names is not None else matrix.n_classes,
        "coverage": float((per_item > 0).mean()) if n else 0.0,
        "overlap": float((per_item > 1).mean()) if n else 0.0,
        "conflict": float(disagree.mean()) if n else 0.0,
        "lfs": _rows(matrix, g),
        "correlation": [[None if np.isnan(v) else float(v) for v in row] for row in corr],
    }
    if g is not None:
        report["gold_items"] = int((g >= 0).sum())
    return report
