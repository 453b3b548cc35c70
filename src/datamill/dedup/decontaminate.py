"""``dedup.decontaminate``: find training documents that share word n-grams with evaluation sets.

GPT-3 (Brown et al., 2020, appendix C) counted a training document as contaminated when it shared
a 13-gram with an evaluation item. This step does the same against any number of evaluation
sets, each a dataset version of the workspace (``squad@2``) or a file (``.jsonl``, ``.json``,
``.csv``, ``.parquet``, ``.txt``... read by its ``read.*`` step):

* Every value of ``eval_text_columns`` in every row is one *item*. Words follow the rule of
  ``datamill.dedup.shingles`` (lower-cased; punctuation only separates words).
* An item of at least ``ngram`` (13) words contributes all its ``ngram``-grams. An item of
  ``min_ngram`` (8) to ``ngram - 1`` words contributes one n-gram: all its words, so a training
  document contains it only if it holds those words in a row. Shorter items are ignored (the
  metric ``eval_items_too_short`` counts them): "Paris" is not a leak.
* A training document is contaminated by an evaluation set when they share at least
  ``min_matches`` distinct n-grams; ``mode: drop`` drops it (reason ``contaminated``),
  ``mode: flag`` keeps it and adds ``contaminated_by`` and ``contaminated_ngrams``.

N-grams are compared as 64-bit hashes (`datamill.dedup.shingles.hashed_shingles`): a false match
between two different n-grams has probability about ``m / 2⁶⁴`` per training n-gram for ``m``
evaluation n-grams.

**The evaluation sets are part of the step's identity.** When a run starts, each entry is
resolved: a file to its content hash, a dataset ref to its version id. They feed the step's cache
key (through ``code_hashes``), so editing an evaluation file or writing a new version of an
evaluation dataset makes the step run again. The step is an `Aggregate` for one reason: its
``finalize`` runs in the driver, where the workspace is open, and hands the workers the resolved
evaluation sets (file paths and shard URLs) as its model. Its first pass reads nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, field_validator, model_validator

from datamill.clean.text import text_array
from datamill.core.columns import ID, TEXT
from datamill.core.errors import NotFoundError, PipelineError, SchemaError
from datamill.core.fingerprint import fingerprint, sha256_file
from datamill.dedup.shingles import hashed_shingles, words
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register
from datamill.pipeline.registry import base_dir

__all__ = [
    "CONTAMINATED_BY",
    "CONTAMINATED_NGRAMS",
    "Decontaminate",
    "DecontaminateConfig",
    "EvalLeak",
    "EvalSource",
    "LeakExample",
    "contamination_report",
    "eval_items",
]

CONTAMINATED_BY = "contaminated_by"
CONTAMINATED_NGRAMS = "contaminated_ngrams"
MAX_EVAL_SETS = 64  # one bit each in the index
_ITEM_CHARS = 200  # of an evaluation item, in a report's examples


class DecontaminateConfig(StepConfig):
    eval: list[str] = Field(
        min_length=1,
        max_length=MAX_EVAL_SETS,
        description="The evaluation sets: dataset refs (`squad@2`, `mmlu`) or files (`evals/arc.jsonl`, "
        "relative to the pipeline's folder, or a URL). An entry naming an existing file is a file; "
        "anything else is a dataset ref.",
    )
    eval_text_columns: list[str] = Field(
        ["text"],
        min_length=1,
        description="The columns of the evaluation sets whose values are items (each value its own item). "
        "A set needs at least one of them.",
    )
    text_column: str = Field(TEXT, min_length=1, description="The training text to check.")
    ngram: int = Field(13, ge=1, le=64, description="Words per n-gram (13, as GPT-3).")
    min_ngram: int = Field(
        8,
        ge=1,
        description="Items of `min_ngram` to `ngram - 1` words are matched as one sequence of all their "
        "words; shorter items are ignored.",
    )
    mode: Literal["drop", "flag"] = Field(
        "drop",
        description="`drop` removes contaminated documents; `flag` keeps every row and adds "
        "`contaminated_by` (the evaluation sets) and `contaminated_ngrams`.",
    )
    min_matches: int = Field(1, ge=1, description="Distinct n-grams a document must share with an evaluation set.")
    reason: str = Field(
        "contaminated",
        min_length=1,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The ledger reason dropped documents are counted under.",
    )

    @field_validator("eval")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"lists {', '.join(map(repr, repeated))} more than once")
        if any(not v.strip() for v in value):
            raise ValueError("has an empty entry")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DecontaminateConfig:
        if self.min_ngram > self.ngram:
            raise ValueError(f"`min_ngram` ({self.min_ngram}) must not be more than `ngram` ({self.ngram})")
        return self


@dataclass(frozen=True)
class EvalSource:
    """One evaluation set, resolved: what to read and the identity that feeds the cache key.

    ``digest`` is a file's sha256 or a version's id; ``paths`` the file, or the version's shards.
    """

    name: str
    kind: Literal["file", "dataset"]
    digest: str
    paths: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class _HashSet:
    """Sorted distinct 64-bit hashes, with a table of the top bits they use.

    Looking a training n-gram up costs one probe of the table; only the few that pass (a share
    of about ``len(values) / 2**bits``, 1/16 or less up to a million hashes) are binary-searched.
    """

    values: np.ndarray
    used: np.ndarray  # bool, indexed by a hash's top bits
    shift: np.uint64

    @classmethod
    def of(cls, values: np.ndarray) -> _HashSet:
        bits = int(min(max(np.ceil(np.log2(max(len(values), 1))) + 4, 10), 24))
        shift = np.uint64(64 - bits)
        used = np.zeros(1 << bits, dtype=bool)
        used[values >> shift] = True
        return cls(values, used, shift)

    def positions(self, query: np.ndarray) -> np.ndarray:
        """Positions in ``query`` of the hashes this set holds."""
        if not len(self.values) or not len(query):
            return np.zeros(0, np.int64)
        maybe = np.flatnonzero(self.used[query >> self.shift])
        candidates = query[maybe]
        at = np.minimum(np.searchsorted(self.values, candidates), len(self.values) - 1)
        found: np.ndarray = maybe[self.values[at] == candidates]
        return found


@dataclass(frozen=True)
class _Index:
    """Sorted distinct n-gram hashes of all evaluation sets, each with a bit per set holding it.

    Short items (``min_ngram`` to ``ngram - 1`` words) are found in two steps: a training document
    that holds one holds its first ``min_ngram`` words, so one pass at ``min_ngram`` against
    ``prefixes`` picks the few candidate documents, and only those are hashed at each of the
    ``lengths`` the short items have.
    """

    ngram: int
    min_ngram: int
    hashes: _HashSet
    sets: np.ndarray  # uint64 bit masks, one per hash
    lengths: tuple[int, ...]  # word counts of the short items
    prefixes: _HashSet  # hashes of the short items' first min_ngram words
    items: int
    too_short: int

    def find(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in query that are in the index, their set masks)``."""
        hit = self.hashes.positions(query)
        return hit, self.sets[np.searchsorted(self.hashes.values, query[hit])]


