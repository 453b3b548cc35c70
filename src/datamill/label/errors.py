"""Label-error finding: which given labels are probably wrong, ranked worst first.

Confident learning (Northcutt, Jiang and Chuang, 2021) through `cleanlab
<https://github.com/cleanlab/cleanlab>`_: a model is cross-validated on the data (stratified
K folds, seeded), so every item gets class probabilities from a model that never saw it; an
item whose given label the out-of-sample model finds implausible, beyond what the estimated
noise of its class explains, is flagged. datamill adds the parts around it: reading Arrow data,
sensible default models (TF-IDF + logistic regression for text, gradient-boosted trees for
tables), named classes, items without a label counted instead of dropped, clear errors, and the
``label.errors`` step. See ``docs/label-errors.md``.

>>> import pyarrow as pa
>>> words = ["free money now", "win cash prize", "click my channel", "subscribe for cash",
...          "lovely song", "great voice", "best video ever", "i love this tune"] * 5
>>> given = (["spam"] * 4 + ["ham"] * 4) * 5
>>> given[4] = "spam"  # one "lovely song" mislabelled
>>> found = find_label_errors(pa.table({"text": words, "label": given}), label_column="label",
...                           text_column="text", folds=3)
>>> issue = found.to_table(issues_only=True).to_pylist()[0]
>>> issue["id"], issue["text"], issue["given_label"], issue["suggested_label"], issue["rank"]
(4, 'lovely song', 'spam', 'ham', 1)
>>> found.summary()["issues"], round(issue["label_quality"], 2)
(1, 0.21)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import Field, model_validator

from datamill.core.errors import ConfigError, SchemaError
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = [
    "FilterBy",
    "LabelErrors",
    "LabelErrorsConfig",
    "LabelErrorsStep",
    "RankBy",
    "default_model",
    "find_label_errors",
    "gold_report",
    "issue_precision_recall",
    "labels_differ",
    "read_summary",
    "review_queue",
]

RankBy = Literal["self_confidence", "normalized_margin"]
FilterBy = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given"]

# The columns `label.errors` adds, and where it keeps its summary in the output's schema.
QUALITY, ISSUE, SUGGESTED, ISSUE_RANK = "label_quality", "label_issue", "suggested_label", "issue_rank"
SUMMARY_KEY = "datamill.label_errors"
# HistGradientBoosting takes at most 255 categories per feature: rarer values share one.
_MAX_CATEGORIES = 250
_OTHER = "(other)"


@dataclass
class LabelErrors:
    """What :func:`find_label_errors` found, one entry per labelled item, in the input's order.

    ``position`` is each item's row in the input (items with a missing label are left out and
    counted in ``missing_label``). ``rank`` orders the review queue: the flagged items first,
    each group from the lowest label quality up, so ``rank`` 1 is the likeliest error.
    """

    ids: pa.Array
    position: NDArray[np.int64]
    given: NDArray[np.int64]
    suggested: NDArray[np.int64]
    quality: NDArray[np.float64]
    is_issue: NDArray[np.bool_]
    rank: NDArray[np.int64]
    pred_probs: NDArray[np.float64]
    classes: pa.Array
    joint: NDArray[np.float64]
    missing_label: int = 0
    items: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    extra: pa.Table | None = None  # text or feature columns carried into the review queue

    def __len__(self) -> int:
        return len(self.given)

    @property
    def class_names(self) -> list[str]:
        """The classes as text, in class-index order."""
        return [str(c) for c in self.classes.to_pylist()]

    @property
    def n_issues(self) -> int:
        """How many items are flagged."""
        return int(self.is_issue.sum())

    def to_table(self, *, issues_only: bool = False, top: int | None = None) -> pa.Table:
        """The review queue: one row per item, worst first (``id``, ``given_label``,
        ``suggested_label``, ``label_quality``, ``is_issue``, ``rank``, then the text or feature
        columns the model read).

        >>> import pyarrow as pa
        >>> found = _example()
        >>> found.to_table(top=2).column_names[:6]
        ['id', 'given_label', 'suggested_label', 'label_quality', 'is_issue', 'rank']
        """
        order = np.argsort(self.rank, kind="stable")
        if issues_only:
            order = order[self.is_issue[order]]
        if top is not None:
            order = order[:top]
        take = pa.array(order, pa.int64())
        columns: dict[str, pa.Array] = {
            "id": self.ids.take(take),
            "given_label": self.classes.take(pa.array(self.given[order], pa.int64())),
            "suggested_label": self.classes.take(pa.array(self.suggested[order], pa.int64())),
            "label_quality": pa.array(self.quality[order], pa.float64()),
            "is_issue": pa.array(self.is_issue[order], pa.bool_()),
            "rank": pa.array(self.rank[order], pa.int64()),
        }
        if self.extra is not None:
            for name in self.extra.column_names:
                if name not in columns:
                    columns[name] = self.extra.column(name).take(take).combine_chunks()
        return pa.table(columns)

    def summary(self) -> dict[str, Any]:
        """Counts, the estimated noise (overall and per given class) and the confident joint.

        ``joint[i][j]`` estimates the share of all labelled items given class ``i`` whose true
        class is ``j`` (cleanlab's ``estimate_joint``); a class's ``estimated_noise_rate`` is
        the share of its items whose true class is another one.

        >>> s = _example().summary()
        >>> s["items"], s["labelled"], s["missing_label"], s["issues"]
        (40, 40, 0, 1)
        """
        n = len(self)
        names = self.class_names
        per_class = []
        for k, name in enumerate(names):
            mine = self.given == k
            row = self.joint[k] if len(self.joint) else np.zeros(0)
            noise = float(1.0 - row[k] / row.sum()) if len(row) and row.sum() > 0 else 0.0
            per_class.append({"class": name, "given": int(mine.sum()), "issues": int((mine & self.is_issue).sum()),
                              "estimated_noise_rate": noise})
        return {
            "items": self.items, "labelled": n, "missing_label": self.missing_label, "issues": self.n_issues,
            "issue_rate": self.n_issues / n if n else 0.0,
            "estimated_noise_rate": float(1.0 - np.trace(self.joint)) if n else 0.0,
            "cv_accuracy": float((self.suggested == self.given).mean()) if n else None,
            "classes": per_class,
            "joint": {"given": names, "true": names, "p": [[float(v) for v in row] for row in self.joint]},
            **self.settings,
        }


def issue_precision_recall(flagged: Any, wrong: Any) -> dict[str, float | int | None]:
    """Precision and recall of the flagged items against the items whose label is known wrong.

    ``flagged`` and ``wrong`` are boolean masks over the same items. Precision is None when
    nothing is flagged, recall when nothing is wrong.

    >>> issue_precision_recall([True, True, False, False], [True, False, True, False])
    {'flagged': 2, 'wrong': 2, 'found': 1, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    """
    a, b = np.asarray(flagged, dtype=bool), np.asarray(wrong, dtype=bool)
    if a.shape != b.shape:
        raise ConfigError(f"flagged has {a.size} items and wrong has {b.size}; give one mask per item for both.")
    found, n_flagged, n_wrong = int((a & b).sum()), int(a.sum()), int(b.sum())
    precision = found / n_flagged if n_flagged else None
    recall = found / n_wrong if n_wrong else None
    f1 = (2 * precision * recall / (precision + recall) if precision is not None and recall is not None
          and precision + recall > 0 else None)
    return {"flagged": n_flagged, "wrong": n_wrong, "found": found, "precision": precision, "recall": recall,
            "f1": f1}


def default_model(kind: Literal["text", "tabular", "mixed"], *, seed: int = 0, text_column: str | None = None,
                  numeric: Sequence[str] = (), categorical: Sequence[str] = (), n_classes: int = 2) -> Any:
    """The model :func:`find_label_errors` cross-validates when none is given.

    - ``text``: TF-IDF of word 1–2-grams and of character 2–5-grams inside word boundaries,
      both sublinear, then logistic regression (C=1; liblinear for two classes, lbfgs for more).
      The character grams catch the obfuscated spellings and URLs that word grams miss; the
      choice is measured in ``benchmarks/bench_label_errors.py --models``.
    - ``tabular``: scikit-learn's ``HistGradientBoostingClassifier``, reading pandas categorical
      columns as categories (no one-hot), missing values as they are.
    - ``mixed``: the text features above, one-hot categories and scaled numbers, then logistic
      regression.

    >>> type(default_model("tabular")).__name__
    'HistGradientBoostingClassifier'
    """
    from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]

    if kind == "tabular":
        return HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    # liblinear fits two classes about twice as fast as lbfgs on these sparse features, same result
    solver = "liblinear" if n_classes == 2 else "lbfgs"
    regression = LogisticRegression(C=1.0, solver=solver, max_iter=2000, random_state=seed)
    if kind == "text":
        return make_pipeline(_text_features(), regression)
    from sklearn.compose import ColumnTransformer  # type: ignore[import-untyped]
    from sklearn.impute import SimpleImputer  # type: ignore[import-untyped]
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # type: ignore[import-untyped]

    parts: list[tuple[str, Any, Any]] = []
    if text_column is not None:
        parts.append(("text", _text_features(), text_column))
    if numeric:
        parts.append(("numeric", make_pipeline(SimpleImputer(), StandardScaler()), list(numeric)))
    if categorical:
        parts.append(("categorical", make_pipeline(
            SimpleImputer(strategy="constant", fill_value=_OTHER, missing_values=np.nan),
            OneHotEncoder(handle_unknown="ignore")), list(categorical)))
    return make_pipeline(ColumnTransformer(parts), regression)


def _text_features() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.pipeline import FeatureUnion  # type: ignore[import-untyped]

    return FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])


def find_label_errors(
    data: Any,
    *,
    label_column: str,
    text_column: str | None = None,
    feature_columns: Sequence[str] | None = None,
    model: Any = None,
    folds: int = 5,
    seed: int = 0,
    id_column: str = "id",
    rank_by: RankBy = "self_confidence",
    filter_by: FilterBy = "prune_by_noise_rate",
    pred_probs: Any = None,
    n_jobs: int | None = None,
) -> LabelErrors:
    """Find the items whose given label is probably wrong.

    ``data`` is a `pyarrow.Table` or `RecordBatch`, a `datamill.Dataset`, an iterable of record
    batches, or a pandas / polars DataFrame; it is materialised (this is a global job: the
    model is fitted on every labelled item). Labels may be strings or integers; a null, NaN or
    empty label is *missing*: the item is left out and counted in ``missing_label``.

    The model reads ``text_column`` (a text model), or ``feature_columns`` (a tabular model), or
    both. ``model`` is any scikit-learn-style classifier with ``fit`` and ``predict_proba`` (a
    pipeline too); it gets a 1-D array of strings when only a text column is given, else a
    pandas DataFrame of the named columns (string columns as categoricals). Without one,
    :func:`default_model`. It is cross-validated with ``folds`` stratified, shuffled folds
    (``seed``), so every item's probabilities come from a model that never saw it; or give
    ``pred_probs`` (items × classes, classes sorted, from your own out-of-sample run) and no
    model is fitted.

    cleanlab's ``find_label_issues`` (``filter_by``) flags the items; its
    ``get_label_quality_scores`` (``rank_by``) scores every label from 0 (surely wrong) to 1.

    Raises `ConfigError` when a class has fewer labelled items than ``folds`` (lower ``folds``
    or label more items of that class) or only one class is labelled, and `SchemaError` for a
    missing column or labels of an unsupported type.
    """
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}.")
    features = list(feature_columns or ())
    if text_column is None and not features and pred_probs is None:
        raise ConfigError("say what the model reads: give text_column, feature_columns or both "
                          "(or pred_probs from your own model).")
    if text_column is not None and text_column in features:
        features.remove(text_column)
    wanted = [label_column] + ([text_column] if text_column else []) + features
    table = _as_table(data, [*wanted, id_column])
    missing_columns = [c for c in wanted if c not in table.column_names]
    if missing_columns:
        raise SchemaError(f"the data has no column {', '.join(map(repr, missing_columns))}; it has "
                          f"{', '.join(table.column_names)}.")
    if label_column in (id_column, text_column) or label_column in features:
        raise ConfigError(f"`{label_column}` is the label column; the model must not read it (nor the id).")
    labels, present = _labels(table.column(label_column))
    classes = pc.unique(labels.filter(present)).sort() if len(labels) else labels
    position = np.flatnonzero(present.to_numpy(zero_copy_only=False)).astype(np.int64)
    kept = table.take(pa.array(position, pa.int64()))
    ids = (kept.column(id_column).combine_chunks() if id_column in kept.column_names
           else pa.array(position, pa.int64()))
    y = pc.index_in(labels.take(pa.array(position, pa.int64())), value_set=classes).to_numpy(
        zero_copy_only=False).astype(np.int64)
    settings = {"folds": folds, "seed": seed, "rank_by": rank_by, "filter_by": filter_by}
    extra = kept.select([text_column, *features] if text_column else features)
    if len(y) == 0:
        empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
        return LabelErrors(ids, position, empty_i, empty_i, empty_f, np.zeros(0, bool), empty_i,
                           np.zeros((0, len(classes))), classes, np.zeros((0, 0)), table.num_rows - len(y),
                           table.num_rows, {**settings, "model": None}, extra)
    _check_classes(y, classes, folds, pred_probs is None)
    if pred_probs is None:
        probs, name = _cross_validated(kept, y, text_column, features, model, folds, seed, n_jobs)
    else:
        probs, name = _given_probs(pred_probs, len(y), len(classes), position, table.num_rows), "pred_probs"
    return _confident_learning(ids, position, y, probs, classes, table.num_rows, {**settings, "model": name},
                               extra, rank_by, filter_by)


def _confident_learning(ids: pa.Array, position: NDArray[np.int64], y: NDArray[np.int64],
                        probs: NDArray[np.float64], classes: pa.Array, items: int, settings: dict[str, Any],
                        extra: pa.Table | None, rank_by: RankBy, filter_by: FilterBy) -> LabelErrors:
    from cleanlab.count import estimate_joint  # type: ignore[import-untyped]
    from cleanlab.filter import find_label_issues  # type: ignore[import-untyped]
    from cleanlab.rank import get_label_quality_scores  # type: ignore[import-untyped]

    # n_jobs=1: cleanlab's process pool costs more than it saves below millions of items.
    issues = np.asarray(find_label_issues(labels=y, pred_probs=probs, filter_by=filter_by, n_jobs=1), dtype=bool)
    quality = np.asarray(get_label_quality_scores(y, probs, method=rank_by), dtype=np.float64)
    joint = np.asarray(estimate_joint(labels=y, pred_probs=probs), dtype=np.float64)
    order = np.lexsort((position, quality, ~issues))
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(1, len(y) + 1)
    return LabelErrors(ids, position, y, probs.argmax(axis=1).astype(np.int64), quality, issues, rank, probs,
                       classes, joint, items - len(y), items, settings, extra)


def _as_table(data: Any, columns: list[str]) -> pa.Table:
    """``data`` as an Arrow table of the wanted columns it has."""
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    elif not isinstance(data, pa.Table):
        if hasattr(data, "to_arrow") and hasattr(data, "schema") and hasattr(data, "batches"):  # a Dataset
            data = data.to_arrow([c for c in dict.fromkeys(columns) if c in data.schema.names])
        elif hasattr(data, "to_arrow"):  # polars
            data = data.to_arrow()
        elif hasattr(data, "to_numpy") and hasattr(data, "columns"):  # pandas
            data = pa.Table.from_pandas(data, preserve_index=False)
        elif isinstance(data, Iterable):
            batches = list(data)
            if not batches:
                raise SchemaError("the data has no batches, so no columns; give at least one (empty) batch.")
            data = pa.Table.from_batches(batches)
        else:
            raise ConfigError(f"cannot read labels from a {type(data).__name__}; give a pyarrow Table, a "
                              "datamill Dataset, record batches or a DataFrame.")
    return data.select([c for c in dict.fromkeys(columns) if c in data.column_names])


def _labels(column: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """The label values (ints or strings) and which items have one."""
    values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = values.type
    if pa.types.is_floating(kind):
        raw = values.to_numpy(zero_copy_only=False)
        present = ~np.isnan(raw)
        if np.any(raw[present] != np.round(raw[present])):
            raise SchemaError("the label column holds fractional numbers; labels are classes (integers or names). "
                              "Round or bin them first.")
        return pa.array(np.where(present, raw, 0).astype(np.int64), mask=~present), pa.array(present)
    if pa.types.is_integer(kind):
        values = values.cast(pa.int64())
    elif pa.types.is_boolean(kind):
        pass
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = values.cast(pa.string())
        return values, pc.and_(pc.is_valid(values), pc.not_equal(pc.utf8_trim_whitespace(values), ""))
    else:
        raise SchemaError(f"the label column holds {kind}; labels must be integers, strings or booleans.")
    return values, pc.is_valid(values)


def _check_classes(y: NDArray[np.int64], classes: pa.Array, folds: int, cross_validate: bool) -> None:
    counts = np.bincount(y, minlength=len(classes))
    if len(classes) < 2:
        raise ConfigError(f"every labelled item has the class {classes.to_pylist()[0]!r}: there is nothing to "
                          "confuse it with. Label-error finding needs at least two classes.")
    small = [(c, int(n)) for c, n in zip(classes.to_pylist(), counts, strict=True) if n < folds]
    if small and cross_validate:
        listed = ", ".join(f"{c!r} ({n})" for c, n in small)
        raise ConfigError(f"class {listed} has fewer labelled items than folds={folds}, so a stratified fold "
                          f"cannot hold one of each. Lower folds (at least 2), label more items of that class, "
                          f"or drop the class before looking for label errors.")


def _cross_validated(kept: pa.Table, y: NDArray[np.int64], text_column: str | None, features: list[str],
                     model: Any, folds: int, seed: int, n_jobs: int | None) -> tuple[NDArray[np.float64], str]:
    from sklearn.base import clone  # type: ignore[import-untyped]
    from sklearn.model_selection import StratifiedKFold, cross_val_predict  # type: ignore[import-untyped]

    numeric, categorical = _feature_kinds(kept, features)
    if model is None:
        kind: Literal["text", "tabular", "mixed"] = (
            "text" if not features else "tabular" if text_column is None else "mixed")
        model = default_model(kind, seed=seed, text_column=text_column, numeric=numeric, categorical=categorical,
                              n_classes=int(y.max()) + 1)
    if not hasattr(model, "fit") or not hasattr(model, "predict_proba"):
        raise ConfigError(f"the model ({type(model).__name__}) needs fit and predict_proba; wrap a classifier "
                          "without probabilities in sklearn.calibration.CalibratedClassifierCV.")
    x: Any
    if features:
        x = _feature_frame(kept, text_column, numeric, categorical)
    else:
        assert text_column is not None
        x = np.asarray(pc.fill_null(kept.column(text_column).combine_chunks().cast(pa.string()), "").to_pylist(),
                       dtype=object)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    probs = cross_val_predict(clone(model), x, y, cv=splitter, method="predict_proba", n_jobs=n_jobs)
    return np.asarray(probs, dtype=np.float64), _model_name(model)


def _feature_kinds(kept: pa.Table, features: list[str]) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for name in features:
        kind = kept.schema.field(name).type
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        if (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
                or pa.types.is_temporal(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)):
            numeric.append(name)
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            categorical.append(name)
        else:
            raise SchemaError(f"feature column `{name}` holds {kind}; features must be numbers, booleans, dates "
                              "or strings (categories). Flatten it first, or pass your own model.")
    return numeric, categorical


def _feature_frame(kept: pa.Table, text_column: str | None, numeric: list[str], categorical: list[str]) -> Any:
    """A pandas frame: numbers as float64 (dates as epoch units), strings as categoricals."""
    import pandas as pd

    frame: dict[str, Any] = {}
    for name in numeric:
        column = kept.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_temporal(column.type):
            column = pc.cast(column, pa.int64()) if not pa.types.is_date32(column.type) else pc.cast(
                column, pa.int32())
        frame[name] = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    for name in categorical:
        column = kept.column(name).combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        values = pd.Series(column.cast(pa.string()).to_pylist(), dtype="object")
        top = values.value_counts().index[:_MAX_CATEGORIES]
        if values.nunique() > _MAX_CATEGORIES:
            values = values.where(values.isin(top) | values.isna(), _OTHER)
        frame[name] = pd.Categorical(values, categories=sorted(set(values.dropna())))
    if text_column is not None:
        frame[text_column] = pc.fill_null(kept.column(text_column).combine_chunks().cast(pa.string()),
                                          "").to_pylist()
    return pd.DataFrame(frame)


def _model_name(model: Any) -> str:
    steps = getattr(model, "steps", None)
    if steps:
        return " → ".join(type(step).__name__ for _, step in steps)
    return type(model).__name__


def _given_probs(pred_probs: Any, n: int, k: int, position: NDArray[np.int64], items: int) -> NDArray[np.float64]:
    probs = np.asarray(pred_probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != k or probs.shape[0] not in (n, items):
        raise ConfigError(f"pred_probs has shape {probs.shape}; give one row per item ({items}, or {n} labelled) "
                          f"and one column per class ({k}, sorted).")
    if probs.shape[0] == items and items != n:
        probs = probs[position]
    return probs


def _example() -> LabelErrors:
    words = ["free money now", "win cash prize", "click my channel", "subscribe for cash",
             "lovely song", "great voice", "best video ever", "i love this tune"] * 5
    given = (["spam"] * 4 + ["ham"] * 4) * 5
    given[4] = "spam"
    return find_label_errors(pa.table({"text": words, "label": given}), label_column="label", text_column="text",
                             folds=3)


# ---------------------------------------------------------------------------- the step
class LabelErrorsConfig(StepConfig):
    """What ``label.errors`` reads and how it decides.

    >>> LabelErrorsConfig(label_column="label", text_column="text").folds
    5
    """

    label_column: str = Field(min_length=1, description="The given labels (class names or integers; null: none).")
    text_column: str | None = Field(None, description="A text column the default text model reads.")
    feature_columns: tuple[str, ...] = Field((), description="Columns the default tabular model reads.")
    id_column: str = Field("id", min_length=1, description="The unique id of each row.")
    folds: int = Field(5, ge=2, le=100, description="Stratified cross-validation folds.")
    seed: int = Field(0, description="Seeds the folds and the model.")
    rank_by: RankBy = Field("self_confidence", description="cleanlab's label quality score.")
    filter_by: FilterBy = Field("prune_by_noise_rate", description="cleanlab's rule for flagging an issue.")
    only_issues: bool = Field(False, description="Keep only the flagged rows (the review queue; sort by "
                                                 "issue_rank); other rows are dropped as `not_an_issue`, rows "
                                                 "without a label as `missing_label`.")

    @model_validator(mode="after")
    def _reads_something(self) -> LabelErrorsConfig:
        if self.text_column is None and not self.feature_columns:
            raise ValueError("give text_column or feature_columns (or both): what the model reads")
        return self


@dataclass
class _Rows:
    """The columns the fit needs, gathered from every shard (the fit is global, and says so)."""

    table: pa.Table | None = None


@dataclass
class _Found:
    results: pa.Table  # id, label_quality, label_issue, suggested_label, issue_rank
    label_type: pa.DataType
    summary: str


@register("label.errors")
class LabelErrorsStep(Aggregate[LabelErrorsConfig, _Rows, _Found]):
    """Flag rows whose label is probably wrong (cross-validated model + cleanlab).

    Adds ``label_quality`` (0 … 1), ``label_issue``, ``suggested_label`` and ``issue_rank``
    (1 = likeliest error; null when not flagged) to every row; rows without a label get nulls.
    The summary (counts, estimated noise, confident joint) is in the ``label_quality`` field's
    metadata under ``datamill.label_errors``. Metrics: ``labelled``, ``missing_label``,
    ``issues``, ``estimated_noise_rate``.

    >>> LabelErrorsStep(label_column="label", text_column="text").config.only_issues
    False
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The id, label, text and feature columns."""
        config = self.config
        needed = {config.id_column: "id_column", config.label_column: "label_column"}
        if config.text_column:
            needed[config.text_column] = "text_column"
        needed.update(dict.fromkeys(config.feature_columns, "feature_columns"))
        return needed

    def _columns(self) -> list[str]:
        return list(self.required_columns())

    def partial(self, batches: Any, ctx: StepContext) -> _Rows:
        """Keep the shard's id, label, text and feature columns."""
        columns = self._columns()
        parts = []
        for batch in batches:
            missing = [c for c in columns if c not in batch.schema.names]
            if missing:
                raise SchemaError(f"step {self.label!r}: the input has no column {', '.join(map(repr, missing))}; "
                                  f"it has {', '.join(batch.schema.names)}.")
            parts.append(pa.Table.from_batches([batch.select(columns)]))
        return _Rows(pa.concat_tables(parts, promote_options="default") if parts else None)

    def merge(self, left: _Rows, right: _Rows) -> _Rows:
        """Both shards' rows, in order."""
        if left.table is None:
            return right
        if right.table is None:
            return left
        return _Rows(pa.concat_tables([left.table, right.table], promote_options="default"))

    def finalize(self, state: _Rows) -> _Found:
        """Cross-validate the model and run confident learning on every labelled row."""
        config = self.config
        table = state.table
        id_type = table.schema.field(config.id_column).type if table is not None else pa.string()
        label_type = table.schema.field(config.label_column).type if table is not None else pa.string()
        if table is None or table.num_rows == 0:
            return _Found(_results(pa.array([], id_type), [], [], [], [], label_type), label_type,
                          json.dumps({"items": 0, "labelled": 0, "missing_label": 0, "issues": 0}))
        ids = table.column(config.id_column)
        if ids.null_count:
            raise SchemaError(f"step {self.label!r}: {ids.null_count} row(s) have no `{config.id_column}`; every row "
                              "needs a unique id.")
        if pc.count_distinct(ids).as_py() != table.num_rows:
            raise SchemaError(f"step {self.label!r}: `{config.id_column}` is not unique; the step matches rows by "
                              "id. Deduplicate the ids (or name another id column with id_column).")
        found = find_label_errors(table, label_column=config.label_column, text_column=config.text_column,
                                  feature_columns=config.feature_columns, folds=config.folds, seed=config.seed,
                                  id_column=config.id_column, rank_by=config.rank_by, filter_by=config.filter_by)
        suggested = found.classes.take(pa.array(found.suggested, pa.int64()))
        issue_rank = np.where(found.is_issue, found.rank, 0)
        results = _results(found.ids, found.quality, found.is_issue, suggested, issue_rank, found.classes.type)
        label_type = found.classes.type if len(found.classes) else label_type
        summary = found.summary()
        return _Found(results, label_type, json.dumps(summary, ensure_ascii=False, allow_nan=False))

    def apply(self, batch: pa.RecordBatch, model: _Found, ctx: StepContext) -> Outcome:
        """Add the four columns; with ``only_issues``, keep only the flagged rows."""
        config = self.config
        found = model.results
        where = pc.index_in(batch.column(config.id_column), value_set=found.column("id").combine_chunks())
        labelled = pc.is_valid(where)
        columns = [
            (pa.field(QUALITY, pa.float64(), metadata={SUMMARY_KEY: model.summary}),
             found.column(QUALITY).take(where)),
            (pa.field(ISSUE, pa.bool_()), found.column(ISSUE).take(where)),
            (pa.field(SUGGESTED, model.label_type), found.column(SUGGESTED).take(where).cast(model.label_type)),
            (pa.field(ISSUE_RANK, pa.int64()), found.column(ISSUE_RANK).take(where)),
        ]
        out = batch
        for target, column in columns:
            values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            index = out.schema.get_field_index(target.name)
            out = out.set_column(index, target, values) if index >= 0 else out.append_column(target, values)
        issue = pc.fill_null(out.column(ISSUE), False)
        n_labelled = int(pc.sum(labelled.cast(pa.int64())).as_py() or 0)
        ctx.metric("labelled", n_labelled)
        ctx.metric("missing_label", batch.num_rows - n_labelled)
        ctx.metric("issues", int(pc.sum(issue.cast(pa.int64())).as_py() or 0))
        if ctx.shard_index == 0 and "estimated_noise_rate" not in ctx.metrics:
            ctx.metric("estimated_noise_rate", json.loads(model.summary).get("estimated_noise_rate", 0.0))
        outcome = Outcome(out)
        if config.only_issues:
            outcome = outcome.drop(pc.invert(labelled), reason="missing_label").drop(
                pc.and_(labelled, pc.invert(issue)), reason="not_an_issue")
        return outcome


def _results(ids: pa.Array, quality: Any, issue: Any, suggested: Any, issue_rank: Any,
             label_type: pa.DataType) -> pa.Table:
    rank = np.asarray(issue_rank, dtype=np.int64)
    return pa.table({
        "id": ids,
        QUALITY: pa.array(np.asarray(quality, dtype=np.float64), pa.float64()),
        ISSUE: pa.array(np.asarray(issue, dtype=bool), pa.bool_()),
        SUGGESTED: suggested if isinstance(suggested, pa.Array) else pa.array(suggested, label_type),
        ISSUE_RANK: pa.array(rank, pa.int64(), mask=rank == 0),
    })


# ---------------------------------------------------------------------------- reading the output
def read_summary(schema: pa.Schema) -> dict[str, Any]:
    """The summary ``label.errors`` kept in its output's schema (see `LabelErrors.summary`).

    >>> field = pa.field(QUALITY, pa.float64(), metadata={SUMMARY_KEY: '{"issues": 2}'})
    >>> read_summary(pa.schema([field]))
    {'issues': 2}
    """
    if QUALITY not in schema.names:
        raise SchemaError(f"there is no `{QUALITY}` column; read the output of `label.errors`.")
    metadata = schema.field(QUALITY).metadata or {}
    raw = metadata.get(SUMMARY_KEY.encode())
    if raw is None:
        raise SchemaError(f"`{QUALITY}` carries no summary; was it written by `label.errors`?")
    summary: dict[str, Any] = json.loads(raw)
    return summary


def _read(data: Any, columns: list[str]) -> pa.Table:
    names = data.schema.names
    wanted = [c for c in dict.fromkeys(columns) if c in names]
    if isinstance(data, pa.Table):
        return data.select(wanted)
    return data.to_arrow(wanted)  # type: ignore[no-any-return]


def review_queue(data: Any, *, label_column: str, id_column: str = "id", columns: Sequence[str] = (),
                 top: int | None = 20) -> list[dict[str, Any]]:
    """The flagged rows of a ``label.errors`` output, likeliest error first, as dicts.

    ``data`` is the output (a `Dataset` or a table). Each dict has ``issue_rank``, ``id``,
    ``given_label``, ``suggested_label``, ``label_quality``, then the other ``columns`` asked
    for (the text, features) that the output has.

    >>> out = pa.table({"id": ["a", "b"], "y": ["x", "z"], ISSUE: [False, True], ISSUE_RANK: [None, 1],
    ...                 SUGGESTED: ["x", "x"], QUALITY: [0.9, 0.1]})
    >>> review_queue(out, label_column="y")
    [{'issue_rank': 1, 'id': 'b', 'given_label': 'z', 'suggested_label': 'x', 'label_quality': 0.1}]
    """
    extra = [c for c in columns if c not in (id_column, label_column, ISSUE, ISSUE_RANK, SUGGESTED, QUALITY)]
    table = _read(data, [id_column, label_column, ISSUE, ISSUE_RANK, SUGGESTED, QUALITY, *extra])
    table = table.filter(pc.fill_null(table.column(ISSUE), False)).sort_by(ISSUE_RANK)
    if top is not None:
        table = table.slice(0, top)
    names = table.column_names
    rows = []
    for row in table.to_pylist():
        item = {"issue_rank": row[ISSUE_RANK], "id": row.get(id_column), "given_label": row.get(label_column),
                "suggested_label": row[SUGGESTED], "label_quality": row[QUALITY]}
        item.update({c: row[c] for c in extra if c in names})
        rows.append(item)
    return rows


def _label_key(value: Any) -> str | None:
    """A label as comparable text: ``1``, ``1.0`` and ``"1"`` are the same class."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value == round(value):
        value = int(value)
    text = str(value).strip()
    return text or None


def labels_differ(given: Any, gold: Any) -> NDArray[np.bool_]:
    """Where both labels are known and differ (ints, floats and their text compare as classes).

    >>> labels_differ(["1", "0", None, "1"], [1, 1, 0, 1.0]).tolist()
    [False, True, False, False]
    """
    a = given.to_pylist() if hasattr(given, "to_pylist") else list(given)
    b = gold.to_pylist() if hasattr(gold, "to_pylist") else list(gold)
    if len(a) != len(b):
        raise ConfigError(f"{len(a)} given labels and {len(b)} gold labels; give one of each per item.")
    out = np.zeros(len(a), dtype=bool)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        kx, ky = _label_key(x), _label_key(y)
        out[i] = kx is not None and ky is not None and kx != ky
    return out


def gold_report(data: Any, *, label_column: str, gold_column: str) -> dict[str, Any]:
    """Precision and recall of a ``label.errors`` output's flagged rows against gold labels.

    A row counts as *wrong* when its given label and its gold label are both known and differ;
    rows without either are left out (``gold_items`` counts the rest).

    >>> out = pa.table({"y": ["a", "b", "b"], "gold": ["a", "a", "b"], ISSUE: [False, True, True]})
    >>> r = gold_report(out, label_column="y", gold_column="gold")
    >>> r["precision"], r["recall"], r["gold_items"]
    (0.5, 1.0, 3)
    """
    if gold_column not in data.schema.names:
        raise SchemaError(f"there is no gold column `{gold_column}`; the data has {', '.join(data.schema.names)}.")
    table = _read(data, [label_column, gold_column, ISSUE])
    given, gold = table.column(label_column), table.column(gold_column)
    known = np.array([_label_key(x) is not None and _label_key(y) is not None
                      for x, y in zip(given.to_pylist(), gold.to_pylist(), strict=True)], dtype=bool)
    flagged = pc.fill_null(table.column(ISSUE), False).to_numpy(zero_copy_only=False).astype(bool)
    return {"gold_column": gold_column, "gold_items": int(known.sum()),
            **issue_precision_recall(flagged & known, labels_differ(given, gold))}
