"""The label matrix: votes of sources (labelling functions or human raters) on items.

A vote is a class index in ``0..n_classes-1``; :data:`ABSTAIN` (``-1``) is no vote, whether a
labelling function abstained or a rater never saw the item. The matrix is stored sparse, as
three parallel arrays sorted by item then source, so a crowd of thousands of raters who each
saw a few items costs memory by the vote, not by the cell. ``to_dense()`` gives the
``items × sources`` view.

>>> votes = LabelMatrix.from_dense([[0, 0, -1], [1, -1, 1], [-1, -1, -1]])
>>> votes
LabelMatrix(n_items=3, n_sources=3, n_classes=2, n_votes=4)
>>> votes.to_dense().tolist()
[[0, 0, -1], [1, -1, 1], [-1, -1, -1]]
>>> votes.covered.tolist()
[True, True, False]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from datamill.core.errors import ConfigError

__all__ = ["ABSTAIN", "LabelMatrix", "as_label_matrix"]

ABSTAIN: Final = -1
"""The vote of a source that abstained, or of a rater who did not label the item."""

_INT32_MAX = np.iinfo(np.int32).max


def _index_dtype(bound: int) -> type[np.signedinteger[Any]]:
    # int32 halves the memory of 1M items x 20 sources; int64 only when an index needs it
    return np.int32 if bound <= _INT32_MAX else np.int64


def _as_int_array(values: ArrayLike, name: str, *, ndim: int) -> NDArray[np.int64]:
    """Integers as int64; floats must be whole numbers, and NaN reads as ABSTAIN."""
    array = np.asarray(values)
    if array.ndim != ndim:
        shape = "items × sources" if ndim == 2 else "one value per entry"
        raise ConfigError(f"`{name}` must be a {ndim}-D array ({shape}), got shape {array.shape}.")
    if array.dtype.kind == "b":
        raise ConfigError(f"`{name}` holds booleans; pass class indices (0, 1, …) and -1 for no vote.")
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f":
        missing = np.isnan(array)
        whole = np.where(missing, ABSTAIN, array)
        if not np.all(np.isfinite(whole)) or not np.all(whole == np.round(whole)):
            bad = float(array[~missing & ((~np.isfinite(whole)) | (whole != np.round(whole)))][0])
            raise ConfigError(f"`{name}` must hold class indices; got the non-integer {bad!r}. "
                              "Map class names to 0..n_classes-1 first.")
        return whole.astype(np.int64)
    if array.size == 0:
        return array.astype(np.int64)
    raise ConfigError(f"`{name}` must hold integer class indices (-1 or NaN for no vote), got dtype {array.dtype}. "
                      "Map class names to 0..n_classes-1 first.")


def _class_count(labels: NDArray[np.int64], n_classes: int | None, class_names: Sequence[str] | None) -> int:
    if class_names is not None:
        if n_classes is not None and n_classes != len(class_names):
            raise ConfigError(f"`n_classes` is {n_classes} but `class_names` names {len(class_names)} classes; "
                              "pass one of them.")
        n_classes = len(class_names)
    top = int(labels.max()) if labels.size else ABSTAIN
    if n_classes is None:
        return top + 1
    if n_classes < 1:
        raise ConfigError(f"`n_classes` must be at least 1, got {n_classes}.")
    if top >= n_classes:
        raise ConfigError(f"a vote is {top}, outside the classes 0..{n_classes - 1}; "
                          f"pass `n_classes={top + 1}` or fix the vote.")
    return n_classes


@dataclass(frozen=True, eq=False, repr=False)
class LabelMatrix:
    """Votes of ``n_sources`` sources on ``n_items`` items, over ``n_classes`` classes.

    Build one with :meth:`from_dense` or :meth:`from_long`; the constructor checks the
    stored form (votes sorted by item then source, one vote per pair, no abstains).

    Attributes:
        items, sources, labels: one entry per vote, sorted by ``(item, source)``.
        n_items, n_sources, n_classes: the matrix's shape; items and sources with no vote count.
        class_names, source_names: optional names, one per class / source.
    """

    items: NDArray[np.signedinteger[Any]]
    sources: NDArray[np.signedinteger[Any]]
    labels: NDArray[np.signedinteger[Any]]
    n_items: int
    n_sources: int
    n_classes: int
    class_names: tuple[str, ...] | None = None
    source_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not (len(self.items) == len(self.sources) == len(self.labels)):
            raise ConfigError(f"`items`, `sources` and `labels` must have one entry per vote; got lengths "
                              f"{len(self.items)}, {len(self.sources)}, {len(self.labels)}.")
        if self.n_items < 0 or self.n_sources < 0 or self.n_classes < 0:
            raise ConfigError(f"a label matrix's shape must not be negative, got n_items={self.n_items}, "
                              f"n_sources={self.n_sources}, n_classes={self.n_classes}.")
        for name, values, bound in (("items", self.items, self.n_items), ("sources", self.sources, self.n_sources),
                                    ("labels", self.labels, self.n_classes)):
            if values.ndim != 1 or values.dtype.kind != "i":
                raise ConfigError(f"`{name}` must be a 1-D signed integer array, got {values.dtype} {values.shape}.")
            if values.size and (values.min() < 0 or values.max() >= bound):
                raise ConfigError(f"`{name}` must lie in 0..{bound - 1}, got values from {values.min()} to "
                                  f"{values.max()}. Build the matrix with `LabelMatrix.from_long`, which "
                                  "drops abstains and infers the shape.")
        if self.items.size > 1:
            key = self.items.astype(np.int64) * max(self.n_sources, 1) + self.sources
            if not np.all(key[1:] > key[:-1]):
                raise ConfigError("votes must be sorted by (item, source) with one vote per pair; "
                                  "`LabelMatrix.from_long` sorts them and names any repeated pair.")
        for name, names, count in (("class_names", self.class_names, self.n_classes),
                                   ("source_names", self.source_names, self.n_sources)):
            if names is not None and len(names) != count:
                what = "classes" if name == "class_names" else "sources"
                raise ConfigError(f"`{name}` has {len(names)} names for {count} {what}.")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dense(
        cls,
        votes: ArrayLike,
        *,
        n_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        source_names: Sequence[str] | None = None,
    ) -> LabelMatrix:
        """A matrix from an ``items × sources`` array: a class index per cell, -1 (or NaN) for none.

        ``n_classes`` defaults to ``len(class_names)``, else one more than the largest vote.

        >>> LabelMatrix.from_dense([[0, 2], [-1, 1]]).n_classes
        3
        >>> LabelMatrix.from_dense([[0.0, float("nan")]], n_classes=2).labels.tolist()
        [0]
        """
        dense = _as_int_array(votes, "votes", ndim=2)
        n_items, n_sources = dense.shape
        if dense.size and dense.min() < ABSTAIN:
            item, source = np.argwhere(dense < ABSTAIN)[0]
            raise ConfigError(f"votes must be class indices or -1 (abstain); got {dense[item, source]} at item "
                              f"{item}, source {source}.")
        flat = np.flatnonzero(dense.ravel() >= 0)  # row-major, so already sorted by (item, source)
        labels = dense.ravel()[flat]
        k = _class_count(labels, n_classes, class_names)
        index = _index_dtype(max(n_items, n_sources))
        return cls(
            items=(flat // max(n_sources, 1)).astype(index),
            sources=(flat % max(n_sources, 1)).astype(index),
            labels=labels.astype(_index_dtype(k)),
            n_items=n_items,
            n_sources=n_sources,
            n_classes=k,
            class_names=tuple(class_names) if class_names is not None else None,
            source_names=tuple(source_names) if source_names is not None else None,
        )

    @classmethod
    def from_long(
        cls,
        items: ArrayLike,
        sources: ArrayLike,
        labels: ArrayLike,
        n_items: int | None = None,
        n_sources: int | None = None,
        *,
        n_classes: int | None = None,
        class_names: Sequence[str] | None = None,
        source_names: Sequence[str] | None = None,
    ) -> LabelMatrix:
        """A matrix from one row per vote: ``(item index, source index, label)``, in any order.

        Votes of -1 are dropped (an explicit abstain is no vote). A source may vote once per
        item. Shapes default to one more than the largest index seen (``n_sources`` to
        ``len(source_names)`` when names are given).

        >>> m = LabelMatrix.from_long([2, 0, 0], [0, 1, 0], [1, 0, -1], n_items=4)
        >>> m.to_dense().tolist()
        [[-1, 0], [-1, -1], [1, -1], [-1, -1]]
        """
        item = _as_int_array(items, "items", ndim=1)
        source = _as_int_array(sources, "sources", ndim=1)
        label = _as_int_array(labels, "labels", ndim=1)
        if not (len(item) == len(source) == len(label)):
            raise ConfigError(f"`items`, `sources` and `labels` must have one entry per vote; got lengths "
                              f"{len(item)}, {len(source)}, {len(label)}.")
        for name, values in (("items", item), ("sources", source)):
            if values.size and values.min() < 0:
                raise ConfigError(f"`{name}` must be indices from 0, got {values.min()}.")
        if label.size and label.min() < ABSTAIN:
            raise ConfigError(f"`labels` must be class indices or -1 (abstain), got {label.min()}.")
        if source_names is not None and n_sources is None:
            n_sources = len(source_names)
        n_items = _shape(item, n_items, "n_items", "items")
        n_sources = _shape(source, n_sources, "n_sources", "sources")
        keep = label >= 0
        item, source, label = item[keep], source[keep], label[keep]
        key = item * max(n_sources, 1) + source
        if key.size > 1 and not np.all(key[1:] > key[:-1]):
            order = np.argsort(key, kind="stable")
            item, source, label, key = item[order], source[order], label[order], key[order]
            repeated = np.flatnonzero(key[1:] == key[:-1])
            if repeated.size:
                at = repeated[0]
                raise ConfigError(f"source {source[at]} votes more than once on item {item[at]} "
                                  f"(labels {label[at]} and {label[at + 1]}); keep one vote per (item, source), "
                                  "e.g. the latest.")
        k = _class_count(label, n_classes, class_names)
        index = _index_dtype(max(n_items, n_sources))
        return cls(
            items=item.astype(index),
            sources=source.astype(index),
            labels=label.astype(_index_dtype(k)),
            n_items=n_items,
            n_sources=n_sources,
            n_classes=k,
            class_names=tuple(class_names) if class_names is not None else None,
            source_names=tuple(source_names) if source_names is not None else None,
        )

    # ------------------------------------------------------------------ views
    @property
    def n_votes(self) -> int:
        """The number of votes (non-abstain cells)."""
        return len(self.labels)

    @property
    def votes_per_item(self) -> NDArray[np.int64]:
        """How many sources voted on each item."""
        return np.bincount(self.items, minlength=self.n_items).astype(np.int64)

    @property
    def covered(self) -> NDArray[np.bool_]:
        """True for items with at least one vote."""
        covered = np.zeros(self.n_items, dtype=bool)
        covered[self.items] = True
        return covered

    def class_counts(self) -> NDArray[np.int64]:
        """The ``items × classes`` table of how many sources gave each item each class.

        This is the table Fleiss' kappa and Krippendorff's alpha start from (statsmodels'
        ``aggregate_raters`` output).

        >>> LabelMatrix.from_dense([[0, 1, 1], [2, -1, 2]]).class_counts().tolist()
        [[1, 2, 0], [0, 0, 2]]
        """
        flat = self.items.astype(np.int64) * self.n_classes + self.labels
        return np.bincount(flat, minlength=self.n_items * self.n_classes).reshape(self.n_items, self.n_classes)

    def to_dense(self, dtype: DTypeLike | None = None) -> NDArray[np.signedinteger[Any]]:
        """The ``items × sources`` array, -1 where a source did not vote.

        The default dtype is the smallest signed integer that holds every class (``int8`` up to
        127 classes), so 1M items × 20 sources take 20 MB.
        """
        if dtype is None:
            dtype = next(t for t in (np.int8, np.int16, np.int32, np.int64) if self.n_classes <= np.iinfo(t).max)
        dense = np.full((self.n_items, self.n_sources), ABSTAIN, dtype=dtype)
        dense[self.items, self.sources] = self.labels
        return dense

    def __repr__(self) -> str:
        return (f"LabelMatrix(n_items={self.n_items}, n_sources={self.n_sources}, n_classes={self.n_classes}, "
                f"n_votes={self.n_votes})")


def _shape(index: NDArray[np.int64], given: int | None, name: str, what: str) -> int:
    seen = int(index.max()) + 1 if index.size else 0
    if given is None:
        return seen
    if given < seen:
        raise ConfigError(f"`{name}` is {given} but `{what}` holds index {seen - 1}; pass `{name}={seen}` or more.")
    return given


def as_label_matrix(ratings: LabelMatrix | ArrayLike, *, n_classes: int | None = None) -> LabelMatrix:
    """``ratings`` itself when it is a :class:`LabelMatrix`, else ``LabelMatrix.from_dense(ratings)``.

    Lets every function take a dense ``items × sources`` array too.
    """
    if isinstance(ratings, LabelMatrix):
        if n_classes is not None and n_classes != ratings.n_classes:
            raise ConfigError(f"`n_classes` is {n_classes} but the label matrix has {ratings.n_classes} classes.")
        return ratings
    return LabelMatrix.from_dense(ratings, n_classes=n_classes)