def _fs_path(location: str) -> tuple[Any, str]:
    """The fsspec filesystem of a path or URL, and the path in it."""
    fs, path = fsspec.core.url_to_fs(location)
    return fs, path


def _file_items(source: EvalSource) -> Iterator[pa.RecordBatch]:
    """A file's rows through its ``read.*`` step (rows it would quarantine are skipped)."""
    from datamill.ingest import reader_for
    from datamill.pipeline import Source, resolve_step
    from datamill.pipeline.task import stream_step

    (path,) = source.paths
    fs, local = _fs_path(path)
    if sha256_file(fs, local) != source.digest:
        raise PipelineError(f"evaluation file {source.name!r} ({path}) changed while the run was going on; run again.")
    reader = resolve_step(reader_for(path))({"paths": [path]})
    assert isinstance(reader, Source)
    for partition in reader.partitions():
        yield from stream_step(reader, StepContext(step_id=reader.label), partition=partition)


def _dataset_items(source: EvalSource) -> Iterator[pa.RecordBatch]:
    for url in source.paths:
        with fsspec.open(url, "rb") as handle:
            yield from pq.ParquetFile(handle).iter_batches(columns=list(source.columns))


def eval_items(source: EvalSource) -> pa.LargeStringArray:
    """The items of an evaluation set: every non-null value of its text columns, column by column.

    A file is read by its ``read.*`` step (after checking it still has the hash it was resolved
    with); a dataset version's shards are read directly, so a worker needs no workspace.
    """
    batches = _file_items(source) if source.kind == "file" else _dataset_items(source)
    parts: list[pa.Array] = []
    seen: set[str] = set()
    by_column: dict[str, list[pa.Array]] = {c: [] for c in source.columns}
    for batch in batches:
        seen.update(batch.schema.names)
        for column in source.columns:
            if column in batch.schema.names:
                by_column[column].append(batch.column(column))
    present = [c for c in source.columns if by_column[c]]
    if not present and seen:
        raise SchemaError(
            f"evaluation set {source.name!r} has none of the columns {', '.join(map(repr, source.columns))} "
            f"(`eval_text_columns`); it has {', '.join(sorted(seen))}."
        )
    for column in present:
        for values in by_column[column]:
            if not (pa.types.is_large_string(values.type) or pa.types.is_string(values.type)):
                try:
                    values = pc.cast(values, pa.large_string())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                    raise SchemaError(
                        f"evaluation set {source.name!r}: column {column!r} holds {values.type}, not text."
                    ) from err
            parts.append(values.drop_null().cast(pa.large_string()))
    return pa.concat_arrays(parts) if parts else pa.array([], pa.large_string())


