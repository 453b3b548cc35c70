"""Applying labelling functions: the ``label.apply`` step and :func:`apply_lfs`.

``label.apply`` adds one column, ``votes``, holding one vote per LF for each row as a
``fixed_size_list<int8>`` (``int16`` past 127 classes), -1 where the LF abstained. The column's
field metadata names the LFs (``datamill.lf_names``), the classes (``datamill.label_classes``)
and the LF file's hash (``datamill.lfs_sha256``), so a version of the dataset *is* its label
matrix: :func:`votes_matrix` reads it back.

Why dense and fixed-size rather than sparse (item, source, label) lists: a row's votes cost one
byte per LF in memory (20 LFs: 20 bytes, against 8 bytes of list offsets plus 3 bytes per vote
for a sparse pair of lists, which only wins below about 2 votes per row out of 20), the values
buffer of a batch *is* the ``items × LFs`` matrix with no per-row work, and in Parquet the long
runs of -1 are dictionary- and run-length-encoded to a few bits each, so on disk it is sparse
anyway. :class:`~datamill.label.LabelMatrix` (sparse in memory) is built from it in one pass.

LFs come from a Python file (``lfs: my_lfs.py``, relative to the pipeline file): every
:class:`~datamill.label.lf.LabelingFunction` defined at its top level, in order, or the list
``LFS`` when the file defines one. ``LABELS = ["ham", "spam"]`` in the file is the label schema.
The file's sha256 is part of the step's cache key, and each worker process imports the file
itself (LFs are rebuilt, never pickled). A row on which an LF raises is quarantined (reason
``lf_error``) with every failing LF's name and error: an exception is never an abstain.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from pydantic import Field

from datamill.core.errors import ConfigError, PipelineError, SchemaError
from datamill.label.lf import BatchView, LabelingFunction, LFVotes, functions_in_file
from datamill.label.matrix import ABSTAIN, LabelMatrix
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register
from datamill.pipeline.registry import base_dir

__all__ = [
    "LABEL_CLASSES_KEY",
    "LFS_SHA256_KEY",
    "LF_NAMES_KEY",
    "LFSet",
    "LabelApply",
    "LabelApplyConfig",
    "apply_lfs",
    "load_lfs",
    "votes_matrix",
]

LF_NAMES_KEY = "datamill.lf_names"
LABEL_CLASSES_KEY = "datamill.label_classes"
LFS_SHA256_KEY = "datamill.lfs_sha256"
LF_ERROR = "lf_error"


@dataclass(frozen=True)
class LFSet:
    """The LFs of one file, the label schema and the file's sha256."""

    lfs: tuple[LabelingFunction, ...]
    labels: tuple[str, ...] | None
    sha256: str | None = None

    @classmethod
    def of(cls, lfs: Iterable[LabelingFunction], labels: Sequence[str] | None = None, *,
           sha256: str | None = None, where: str = "apply_lfs") -> LFSet:
        """Check names are unique and every LF shares one schema."""
        items = tuple(lfs)
        if not items:
            raise ConfigError(f"{where}: no labelling functions were given.")
        for lf in items:
            if not isinstance(lf, LabelingFunction):
                raise ConfigError(f"{where}: {lf!r} is not a labelling function; decorate it with "
                                  "`@labeling_function` or use one of KeywordLF, RegexLF, ExprLF, ...")
        seen: dict[str, int] = {}
        for lf in items:
            seen[lf.name] = seen.get(lf.name, 0) + 1
        repeated = [n for n, c in seen.items() if c > 1]
        if repeated:
            raise ConfigError(f"{where}: two LFs are named {repeated[0]!r}; LF names must be unique "
                              "(they name the columns of the label matrix).")
        schema = tuple(labels) if labels is not None else None
        for lf in items:
            if lf.labels is None:
                continue
            if schema is None:
                schema = lf.labels
            elif lf.labels != schema:
                raise ConfigError(f"{where}: LF {lf.name!r} uses the classes {list(lf.labels)}, but the label "
                                  f"schema is {list(schema)}; use one schema (LABELS in the LF file).")
        return cls(items, schema, sha256)

    @property
    def names(self) -> list[str]:
        """The LF names, in column order."""
        return [lf.name for lf in self.lfs]

    def votes(self, batch: pa.RecordBatch) -> tuple[NDArray[np.int16], dict[int, list[str]]]:
        """``rows × LFs`` votes and, per failing row, the errors of every LF that failed on it."""
        view = BatchView(batch)
        dense = np.full((batch.num_rows, len(self.lfs)), ABSTAIN, dtype=np.int16)
        errors: dict[int, list[str]] = {}
        for j, lf in enumerate(self.lfs):
            result: LFVotes = lf._vote(view, lf._schema(self.labels))
            dense[:, j] = result.votes
            for row, message in result.errors.items():
                errors.setdefault(row, []).append(message)
        for row in errors:
            dense[row] = ABSTAIN
        return dense, errors


