"""``label.aggregate``: one label per row from the votes ``label.apply`` added.

An Aggregate: each shard's pass counts its distinct vote patterns (:class:`VoteCounts`, a few
kilobytes however many rows), the counts of all shards merge, ``finalize`` fits the chosen
method on them, and the second pass adds to every row its label, the class probabilities and
the confidence. The same rows get the same labels on one core, a process pool or Ray.

Methods: ``mv`` (majority vote; ``tie_break``), ``ds`` (Dawid–Skene on the votes), ``model``
(:func:`~datamill.label.label_model`: the label model for LFs that abstain, with class balance
and correlated LFs). Rows no LF voted on get no label: they are dropped with reason
``uncovered`` unless ``keep_uncovered``, when their label is null. With ``gold_column``, the
step counts how many rows with a gold label it got right (metrics ``gold_items``,
``gold_correct``, ``gold_covered``, ``gold_covered_correct``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import Field

from datamill.core.errors import ConfigError, SchemaError
from datamill.label.aggregate import TieBreak, dawid_skene, majority_vote
from datamill.label.apply import LABEL_CLASSES_KEY, votes_array
from datamill.label.label_model import LabelModel, VoteCounts
from datamill.label.matrix import ABSTAIN, LabelMatrix
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = ["LabelAggregate", "LabelAggregateConfig", "gold_indices"]

Method = Literal["mv", "ds", "model"]
_METHOD_NAMES = {"mv": "majority_vote", "ds": "dawid_skene", "model": "label_model"}


class LabelAggregateConfig(StepConfig):
    method: Method = Field("model", description="mv (majority vote), ds (Dawid–Skene) or model (the label model).")
    votes_column: str = Field("votes", min_length=1, description="The votes column `label.apply` added.")
    label_column: str = Field("weak_label", min_length=1, description="The column of chosen classes to add.")
    probs_column: str | None = Field("weak_label_probs", description="A column of class probabilities (unset: none).")
    confidence_column: str | None = Field("weak_label_confidence",
                                          description="A column with the chosen class's probability (unset: none).")
    keep_uncovered: bool = Field(False, description="Keep rows no LF voted on (label null); by default they are "
                                 "dropped with reason `uncovered`.")
    tie_break: TieBreak = Field("abstain", description="mv only: abstain, lowest or random (seeded).")
    gold_column: str | None = Field(None, description="A column of true labels (class index or name; null where "
                                    "unknown) to count accuracy against.")
    class_balance: list[float] | None = Field(None, description="model only: fix the class shares instead of "
                                              "learning them.")
    smoothing: float = Field(1.0, ge=0, description="ds, and model with estimator em: pseudo-count added to "
                             "every estimated cell.")
    estimator: Literal["moments", "em"] = Field("moments", description="model only: moments (abstaining is no "
                                                "evidence, as in Snorkel) or em (abstaining is evidence).")
    l2: float = Field(0.1, ge=0, description="model with estimator moments: pull toward the starting accuracies.")


@dataclass
class _State:
    counts: VoteCounts | None = None
    names: list[str] | None = None
    classes: tuple[str, ...] | None = None


@dataclass
class _Fitted:
    method: str
    n_classes: int
    classes: tuple[str, ...] | None
    model: LabelModel | None = None
    priors: NDArray[np.float64] | None = None
    confusions: NDArray[np.float64] | None = None
    summary: dict[str, float] = field(default_factory=dict)


def gold_indices(values: pa.Array, classes: tuple[str, ...] | None, n_classes: int) -> NDArray[np.int64]:
    """Gold labels as class indices (-1 where unknown): ints as they are, names through ``classes``.

    >>> gold_indices(pa.array(["spam", None, "ham"]), ("ham", "spam"), 2).tolist()
    [1, -1, 0]
    """
    out = np.full(len(values), ABSTAIN, dtype=np.int64)
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        raw = pc.fill_null(pc.cast(values, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        ok = np.isfinite(raw) & (raw >= 0) & (raw < n_classes) & (raw == np.round(raw))
        out[ok] = raw[ok].astype(np.int64)
        return out
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        index = {name: i for i, name in enumerate(classes or ())}
        for i, value in enumerate(values.to_pylist()):
            if value is None:
                continue
            if value in index:
                out[i] = index[value]
            elif value.strip().lstrip("-").isdigit() and 0 <= int(value) < n_classes:
                out[i] = int(value)
        return out
    raise SchemaError(f"the gold column holds {values.type}; give class indices or class names.")


@register("label.aggregate")
class LabelAggregate(Aggregate[LabelAggregateConfig, _State, _Fitted]):
    """Turn each row's LF votes into a label, class probabilities and a confidence.

    Metrics: ``covered``, ``uncovered``, ``labelled`` and, with ``gold_column``, the gold counts.

    >>> LabelAggregate(method="mv").config.label_column
    'weak_label'
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The votes column (and the gold column when given)."""
        needed = {self.config.votes_column: "votes_column"}
        if self.config.gold_column:
            needed[self.config.gold_column] = "gold_column"
        return needed

    def partial(self, batches: Any, ctx: StepContext) -> _State:
        """Count the shard's distinct vote patterns."""
        state = _State()
        for batch in batches:
            dense, names, classes = votes_array(batch, self.config.votes_column)
            state = self.merge(state, _State(VoteCounts.of(dense, n_classes=_width(dense, classes)), names, classes))
        return state

    def merge(self, left: _State, right: _State) -> _State:
        """Add the pattern counts (the LFs must be the same)."""
        if left.counts is None:
            return right
        if right.counts is None:
            return left
        if left.names != right.names or left.counts.n_sources != right.counts.n_sources:
            raise SchemaError(f"step {self.label!r}: the votes come from different LFs in different parts of the "
                              f"input ({left.names} and {right.names}); label them with one LF file.")
        k = max(left.counts.n_classes, right.counts.n_classes)
        a, b = _widen(left.counts, k), _widen(right.counts, k)
        return _State(a.merge(b), left.names, left.classes or right.classes)

    def finalize(self, state: _State) -> _Fitted:
        """Fit the method on the merged counts."""
        config = self.config
        counts = state.counts
        classes = state.classes
        k = len(classes) if classes is not None else max(counts.n_classes if counts is not None else 0, 2)
        if config.class_balance is not None and len(config.class_balance) != k:
            raise ConfigError(f"step {self.label!r}: `class_balance` gives {len(config.class_balance)} shares for "
                              f"{k} classes.")
        fitted = _Fitted(config.method, k, classes)
        if counts is None or counts.n_items == 0:
            return fitted
        counts = _widen(counts, k)
        if config.method == "model":
            fitted.model = LabelModel.fit_counts(counts, class_balance=config.class_balance,
                                                 smoothing=config.smoothing, estimator=config.estimator,
                                                 l2=config.l2)
            fitted.summary = {f"class_prior.{_class_name(classes, c)}": float(p)
                              for c, p in enumerate(fitted.model.class_priors)}
        elif config.method == "ds":
            # Dawid–Skene reads items one by one: expand the counted patterns (global, and says so)
            dense = np.repeat(counts.patterns, counts.counts, axis=0)
            result = dawid_skene(LabelMatrix.from_dense(dense, n_classes=k), smoothing=config.smoothing)
            fitted.priors, fitted.confusions = result.class_priors, result.confusions
            fitted.summary = {f"class_prior.{_class_name(classes, c)}": float(p)
                              for c, p in enumerate(result.class_priors)}
        return fitted

    def output_metrics(self, model: _Fitted) -> dict[str, float]:
        """The fitted class balance."""
        return dict(model.summary)

    def apply(self, batch: pa.RecordBatch, model: _Fitted, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Add label, probabilities and confidence; drop uncovered rows unless kept."""
        config = self.config
        dense, _, classes = votes_array(batch, config.votes_column)
        k = model.n_classes
        if dense.size and dense.max() >= k:
            raise SchemaError(f"step {self.label!r}: a vote is {int(dense.max())}, outside the {k} classes.")
        probs, labels = self._predict(dense, model, ctx)
        covered = (dense >= 0).any(axis=1)
        labelled = labels >= 0
        confidence = np.where(labelled, probs[np.arange(len(labels)), np.maximum(labels, 0)], 0.0) \
            if len(labels) else np.zeros(0)
        meta = {LABEL_CLASSES_KEY: _json_classes(model.classes), "datamill.method": _METHOD_NAMES[model.method]}
        kind = pa.int8() if k <= 127 else pa.int16()
        columns: list[tuple[pa.Field, pa.Array]] = [
            (pa.field(config.label_column, kind, metadata=meta), pa.array(labels, kind, mask=~labelled))]
        if config.probs_column:
            values = pa.array(probs.astype(np.float32).reshape(-1), pa.float32())
            columns.append((pa.field(config.probs_column, pa.list_(pa.float32(), k), metadata=meta),
                            pa.FixedSizeListArray.from_arrays(values, k)))
        if config.confidence_column:
            columns.append((pa.field(config.confidence_column, pa.float32()),
                            pa.array(confidence.astype(np.float32), pa.float32(), mask=~labelled)))
        out = batch
        for target, column in columns:
            index = out.schema.get_field_index(target.name)
            out = out.set_column(index, target, column) if index >= 0 else out.append_column(target, column)
        ctx.metric("covered", float(covered.sum()))
        ctx.metric("uncovered", float((~covered).sum()))
        ctx.metric("labelled", float(labelled.sum()))
        if config.gold_column:
            if config.gold_column not in batch.schema.names:
                raise SchemaError(f"step {self.label!r}: there is no gold column `{config.gold_column}`; the input "
                                  f"has {', '.join(batch.schema.names)}.")
            gold = gold_indices(batch.column(config.gold_column), classes or model.classes, k)
            known = gold >= 0
            right = known & (labels == gold)
            ctx.metric("gold_items", float(known.sum()))
            ctx.metric("gold_correct", float(right.sum()))
            ctx.metric("gold_covered", float((known & covered).sum()))
            ctx.metric("gold_covered_correct", float((right & covered).sum()))
        if config.keep_uncovered:
            return out
        return Outcome(out).drop(~covered, reason="uncovered")

    def _predict(self, dense: NDArray[np.int16], model: _Fitted,
                 ctx: StepContext) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        k, n = model.n_classes, len(dense)
        if model.method == "model" and model.model is not None:
            result = model.model.predict(dense)
            return result.probs, result.labels
        if model.method == "ds" and model.confusions is not None and model.priors is not None:
            return _ds_posterior(dense, model.priors, model.confusions)
        if model.method in ("model", "ds"):  # nothing to fit on: no votes anywhere
            return np.full((n, k), 1.0 / k), np.full(n, ABSTAIN, dtype=np.int64)
        matrix = LabelMatrix.from_dense(dense, n_classes=k)
        seed = ctx.seed * 1_000_003 + ctx.shard_index
        voted = majority_vote(matrix, tie_break=self.config.tie_break, seed=seed)
        return voted.probs, voted.labels


def _ds_posterior(dense: NDArray[np.int16], priors: NDArray[np.float64],
                  confusions: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Dawid–Skene's posterior of each row from fitted priors and confusions."""
    n, m = dense.shape
    log_conf = np.log(np.maximum(confusions, np.finfo(np.float64).tiny))  # (m, true, given)
    joint = np.tile(np.log(np.maximum(priors, np.finfo(np.float64).tiny)), (n, 1))
    for s in range(m):
        voted = dense[:, s] >= 0
        joint[voted] += log_conf[s][:, dense[voted, s]].T
    joint -= joint.max(axis=1, keepdims=True) if n else 0
    probs = np.exp(joint)
    probs /= probs.sum(axis=1, keepdims=True) if n else 1
    covered = (dense >= 0).any(axis=1)
    labels = np.where(covered, probs.argmax(axis=1) if n else 0, ABSTAIN).astype(np.int64)
    return probs, labels


def _width(dense: NDArray[np.int16], classes: tuple[str, ...] | None) -> int:
    top = int(dense.max()) + 1 if dense.size else 0
    return max(len(classes) if classes is not None else 0, top, 2)


def _widen(counts: VoteCounts, k: int) -> VoteCounts:
    return counts if counts.n_classes == k else VoteCounts(counts.patterns, counts.counts, k)


def _class_name(classes: tuple[str, ...] | None, index: int) -> str:
    return classes[index] if classes is not None else str(index)


def _json_classes(classes: tuple[str, ...] | None) -> str:
    import json

    return json.dumps(list(classes) if classes is not None else None)