def _item_ngrams(items: pa.Array, ngram: int, min_ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(hashes, item of each hash, word count of each item, prefixes of the short items)``.

    An item of at least ``ngram`` words gives its ``ngram``-grams; one of ``min_ngram`` to
    ``ngram - 1`` words gives one hash of all its words (and the hash of its first ``min_ngram``
    words, as a prefix); a shorter one gives nothing.
    """
    _, word_offsets = hashed_shingles(items, 1)
    counts = np.diff(word_offsets)
    hashes, offsets = hashed_shingles(items, ngram)
    per_item = np.diff(offsets)
    used = counts >= min_ngram
    item_of = np.repeat(np.arange(len(per_item), dtype=np.int64), per_item)
    keep = used[item_of]
    short = np.flatnonzero(used & (counts < ngram))
    prefixes, prefix_offsets = hashed_shingles(items.take(pa.array(short, pa.int64())), min_ngram)
    return hashes[keep], item_of[keep], counts, prefixes[prefix_offsets[:-1]]


@functools.lru_cache(maxsize=2)
def _build_index(sources: tuple[EvalSource, ...], ngram: int, min_ngram: int) -> _Index:
    """The index of ``sources``: built once per process and configuration (a worker serves many tasks)."""
    hashes: list[np.ndarray] = [np.zeros(0, np.uint64)]
    bits: list[np.ndarray] = [np.zeros(0, np.uint64)]
    prefixes: list[np.ndarray] = [np.zeros(0, np.uint64)]
    lengths: set[int] = set()
    items = too_short = 0
    for e, source in enumerate(sources):
        found = eval_items(source)
        found_hashes, _, counts, found_prefixes = _item_ngrams(found, ngram, min_ngram)
        hashes.append(found_hashes)
        bits.append(np.full(len(found_hashes), np.uint64(1) << np.uint64(e), np.uint64))
        prefixes.append(found_prefixes)
        lengths.update(int(n) for n in np.unique(counts[(counts >= min_ngram) & (counts < ngram)]))
        items += len(found)
        too_short += int((counts < min_ngram).sum())
    flat, flat_bits = np.concatenate(hashes), np.concatenate(bits)
    order = np.argsort(flat, kind="stable")
    flat, flat_bits = flat[order], flat_bits[order]
    first = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]]) if len(flat) else np.zeros(0, np.int64)
    sets = np.bitwise_or.reduceat(flat_bits, first) if len(flat) else np.zeros(0, np.uint64)
    return _Index(
        ngram,
        min_ngram,
        _HashSet.of(flat[first]),
        sets,
        tuple(sorted(lengths)),
        _HashSet.of(np.unique(np.concatenate(prefixes))),
        items,
        too_short,
    )


def _matches(texts: pa.Array, index: _Index) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct shared n-grams: ``(document, hash, set mask, word position in the document)``, by
    document, then hash (a hash found twice keeps its first position)."""
    docs, found, masks, where = [], [], [], []

    def look(part: pa.Array, n: int, rows: np.ndarray | None) -> None:
        hashes, offsets = hashed_shingles(part, n)
        hit, sets = index.find(hashes)
        doc = np.searchsorted(offsets, hit, side="right") - 1
        docs.append(doc if rows is None else rows[doc])
        found.append(hashes[hit])
        masks.append(sets)
        where.append(hit - offsets[doc])

    look(texts, index.ngram, None)
    if index.lengths:
        hashes, offsets = hashed_shingles(texts, index.min_ngram)
        candidates = np.unique(np.searchsorted(offsets, index.prefixes.positions(hashes), side="right") - 1)
        if len(candidates):
            part = texts.take(pa.array(candidates, pa.int64()))
            for n in index.lengths:
                look(part, n, candidates)
    doc_all, hash_all, where_all = np.concatenate(docs), np.concatenate(found), np.concatenate(where)
    order = np.lexsort((where_all, hash_all, doc_all))
    doc_all, hash_all = doc_all[order], hash_all[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (doc_all[1:] != doc_all[:-1]) | (hash_all[1:] != hash_all[:-1])
    return doc_all[first], hash_all[first], np.concatenate(masks)[order][first], where_all[order][first]


def _resolve_entry(entry: str, folder: Path) -> tuple[Literal["file", "dataset"], str]:
    """``("file", absolute path or URL)`` for an existing file or a URL, else ``("dataset", ref)``."""
    if "://" in entry:
        return "file", entry
    path = Path(entry).expanduser()
    path = path if path.is_absolute() else folder / path
    if path.is_file():
        return "file", str(path.resolve())
    return "dataset", entry


@register("dedup.decontaminate")
class Decontaminate(Aggregate[DecontaminateConfig, None, tuple[EvalSource, ...]]):
    """Drop (or flag) training documents sharing word n-grams (13) with evaluation sets.

    Metrics: ``leaked:<eval>`` (documents contaminated by each evaluation set, as named in
    ``eval``), ``contaminated`` (documents contaminated by any), and, once per run,
    ``eval_items``, ``eval_items_too_short`` and ``eval_ngrams``. Dropped rows are counted under
    ``reason`` (``contaminated``); the run keeps a few as examples. `contamination_report`
    turns a run's metrics and its flagged (or dropped) rows into a per-set summary.

    >>> Decontaminate(eval=["squad@2", "evals/arc.jsonl"]).config.ngram
    13
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        # Relative paths are resolved now: steps are built where `base_dir()` is the pipeline's folder.
        self._folder = base_dir()
        self._entries = [_resolve_entry(entry, self._folder) for entry in self.config.eval]
        self._sources: tuple[EvalSource, ...] | None = None

    def required_columns(self) -> dict[str, str]:
        """The training text, named by ``text_column``."""
        return {self.config.text_column: "text_column"}

    def output_schema(self, input_schemas: list[pa.Schema]) -> pa.Schema | None:
        """The input schema, plus ``contaminated_by`` and ``contaminated_ngrams`` in ``flag`` mode."""
        if not input_schemas:
            return None
        schema = input_schemas[0]
        if self.config.mode == "flag":
            for new in (pa.field(CONTAMINATED_BY, pa.list_(pa.string())), pa.field(CONTAMINATED_NGRAMS, pa.int64())):
                index = schema.get_field_index(new.name)
                schema = schema.set(index, new) if index >= 0 else schema.append(new)
        return schema

    def sources(self) -> tuple[EvalSource, ...]:
        """The evaluation sets resolved (once per step): files hashed, dataset refs to version ids.

        Dataset refs are read from ``datamill.store.workspace.active_workspace()``.
        """
        if self._sources is None:
            self._sources = tuple(
                self._resolve(entry, kind, target)
                for entry, (kind, target) in zip(self.config.eval, self._entries, strict=True)
            )
        return self._sources

    def _resolve(self, entry: str, kind: str, target: str) -> EvalSource:
        columns = tuple(self.config.eval_text_columns)
        if kind == "file":
            fs, path = _fs_path(target)
            try:
                digest = sha256_file(fs, path)
            except FileNotFoundError as err:
                raise NotFoundError(f"step {self.label!r}: evaluation file {entry!r} ({target}) is gone.") from err
            return EvalSource(entry, "file", digest, (target,), columns)
        from datamill.store.workspace import active_workspace

        try:
            dataset = active_workspace().open(entry)
        except NotFoundError as err:
            raise NotFoundError(
                f"step {self.label!r}: evaluation set {entry!r} is neither a file (relative to "
                f"{str(self._folder)!r}) nor a dataset of the workspace: {err}"
            ) from err
        present = tuple(c for c in columns if c in dataset.schema.names)
        if not present:
            raise SchemaError(
                f"step {self.label!r}: evaluation set {dataset.ref} has none of the columns "
                f"{', '.join(map(repr, columns))} (`eval_text_columns`); it has {', '.join(dataset.schema.names)}."
            )
        store = dataset.store
        urls = []
        for shard in dataset.shards:
            path = store.path(shard["path"])
            urls.append(path if store.is_local else store.fs.unstrip_protocol(path))
        return EvalSource(entry, "dataset", dataset.id, tuple(urls), present)

    def code_hashes(self) -> list[str]:
        """One hash of the resolved evaluation sets (file hashes, version ids): it joins the cache key."""
        identity = [(s.name, s.kind, s.digest, s.columns) for s in self.sources()]
        return [fingerprint("eval sets", identity)]

    def partial(self, batches: Iterator[pa.RecordBatch], ctx: StepContext) -> None:
        """Nothing: the training data is read once, by `apply`."""
        return None

    def merge(self, left: None, right: None) -> None:
        """Nothing to merge."""
        return None

    def finalize(self, state: None) -> tuple[EvalSource, ...]:
        """The resolved evaluation sets (read in the driver, where the workspace is open)."""
        return self.sources()

    def _index(self, model: tuple[EvalSource, ...]) -> _Index:
        return _build_index(model, self.config.ngram, self.config.min_ngram)

    def apply(self, batch: pa.RecordBatch, model: tuple[EvalSource, ...], ctx: StepContext) -> Outcome:
        """Count each document's shared n-grams per evaluation set; drop or flag the contaminated."""
        config = self.config
        index = self._index(model)
        if ctx.shard_index == 0 and "eval_items" not in ctx.metrics:
            ctx.metric("eval_items", index.items)
            ctx.metric("eval_items_too_short", index.too_short)
            ctx.metric("eval_ngrams", len(index.hashes.values))
        texts = text_array(batch, config.text_column, ctx.step_id)
        docs, _, masks, _ = _matches(texts, index)
        rows = batch.num_rows
        shared = np.bincount(docs, minlength=rows).astype(np.int64)
        by_set = np.zeros((len(model), rows), dtype=bool)
        for e, source in enumerate(model):
            holds = (masks >> np.uint64(e)) & np.uint64(1) == 1
            by_set[e] = np.bincount(docs[holds], minlength=rows) >= config.min_matches
            ctx.metric(f"leaked:{source.name}", int(by_set[e].sum()))
        contaminated = np.any(by_set, axis=0).astype(bool)
        ctx.metric("contaminated", int(contaminated.sum()))
        if config.mode == "drop":
            return Outcome(batch).drop(pa.array(contaminated), reason=config.reason)
        row, which = np.nonzero(by_set.T)  # by row, then by set
        offsets = np.zeros(rows + 1, np.int32)
        np.cumsum(np.bincount(row, minlength=rows), out=offsets[1:])
        names = pa.array([s.name for s in model], pa.string()).take(pa.array(which, pa.int64()))
        lists = pa.ListArray.from_arrays(pa.array(offsets), names, type=pa.list_(pa.string()))
        added = {CONTAMINATED_BY: lists, CONTAMINATED_NGRAMS: pa.array(shared)}
        for name, values in added.items():
            index_of = batch.schema.get_field_index(name)
            new = pa.field(name, values.type)
            batch = batch.set_column(index_of, new, values) if index_of >= 0 else batch.append_column(new, values)
        return Outcome(batch)


@dataclass(frozen=True)
class LeakExample:
    """One contaminated training document: its ``id``, the evaluation ``item`` it shares words
    with (first 200 characters) and the shared ``ngram`` (its words, joined by spaces)."""

    id: str
    item: str
    ngram: str


@dataclass(frozen=True)
class EvalLeak:
    """How much one evaluation set leaked into the training data."""

    eval: str
    documents: int  # training documents contaminated by this set
    share: float  # of the documents checked
    examples: list[LeakExample] = field(default_factory=list)

    @property
    def leaked(self) -> bool:
        """Whether any training document shares n-grams with this set."""
        return self.documents > 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "eval": self.eval,
            "documents": self.documents,
            "share": self.share,
            "examples": [{"id": x.id, "item": x.item, "ngram": x.ngram} for x in self.examples],
        }


def _rows(docs: pa.Table | Iterable[Mapping[str, Any]], text_column: str) -> tuple[list[str], pa.Array]:
    if isinstance(docs, pa.Table):
        ids = [str(v) for v in docs.column(ID).to_pylist()] if ID in docs.column_names else []
        texts = docs.column(text_column).combine_chunks() if text_column in docs.column_names else pa.array([])
        if not ids:
            ids = [str(i) for i in range(docs.num_rows)]
        return ids, texts.cast(pa.large_string())
    rows = list(docs)
    return (
        [str(r.get(ID, i)) for i, r in enumerate(rows)],
        pa.array([r.get(text_column) for r in rows], pa.large_string()),
    )


def contamination_report(
    step: Decontaminate,
    metrics: Mapping[str, float],
    rows_in: int,
    docs: pa.Table | Iterable[Mapping[str, Any]] = (),
    *,
    examples: int = 3,
) -> list[EvalLeak]:
    """Which evaluation sets leaked into a run's training data, how much, and examples.

    ``metrics`` and ``rows_in`` are the step's (a run's `StepReport`, or `run_step`'s result).
    ``docs`` (a table or rows with ``id`` and the text column) are where examples are looked for,
    in order: a ``flag`` run's output (best filtered to a non-empty ``contaminated_by``), or the
    rows a ``drop`` run kept as examples (their text is cut to 500 characters, so a match further
    in is not found). Each example names the training ``id``, the evaluation item and the first
    n-gram they share. Returns one `EvalLeak` per entry of ``eval``, in order; dataset refs are
    read from the active workspace.

    >>> from datamill.testing import make_batch, run_step
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> question = "who wrote the tale of two cities and when was it first published"
    >>> _ = (folder / "quiz.jsonl").write_text(f'{{"text": "{question}"}}\\n')
    >>> step = Decontaminate(eval=[str(folder / "quiz.jsonl")], mode="flag")
    >>> batch = make_batch(text=["Q: who wrote the tale of two cities and when was it first published? A: Dickens",
    ...                          "nothing to see"])
    >>> result = run_step(step, [batch])
    >>> [leak] = contamination_report(step, result.metrics, result.ledger.rows_in, result.output)
    >>> leak.documents, leak.share, leak.examples[0].ngram
    (1, 0.5, 'who wrote the tale of two cities and when was it first published')
    """
    config = step.config
    sources = step.sources()
    ids, texts = _rows(docs, config.text_column)
    index = _build_index(sources, config.ngram, config.min_ngram)
    found: dict[int, list[LeakExample]] = {e: [] for e in range(len(sources))}
    if len(texts):
        doc, hashes, masks, where = _matches(texts, index)
        items: dict[int, tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]] = {}
        for e, source in enumerate(sources):
            holds = np.flatnonzero((masks >> np.uint64(e)) & np.uint64(1) == 1)
            holds = holds[np.lexsort((where[holds], doc[holds]))]  # each document's first match first
            seen: set[int] = set()
            for k in holds:
                d = int(doc[k])
                if d in seen or len(found[e]) >= examples:
                    continue
                seen.add(d)
                if e not in items:
                    values = eval_items(source)
                    item_hashes, item_of, counts, _ = _item_ngrams(values, config.ngram, config.min_ngram)
                    order = np.argsort(item_hashes, kind="stable")
                    items[e] = (values, item_hashes[order], item_of[order], counts)
                values, sorted_hashes, sorted_items, counts = items[e]
                at = int(np.searchsorted(sorted_hashes, hashes[k]))
                item = int(sorted_items[min(at, len(sorted_items) - 1)])
                n = min(int(counts[item]), config.ngram)
                text_words = words(texts[d].as_py() or "")
                start = int(where[k])
                found[e].append(
                    LeakExample(
                        ids[d], str(values[item].as_py())[:_ITEM_CHARS], " ".join(text_words[start : start + n])
                    )
                )
    report = []
    for e, source in enumerate(sources):
        count = int(metrics.get(f"leaked:{source.name}", 0))
        report.append(EvalLeak(source.name, count, count / rows_in if rows_in else 0.0, found[e]))
    return report