def load_lfs(path: str | Path, *, labels: Sequence[str] | None = None) -> LFSet:
    """The LFs defined in a Python file (``LFS`` if it defines that list, else every LF at top level).

    ``LABELS`` in the file is the label schema, unless ``labels`` is given.
    """
    module, found = functions_in_file(path, LabelingFunction, "LFS", "labelling function",
                                      "decorate functions with `@labeling_function` (from datamill.label) or "
                                      "define KeywordLF(...) objects.")
    file = Path(path)
    schema = labels if labels is not None else module.__dict__.get("LABELS")
    if schema is not None and (isinstance(schema, str) or not all(isinstance(c, str) for c in schema)):
        raise ConfigError(f"{str(file)!r}: `LABELS` must be a list of class names, got {schema!r}.")
    return LFSet.of(found, schema, sha256=module.__datamill_code_hash__, where=str(file))


def _vote_type(labels: Sequence[str] | None, dense: NDArray[np.int16] | None = None) -> pa.DataType:
    top = len(labels) - 1 if labels is not None else (int(dense.max()) if dense is not None and dense.size else 0)
    return pa.int8() if top <= 127 else pa.int16()


def votes_field(name: str, lfset: LFSet, kind: pa.DataType) -> pa.Field:
    """The votes column's field: one vote per LF, and the LFs' names in its metadata."""
    meta = {LF_NAMES_KEY: json.dumps(lfset.names)}
    if lfset.labels is not None:
        meta[LABEL_CLASSES_KEY] = json.dumps(list(lfset.labels))
    if lfset.sha256:
        meta[LFS_SHA256_KEY] = lfset.sha256
    return pa.field(name, pa.list_(kind, len(lfset.lfs)), metadata=meta)


class LabelApplyConfig(StepConfig):
    lfs: str = Field(description="A Python file defining labelling functions (relative to the pipeline file).")
    output_column: str = Field("votes", min_length=1, description="The column of votes to add (one per LF).")
    labels: list[str] | None = Field(None, min_length=2, description="The class names, when the LF file's "
                                     "`LABELS` does not give them.")


@register("label.apply")
class LabelApply(Transform[LabelApplyConfig]):
    """Run labelling functions over each row and add their votes as one column.

    A row on which any LF raises (or returns something that is no class) is quarantined with
    reason ``lf_error`` and every failing LF's error. Metrics: ``covered`` (rows with at least one
    vote), ``votes`` (all votes), and ``votes.<lf>`` per LF.

    >>> LabelApplyConfig(lfs="lfs.py").output_column
    'votes'
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        path = Path(self.config.lfs).expanduser()
        self._path = path if path.is_absolute() else base_dir() / path
        self._lfset = load_lfs(self._path, labels=self.config.labels)

    def code_hashes(self) -> list[str]:
        """The LF file's sha256: editing an LF re-runs the step."""
        return [self._lfset.sha256] if self._lfset.sha256 else []

    def output_schema(self, input_schemas: list[pa.Schema]) -> pa.Schema | None:
        """The input's columns plus the votes column."""
        if not input_schemas:
            return None
        field = votes_field(self.config.output_column, self._lfset, _vote_type(self._lfset.labels))
        schema = input_schemas[0]
        index = schema.get_field_index(field.name)
        return schema.set(index, field) if index >= 0 else schema.append(field)

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Vote with every LF; quarantine the rows where one failed."""
        lfset = self._lfset
        dense, errors = lfset.votes(batch)
        kind = _vote_type(lfset.labels, dense)
        values = pa.array(dense.reshape(-1).astype(np.int8 if kind == pa.int8() else np.int16), kind)
        column = pa.FixedSizeListArray.from_arrays(values, len(lfset.lfs))
        field = votes_field(self.config.output_column, lfset, kind)
        index = batch.schema.get_field_index(field.name)
        out = batch.set_column(index, field, column) if index >= 0 else batch.append_column(field, column)
        fired = dense >= 0
        ctx.metric("covered", float(fired.any(axis=1).sum()))
        ctx.metric("votes", float(fired.sum()))
        for name, count in zip(lfset.names, fired.sum(axis=0).tolist(), strict=True):
            ctx.metric(f"votes.{name}", float(count))
        if not errors:
            return out
        bad = np.zeros(batch.num_rows, dtype=bool)
        bad[list(errors)] = True
        messages = ["; ".join(errors.get(i, [])) for i in range(batch.num_rows)]
        return Outcome(out, original=batch).quarantine(bad, reason=LF_ERROR, error=messages)


def _batches(data: Any) -> tuple[list[pa.RecordBatch], int]:
    if isinstance(data, pa.RecordBatch):
        return [data], data.num_rows
    if isinstance(data, pa.Table):
        return data.to_batches(max_chunksize=65_536), data.num_rows
    to_arrow = getattr(data, "to_arrow", None)  # a polars DataFrame
    if callable(to_arrow):
        table = to_arrow()
        return table.to_batches(max_chunksize=65_536), table.num_rows
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        table = pa.Table.from_pylist(data)
        return table.to_batches(max_chunksize=65_536), table.num_rows
    raise ConfigError(f"apply_lfs: give a pyarrow Table or RecordBatch, a polars DataFrame or a list of dicts, "
                      f"got {type(data).__name__}.")


def apply_lfs(lfs: Iterable[LabelingFunction] | LFSet, data: Any, *,
              labels: Sequence[str] | None = None) -> LabelMatrix:
    """Run LFs over a table in this process and return their :class:`~datamill.label.LabelMatrix`.

    ``data`` is a pyarrow Table or RecordBatch, a polars DataFrame, or a list of dicts. Sources
    are the LFs in order (their names are the matrix's ``source_names``); classes come from
    ``labels`` or the LFs' own. An LF that raises on a row is an error here, naming the row and
    the LF: fix the LF, or run it as the ``label.apply`` step, which quarantines such rows.

    >>> from datamill.label.lf import KeywordLF, LengthLF
    >>> rows = [{"text": "subscribe to my channel"}, {"text": "so cute"}, {"text": "hmm ok then what"}]
    >>> matrix = apply_lfs([KeywordLF("sub", ["subscribe"], "spam"), LengthLF("short", "ham", max_words=3)],
    ...                    rows, labels=["ham", "spam"])
    >>> matrix.to_dense().tolist(), matrix.source_names
    ([[1, -1], [-1, 0], [-1, -1]], ('sub', 'short'))
    """
    lfset = lfs if isinstance(lfs, LFSet) else LFSet.of(lfs, labels)
    if isinstance(lfs, LFSet) and labels is not None:
        lfset = LFSet.of(lfs.lfs, labels, sha256=lfs.sha256)
    batches, n = _batches(data)
    dense = np.full((n, len(lfset.lfs)), ABSTAIN, dtype=np.int16)
    start = 0
    for batch in batches:
        votes, errors = lfset.votes(batch)
        if errors:
            row = min(errors)
            raise PipelineError(f"apply_lfs: {len(errors)} row(s) of a batch failed; row {start + row}: "
                                f"{errors[row][0]}. Fix the LF (return None to abstain), or run the LFs as the "
                                "`label.apply` step, which quarantines such rows.")
        dense[start:start + batch.num_rows] = votes
        start += batch.num_rows
    n_classes = len(lfset.labels) if lfset.labels is not None else None
    return LabelMatrix.from_dense(dense, n_classes=n_classes, class_names=lfset.labels, source_names=lfset.names)


def votes_matrix(table: pa.Table | pa.RecordBatch, column: str = "votes", *,
                 n_classes: int | None = None) -> LabelMatrix:
    """The label matrix stored in a ``label.apply`` output's votes column (LF and class names kept).

    A list column of equal-length integer lists from elsewhere works too (sources unnamed).
    """
    dense, names, classes = votes_array(table, column)
    k = n_classes if n_classes is not None else (len(classes) if classes is not None else None)
    return LabelMatrix.from_dense(dense, n_classes=k, class_names=classes, source_names=names)


def votes_array(table: pa.Table | pa.RecordBatch, column: str = "votes") -> tuple[
        NDArray[np.int16], list[str] | None, tuple[str, ...] | None]:
    """``(items × sources votes, LF names, class names)`` from a votes column."""
    if column not in table.schema.names:
        raise SchemaError(f"there is no votes column `{column}`; the data has {', '.join(table.schema.names)}. "
                          "Make one with `datamill label apply` (the `label.apply` step), or name it.")
    field = table.schema.field(column)
    meta = {k.decode(): v.decode() for k, v in (field.metadata or {}).items()}
    names = json.loads(meta[LF_NAMES_KEY]) if LF_NAMES_KEY in meta else None
    classes = tuple(json.loads(meta[LABEL_CLASSES_KEY])) if LABEL_CLASSES_KEY in meta else None
    array = table.column(column)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    kind = array.type
    if not (pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind) or pa.types.is_large_list(kind)) or \
            not pa.types.is_integer(kind.value_type):
        raise SchemaError(f"`{column}` holds {kind}; a votes column holds one integer vote per source "
                          "(as `label.apply` writes it).")
    width = kind.list_size if pa.types.is_fixed_size_list(kind) else (len(names) if names is not None else None)
    if array.null_count:
        raise SchemaError(f"`{column}` has {array.null_count} null row(s); every row needs its list of votes.")
    values = array.flatten().fill_null(ABSTAIN).to_numpy(zero_copy_only=False).astype(np.int16)
    if width is None:
        lengths = np.asarray(pc.list_value_length(array).to_numpy(zero_copy_only=False))
        width = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and np.any(lengths != width):
            raise SchemaError(f"`{column}` has rows with different numbers of votes ({lengths.min()} to "
                              f"{lengths.max()}); each row needs one vote per source.")
    dense = values.reshape(len(array), width) if len(array) else np.zeros((0, width), np.int16)
    return dense, names, classes
