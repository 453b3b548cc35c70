"""Near-duplicate documents by MinHash-LSH: signatures, bands, candidates, verification, clusters.

The path, for every document:

1. **Shingles**: word n-grams (``ngram``, 5 by default) by the rules of
   ``datamill.dedup.shingles``, hashed to 64 bits in one compiled pass over the text's bytes.
2. **Signature**: ``num_perm`` minima of a multiply-add-shift permutation family, seeded by
   ``seed``. The same text and config give the same signature on any machine.
3. **LSH**: the signature is cut into ``bands`` of ``rows`` values, chosen from the threshold
   (``datamill.dedup.lsh.optimal_bands``); documents sharing a band's values are candidates.
4. **Verification**: ``signature`` keeps candidates whose signatures agree on at least
   ``threshold`` of their values (the MinHash estimate of Jaccard); ``exact`` computes the
   true Jaccard of their shingle sets; ``none`` keeps every candidate.
5. **Clusters**: connected components of the verified pairs. Each cluster keeps one
   survivor, the first by the ``keep`` policy with ties broken by the smallest ``id``: so
   the survivors depend on the data only, not on the order of shards or the worker count.

``near_duplicates`` runs this in memory on a list of texts; the ``dedup.minhash`` step runs it
over a dataset of any size: each shard's signatures and band keys spill to Parquet, and
buckets are found band by band by sorting, so memory holds one band's keys at a time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, model_validator

from datamill.clean.text import repair_utf8
from datamill.core.columns import ID
from datamill.core.errors import ConfigError, DatamillError, PipelineError
from datamill.dedup import _kernels as k
from datamill.dedup._ids import row_ids
from datamill.dedup.lsh import optimal_bands
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = ["MinHashConfig", "MinHashDedup", "NearDuplicates", "Signed", "near_duplicates", "permutations", "sign",
           "signatures"]

Verify = Literal["none", "signature", "exact"]
Unit = Literal["word", "char"]

# Buckets bigger than this link their members to the first one only (see bucket_pairs).
MAX_BUCKET = 64
_THREAD_CHUNK = 2048


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` coefficients of the ``num_perm`` hash permutations for ``seed``.

    >>> a, b = permutations(4, 1)
    >>> a.dtype, bool((a % 2 == 1).all())
    (dtype('uint64'), True)
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True) | np.uint64(1)
    b = rng.integers(0, 2**64 - 1, size=num_perm, dtype=np.uint64, endpoint=True)
    return a, b


def _as_strings(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """``texts`` as one large_string Arrow array (a copy only where the type or chunks need one)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    if not isinstance(texts, pa.Array):
        texts = pa.array(texts, pa.large_string())
    if pa.types.is_string(texts.type) or pa.types.is_string_view(texts.type) or pa.types.is_null(texts.type):
        texts = texts.cast(pa.large_string())
    if not pa.types.is_large_string(texts.type):
        raise TypeError(f"texts must be strings, got Arrow type {texts.type}")
    return texts  # type: ignore[return-value]


def _as_text_array(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    """``texts`` ready for the kernels: large_string, valid UTF-8, lower-cased."""
    # Invalid UTF-8 is read with U+FFFD, as by every text step; then Unicode lower-casing in
    # Arrow (the kernel folds ASCII only).
    return pc.utf8_lower(repair_utf8(_as_strings(texts))[0])  # type: ignore[no-any-return]


def _buffers(texts: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bytes, offsets, valid) of a large_string array, zero-copy where Arrow allows."""
    n = len(texts)
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64, count=n + 1, offset=texts.offset * 8)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    valid = texts.is_valid().to_numpy(zero_copy_only=False)
    return data, offsets, valid


@dataclass
class Signed:
    """What one pass over texts gives: signatures, shingle counts and (optionally) shingle sets.

    Document ``d``'s set is ``flat[starts[d]:starts[d + 1]]`` (sorted distinct 32-bit hashes).
    """

    sig: np.ndarray
    counts: np.ndarray
    flat: np.ndarray
    starts: np.ndarray


def sign(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray, *, ngram: int = 5, num_perm: int = 128,
         seed: int = 1, sets: bool = False, workers: int = 1, unit: Unit = "word") -> Signed:
    """Sign ``texts`` in chunks, on ``workers`` threads (the kernels release the GIL)."""
    a, b = permutations(num_perm, seed)
    array = _as_strings(texts)

    def run(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        data, offsets, valid = _buffers(_as_text_array(array.slice(start, _THREAD_CHUNK)))
        return k.signatures(data, offsets, valid, ngram, a, b, sets, unit == "char")  # type: ignore[no-any-return]

    starts_at = range(0, len(array), _THREAD_CHUNK)
    if workers <= 1 or len(starts_at) < 2:
        parts = [run(start) for start in starts_at]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, starts_at))
    if not parts:
        return Signed(np.zeros((0, num_perm), np.uint32), np.zeros(0, np.int64), np.zeros(0, np.uint32),
                      np.zeros(1, np.int64))
    shift = np.cumsum([0] + [len(p[2]) for p in parts[:-1]])
    starts = np.concatenate([np.zeros(1, np.int64)] + [p[3][1:] + s for p, s in zip(parts, shift, strict=True)])
    return Signed(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                  np.concatenate([p[2] for p in parts]), starts)


def signatures(texts: Sequence[str | None] | pa.Array, *, ngram: int = 5, num_perm: int = 128, seed: int = 1,
               workers: int = 1, unit: Unit = "word") -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures ``(n, num_perm)`` uint32 and shingle counts ``(n,)`` of ``texts``.

    Null texts and texts without a word get count 0 (they are never anyone's duplicate).
    ``workers`` threads share the work.

    >>> sig, counts = signatures(["the cat sat on the mat today", "The cat sat on the mat today!"])
    >>> bool((sig[0] == sig[1]).all()), counts.tolist()
    (True, [3, 3])
    """
    signed = sign(texts, ngram=ngram, num_perm=num_perm, seed=seed, workers=workers, unit=unit)
    return signed.sig, signed.counts


def _default_weights(verify: Verify) -> tuple[float, float]:
    # With verification a false candidate costs one check; a missed pair is lost for good.
    return (0.5, 0.5) if verify == "none" else (0.05, 0.95)


def _candidate_pairs(keys_by_band: Iterable[np.ndarray], rank: np.ndarray, empty: np.ndarray,
                     workers: int = 1) -> np.ndarray:
    """Distinct candidate pairs ``(i, j)``, ``rank[i] < rank[j]``, over all bands."""

    def one(keys: np.ndarray) -> np.ndarray:
        order = np.lexsort((rank, keys))  # by key, ties by rank: buckets list their best first
        return k.bucket_pairs(keys, order, empty, MAX_BUCKET)  # type: ignore[no-any-return]

    if workers <= 1:
        found = [one(keys) for keys in keys_by_band]
    else:
        with ThreadPoolExecutor(workers) as pool:
            found = list(pool.map(one, keys_by_band))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    if not len(pairs):
        return pairs
    swap = rank[pairs[:, 0]] > rank[pairs[:, 1]]
    pairs[swap] = pairs[swap][:, ::-1]
    n = np.int64(len(rank))
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])  # one int per pair: much faster than unique rows
    return np.stack([codes // n, codes % n], axis=1)


@dataclass
class NearDuplicates:
    """What ``near_duplicates`` found.

    ``cluster[i]`` is the index of document ``i``'s survivor (``i`` itself for a survivor or
    a document with no near duplicate); ``pairs`` are the verified candidate pairs (the
    edges the clusters were built from), smaller index first, with their ``similarity``.
    """

    cluster: np.ndarray
    pairs: np.ndarray
    similarity: np.ndarray
    bands: int
    rows: int
    candidates: int = 0
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def duplicates(self) -> np.ndarray:
        """Indices of the documents that are not their cluster's survivor (the ones to drop)."""
        return np.flatnonzero(self.cluster != np.arange(len(self.cluster)))


def near_duplicates(
    texts: Sequence[str | None] | pa.Array,
    *,
    threshold: float = 0.8,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    verify: Verify = "exact",
    bands: int | None = None,
    rows: int | None = None,
    rank: np.ndarray | None = None,
    workers: int = 1,
    unit: Unit = "word",
) -> NearDuplicates:
    """Cluster the near duplicates among ``texts`` (Jaccard of word n-grams >= ``threshold``).

    ``unit="char"`` compares character n-grams of the words instead.

    ``rank`` orders documents for survivor choice (lowest wins; default: position).

    >>> found = near_duplicates(["a b c d e f g h", "A b c d e f g h!", "something else entirely here"])
    >>> found.cluster.tolist(), found.duplicates.tolist()
    ([0, 0, 2], [1])
    """
    if bands is None or rows is None:
        bands, rows = optimal_bands(threshold, num_perm, *_default_weights(verify))
    if bands * rows > num_perm:
        raise ValueError(f"bands * rows = {bands * rows} is more than num_perm = {num_perm}")
    signed = sign(texts, ngram=ngram, num_perm=num_perm, seed=seed, sets=verify == "exact", workers=workers,
                  unit=unit)
    n = len(signed.counts)
    order_rank = np.arange(n, dtype=np.int64) if rank is None else np.asarray(rank, np.int64)
    keys = k.band_keys(signed.sig, bands, rows)
    bands_keys = [np.ascontiguousarray(keys[:, j]) for j in range(bands)]
    pairs = _candidate_pairs(bands_keys, order_rank, signed.counts == 0, workers)
    candidates = len(pairs)
    if not len(pairs):
        similarity = np.zeros(0)
    elif verify == "exact":
        similarity = k.pair_jaccard(signed.flat, signed.starts, pairs[:, 0], pairs[:, 1])
    else:
        similarity = k.signature_similarity(signed.sig[pairs[:, 0]], signed.sig[pairs[:, 1]])
    if verify != "none":
        keep = similarity >= threshold
        pairs, similarity = pairs[keep], similarity[keep]
    cluster = k.components(n, pairs, order_rank)
    sizes = np.bincount(cluster, minlength=n)[cluster]
    low = np.minimum(pairs[:, 0], pairs[:, 1]) if len(pairs) else pairs[:, 0]
    high = np.maximum(pairs[:, 0], pairs[:, 1]) if len(pairs) else pairs[:, 0]
    by_index = np.stack([low, high], axis=1) if len(pairs) else np.zeros((0, 2), np.int64)
    return NearDuplicates(cluster, by_index, similarity, bands, rows, candidates, sizes)


class MinHashConfig(StepConfig):
    text_column: str = Field("text", description="The column of text to compare.")
    threshold: float = Field(0.8, gt=0.0, lt=1.0,
                             description="Documents whose word n-gram Jaccard is at least this are near duplicates.")
    shingle: Unit = Field("word", description="Shingles of `word`s, or of `char`acters (of the words joined by "
                          "single spaces: better for short texts and for languages written without spaces).")
    ngram: int = Field(5, ge=1, le=64, description="Words (or characters) per shingle.")
    num_perm: int = Field(128, ge=2, le=1024, description="MinHash permutations (signature length).")
    seed: int = Field(1, ge=0, description="Seed of the permutations: change it to get independent signatures.")
    bands: int | None = Field(None, ge=1, description="LSH bands; chosen from the threshold when unset.")
    rows: int | None = Field(None, ge=1, description="Signature values per band; chosen with `bands`.")
    verify: Verify = Field(
        "exact",
        description="`signature`: keep candidates whose signatures agree on >= threshold of values; "
        "`exact`: compute their true Jaccard (keeps every shingle set of the candidates); `none`: keep all.",
    )
    keep: Literal["first", "longest", "best"] = Field(
        "first", description="Which document of a cluster survives: `first` (smallest id), `longest` "
        "(most shingles) or `best` (highest `score_column`); ties go to the smallest id.")
    score_column: str | None = Field(None, description="The column `keep: best` maximises.")
    mode: Literal["drop", "annotate"] = Field(
        "drop", description="`drop` removes all but each cluster's survivor; `annotate` keeps every row "
        "and adds `cluster_id`, `cluster_size` and `duplicate_of`.")
    reason: str = Field("near_duplicate", pattern=r"^[a-z][a-z0-9_]*$", description="Ledger reason of dropped rows.")
    against: str | None = Field(
        None, description="An index saved by an earlier run (`save_index`), e.g. `corpus.near.index`: the "
        "new documents are checked against it without signing the old ones again; old documents always "
        "survive. The run pins the version it used (`name@<hash>`), so a newer index means a new run.")
    save_index: bool = Field(
        False, description="Save the surviving documents' signatures (with those of `against`) as "
        "`<pipeline>.<step>.index`, for later runs' `against`.")
    spill_dir: str | None = Field(
        None, description="Folder for the signatures spilled between the two passes (the system's temp "
        "folder when unset). On a cluster it must be reachable from every worker.")

    @model_validator(mode="after")
    def _consistent(self) -> MinHashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both `bands` and `rows`, or neither (they are then chosen from the threshold)")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands * rows = {self.bands * self.rows} is more than num_perm = {self.num_perm}")
        if self.keep == "best" and self.score_column is None:
            raise ValueError("`keep: best` needs `score_column`, the column whose highest value survives")
        return self

    def index_params(self) -> str:
        """What an index must have been built with to be compared with this config's signatures."""
        bands, rows = self.banding()
        return (f"shingle={self.shingle};ngram={self.ngram};num_perm={self.num_perm};seed={self.seed};"
                f"bands={bands};rows={rows};sets={self.verify == 'exact'}")

    def banding(self) -> tuple[int, int]:
        """The ``(bands, rows)`` in use."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        return optimal_bands(self.threshold, self.num_perm, *_default_weights(self.verify))


@dataclass
class MinHashState:
    """Spilled Parquet files (one per shard, in shard order) and their row counts."""

    files: list[tuple[int, str, int]] = field(default_factory=list)  # (shard, path, rows)
    folder: str | None = None


_CLUSTER_SCHEMA = pa.schema([
    pa.field(ID, pa.string()),
    pa.field("duplicate_of", pa.string()),
    pa.field("cluster_size", pa.int64()),
    pa.field("similarity", pa.float64()),
])


@register("dedup.minhash")
class MinHashDedup(Aggregate[MinHashConfig, MinHashState, pa.Table]):
    """Remove near-duplicate documents (MinHash-LSH), keeping one survivor per cluster.

    Every dropped row is explained: ``side_table`` lists it with the id it duplicates, the
    cluster's size and their estimated (or exact) similarity.

    >>> MinHashDedup(threshold=0.8).config.banding()
    (16, 8)
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._pending_index: tuple[list[tuple[int, str, int]], pa.Array] | None = None
        self._known: pa.Array = pa.array([], pa.string())
        against = self.config.against
        if against is not None and not _pinned(against):
            # Pin `against` to the version there now: the step's cache key then changes with it.
            from datamill.store.workspace import active_workspace

            try:
                dataset = active_workspace().open(against)
            except DatamillError:
                return  # no workspace here (validating a file): resolved when the run opens one
            name = against.split("@", 1)[0]
            self.config = self.config.model_copy(update={"against": f"{name}@{dataset.id}"})

    def required_columns(self) -> dict[str, str]:
        """``id`` and the text column must be there, plus the score column for ``keep: best``."""
        needed = {ID: "string", self.config.text_column: "string"}
        if self.config.score_column is not None:
            needed[self.config.score_column] = "number"
        return needed

    def _folder(self, state: MinHashState) -> str:
        if state.folder is None:
            root = self.config.spill_dir or tempfile.gettempdir()
            state.folder = os.path.join(root, f"datamill-minhash-{uuid.uuid4().hex}")
            os.makedirs(state.folder, exist_ok=True)
        return state.folder

    def partial(self, batches: Iterator[pa.RecordBatch], ctx: StepContext) -> MinHashState:
        """Sign this shard's documents and spill ``id``, rank inputs, signature and band keys."""
        config = self.config
        bands, rows = config.banding()
        a, b = permutations(config.num_perm, config.seed)
        state = MinHashState()
        writer: pq.ParquetWriter | None = None
        path = ""
        total = 0
        try:
            # Slices of a few thousand rows: a 65,536-row batch of long texts would otherwise
            # hold its lower-cased copy and its shingle sets at once (hundreds of MB).
            for batch in (piece for whole in batches for piece in _slices(whole, _THREAD_CHUNK)):
                ids = row_ids(batch, ctx.step_id, "dedup.minhash",
                              "every dropped row records the id of the row it duplicates")
                texts = _as_text_array(batch.column(config.text_column))
                data, offsets, valid = _buffers(texts)
                sig, counts, flat, starts = k.signatures(data, offsets, valid, config.ngram, a, b,
                                                         config.verify == "exact", config.shingle == "char")
                keys = k.band_keys(sig, bands, rows)
                columns: dict[str, pa.Array] = {
                    ID: ids,
                    "shingles": pa.array(counts),
                    "signature": pa.FixedSizeListArray.from_arrays(pa.array(sig.reshape(-1)), config.num_perm),
                }
                if config.score_column is not None:
                    columns["score"] = batch.column(config.score_column).cast(pa.float64())
                for j in range(bands):
                    columns[f"band_{j}"] = pa.array(keys[:, j])
                columns["params"] = pa.repeat(pa.scalar(config.index_params()), len(counts)).dictionary_encode()
                if config.verify == "exact":
                    columns["shingle_set"] = pa.ListArray.from_arrays(pa.array(starts.astype(np.int32)),
                                                                      pa.array(flat))
                table = pa.table(columns)
                if writer is None:
                    name = f"shard-{ctx.shard_index:06d}-{uuid.uuid4().hex[:8]}.parquet"
                    path = os.path.join(self._folder(state), name)
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
                writer.write_table(table)
                total += table.num_rows
                if total % (64 * _THREAD_CHUNK) < batch.num_rows:
                    # mimalloc keeps freed pages for reuse; over a million documents that reads
                    # as hundreds of MB of RSS no one is using.
                    pa.default_memory_pool().release_unused()
        finally:
            if writer is not None:
                writer.close()
        if writer is not None:
            state.files.append((ctx.shard_index, path, total))
        return state

    def merge(self, left: MinHashState, right: MinHashState) -> MinHashState:
        """Both shards' spill files, in shard order."""
        return MinHashState(sorted(left.files + right.files), left.folder or right.folder)

    def finalize(self, state: MinHashState) -> pa.Table:
        """Find the clusters band by band; the model lists every clustered row and its survivor."""
        old = self._index_shards()
        sources = MinHashState(old + state.files, state.folder)
        keep_files = False
        try:
            model = self._clusters(sources, len(old))
            if self.config.save_index:
                dropped = model.filter(pc.is_valid(model.column("duplicate_of"))).column(ID).combine_chunks()
                self._pending_index = (sources.files, pa.concat_arrays([dropped, self._known]))
                keep_files = True
            return model
        finally:
            if not keep_files:
                _remove_spill(state)
            pa.default_memory_pool().release_unused()  # the candidates' shingle sets, gone now

    def _index_shards(self) -> list[tuple[int, str, int]]:
        """The shards of the `against` index as sources (order -1: before this run's shards)."""
        if self.config.against is None:
            return []
        from datamill.store.workspace import active_workspace

        ws = active_workspace()
        dataset = ws.open(self.config.against)
        names = dataset.schema.names
        if "params" not in names or "signature" not in names:
            raise ConfigError(f"dedup.minhash: `against: {self.config.against}` is not a MinHash index; use "
                              "the `<pipeline>.<step>.index` that a run with `save_index: true` wrote.")
        store = ws.objects
        shards = []
        for shard in dataset.shards:
            path = store.path(shard["path"])
            shards.append((-1, path if store.is_local else store.fs.unstrip_protocol(path), shard["rows"]))
        if shards:
            built = str(_read_columns(shards[0][1], ["params"]).column(0)[0].as_py())
            if built != self.config.index_params():
                raise ConfigError(
                    f"dedup.minhash: the index {self.config.against} was built with {built}, this step uses "
                    f"{self.config.index_params()}; set the same shingle, ngram, num_perm, seed, bands/rows and verify "
                    "(or build a new index without `against`).")
        return shards

    def extra_outputs(self, model: pa.Table) -> dict[str, tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
        """With ``save_index``: the ``index`` (the `against` index plus this run's survivors)."""
        if self._pending_index is None:
            return {}
        files, dropped = self._pending_index
        self._pending_index = None
        if not files:
            return {}
        schema = _schema_of(files[-1][1])

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for order, path, _ in files:
                    for batch in _batches(path):
                        if order >= 0:  # this run's rows: the duplicates stay out of the index
                            batch = batch.filter(pc.invert(pc.is_in(batch.column(ID), value_set=dropped)))
                        yield batch.select(schema.names).cast(schema)
            finally:
                _remove_spill(MinHashState([f for f in files if f[0] >= 0]))

        return {"index": (schema, batches())}

    def _read(self, state: MinHashState, column: str) -> pa.ChunkedArray:
        parts = [_read_columns(path, [column]).column(0) for _, path, _ in state.files]
        return pa.chunked_array([c for part in parts for c in part.chunks], type=parts[0].type)

    def _clusters(self, state: MinHashState, old_rows: int = 0) -> pa.Table:
        """Clusters over ``state``'s sources; the first ``old_rows`` sources are an earlier index."""
        config = self.config
        old_rows = sum(rows for _, _, rows in state.files[:old_rows])
        if not state.files:
            return _CLUSTER_SCHEMA.empty_table()
        bands, _ = config.banding()
        ids = self._read(state, ID).combine_chunks()
        n = len(ids)
        for part in (ids.slice(0, old_rows), ids.slice(old_rows)):
            if pc.count_distinct(part).as_py() != len(part):
                counts = pc.value_counts(part)
                repeated = [v["values"] for v in counts.to_pylist() if v["counts"] > 1][:3]
                raise PipelineError(
                    f"dedup.minhash: ids must be unique to say which row each dropped row duplicates, but "
                    f"{repeated} appear more than once. Read the data with a datamill reader (ids are unique "
                    "per file and locator) or drop exact copies of the same record first.")
        shingles = self._read(state, "shingles").to_numpy()
        rank = self._rank(state, ids, shingles, old_rows)
        empty = shingles == 0
        # A row whose id the index holds already is that same document, read again: it stays, and
        # is compared through its indexed twin only.
        known = np.zeros(n, bool)
        if old_rows:
            known[old_rows:] = pc.is_in(ids.slice(old_rows), value_set=ids.slice(0, old_rows)).to_numpy(
                zero_copy_only=False)
            empty |= known
        self._known = ids.filter(pa.array(known))
        pairs = _candidate_pairs(
            (self._read(state, f"band_{j}").to_numpy() for j in range(bands)), rank, empty)
        involved = np.unique(pairs) if len(pairs) else np.zeros(0, np.int64)
        if config.verify == "exact" and len(pairs):
            flat, starts = self._take_sets(state, involved, int(shingles[involved].sum()))
            where = np.searchsorted(involved, pairs)
            similarity = k.pair_jaccard(flat, starts, where[:, 0], where[:, 1])
        elif len(pairs) and config.verify != "exact":
            flat = self._take(state, "signature", involved).values.to_numpy()
            sig = flat.reshape(len(involved), config.num_perm)
            where = np.searchsorted(involved, pairs)  # involved is sorted and distinct
            similarity = k.signature_similarity(sig[where[:, 0]], sig[where[:, 1]])
        else:
            similarity = np.zeros(0)
        if config.verify != "none":
            keep = similarity >= config.threshold
            pairs, similarity = pairs[keep], similarity[keep]
        root = k.components(n, pairs, rank)
        sizes = np.bincount(root, minlength=n)
        clustered = np.flatnonzero(sizes[root] > 1)
        survivor = root[clustered]
        # Similarity of each clustered row to its survivor, where that pair was verified.
        pair_sim = {(int(i), int(j)): float(s) for (i, j), s in zip(pairs, similarity, strict=True)}
        sims = [1.0 if r == i else pair_sim.get((int(r), int(i)), pair_sim.get((int(i), int(r))))
                for i, r in zip(clustered, survivor, strict=True)]
        # Rows of an earlier index are never dropped here (they are not this run's to drop).
        duplicate_of = pc.if_else(pa.array((survivor == clustered) | (clustered < old_rows)),
                                  pa.scalar(None, pa.string()), ids.take(pa.array(survivor)))
        return pa.table({
            ID: ids.take(pa.array(clustered)),
            "duplicate_of": duplicate_of,
            "cluster_size": pa.array(sizes[survivor], pa.int64()),
            "similarity": pa.array(sims, pa.float64()),
        }, schema=_CLUSTER_SCHEMA)

    def _take_sets(self, state: MinHashState, rows: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray]:
        """The shingle sets of global rows ``rows`` (sorted) as ``(flat, starts)``, filled in place.

        ``bound`` (their shingle counts, repeats included) is at least the sets' total size, so
        the sets are copied once into one array, never held twice.
        """
        flat = np.empty(bound, np.uint32)  # pages past the sets' true size are never touched
        starts = np.zeros(len(rows) + 1, np.int64)
        at = w = 0
        start = 0
        for _, path, _ in state.files:
            for group in _row_groups(path, "shingle_set"):
                lo, hi = np.searchsorted(rows, [start, start + len(group)])
                if hi > lo:
                    taken = group.take(pa.array(rows[lo:hi] - start))
                    values = taken.flatten().to_numpy()
                    offsets = taken.offsets.to_numpy()
                    flat[w : w + len(values)] = values
                    starts[at + 1 : at + 1 + hi - lo] = w + (offsets[1:] - offsets[0])
                    w += len(values)
                    at += hi - lo
                start += len(group)
        return flat[:w], starts

    def _take(self, state: MinHashState, column: str, rows: np.ndarray) -> pa.Array:
        """``column`` at global row numbers ``rows`` (sorted), one row group at a time."""
        pieces: list[pa.Array] = []
        start = 0
        for _, path, _ in state.files:
            for group in _row_groups(path, column):
                lo, hi = np.searchsorted(rows, [start, start + len(group)])
                if hi > lo:
                    pieces.append(group.take(pa.array(rows[lo:hi] - start)))
                start += len(group)
        if not pieces:
            return pa.array([], pq.read_schema(state.files[0][1]).field(column).type)
        return pa.concat_arrays(pieces)

    def _rank(self, state: MinHashState, ids: pa.Array, shingles: np.ndarray, old_rows: int = 0) -> np.ndarray:
        """Each row's place in survivor order: an earlier index's rows, the policy, the smallest id."""
        config = self.config
        table: dict[str, Any] = {"id": ids, "new": pa.array(np.arange(len(ids)) >= old_rows)}
        keys: list[tuple[str, str]] = [("new", "ascending")]
        if config.keep == "longest":
            table["length"] = pa.array(shingles)
            keys.append(("length", "descending"))
        elif config.keep == "best":
            table["score"] = self._read(state, "score")
            keys.append(("score", "descending"))
        keys.append(("id", "ascending"))
        order = pc.sort_indices(pa.table(table), sort_keys=keys).to_numpy()  # nulls sort last
        rank = np.empty(len(order), np.int64)
        rank[order] = np.arange(len(order))
        return rank

    def apply(self, batch: pa.RecordBatch, model: pa.Table, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Drop (or annotate) the rows the model names as duplicates."""
        if self.config.mode == "annotate":
            return _annotate(batch, model)
        dropped = model.filter(pc.is_valid(model.column("duplicate_of"))).column(ID)
        mask = pc.is_in(batch.column(ID).cast(pa.string()), value_set=dropped.combine_chunks())
        return Outcome(batch).drop(mask, reason=self.config.reason)

    def side_table(self, model: pa.Table) -> pa.Table:
        """Every dropped row: its id, the id it duplicates, the cluster's size and their similarity."""
        dropped = model.filter(pc.is_valid(model.column("duplicate_of")))
        return dropped.append_column("reason", pa.repeat(pa.scalar(self.config.reason), dropped.num_rows))


def _pinned(ref: str) -> bool:
    """Whether ``ref`` names one version for good (``@<hash>``, not a name or a number)."""
    version = ref.rsplit("@", 1)[1] if "@" in ref else ""
    return len(version) >= 8 and not version.isdigit()


def _read_columns(path: str, columns: list[str] | None) -> pa.Table:
    """Columns of a spill file or of a stored shard (any fsspec URL)."""
    if "://" not in path:
        return pq.read_table(path, columns=columns)
    with fsspec.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)


def _slices(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _batches(path: str) -> Iterator[pa.RecordBatch]:
    """Every column of a spill file or stored shard, in batches."""
    with _open_binary(path) as handle:
        yield from pq.ParquetFile(handle).iter_batches(batch_size=8192)


def _open_binary(path: str) -> Any:
    return fsspec.open(path, "rb").open() if "://" in path else open(path, "rb")


def _row_groups(path: str, column: str) -> Iterator[pa.Array]:
    """One column of a spill file or stored shard, row group by row group."""
    with _open_binary(path) as handle:
        parquet = pq.ParquetFile(handle)
        for group in range(parquet.num_row_groups):
            yield parquet.read_row_group(group, columns=[column]).column(0).combine_chunks()


def _schema_of(path: str) -> pa.Schema:
    if "://" not in path:
        return pq.read_schema(path)
    with fsspec.open(path, "rb") as handle:
        return pq.read_schema(handle)


def _remove_spill(state: MinHashState) -> None:
    for folder in {os.path.dirname(p) for order, p, _ in state.files if order >= 0}:
        if os.path.basename(folder).startswith("datamill-minhash-"):
            shutil.rmtree(folder, ignore_errors=True)


def _annotate(batch: pa.RecordBatch, model: pa.Table) -> pa.RecordBatch:
    ids = batch.column(ID).cast(pa.string())
    where = pc.index_in(ids, value_set=model.column(ID).combine_chunks())
    found = pc.is_valid(where)
    taken = {name: model.column(name).combine_chunks().take(where) for name in ("duplicate_of", "cluster_size")}
    cluster_id = pc.if_else(pc.is_valid(taken["duplicate_of"]), taken["duplicate_of"],
                            pc.if_else(found, ids, pa.scalar(None, pa.string())))
    columns = {name: batch.column(name) for name in batch.schema.names}
    columns["cluster_id"] = pc.if_else(found, cluster_id, ids)
    columns["cluster_size"] = pc.fill_null(taken["cluster_size"], 1)
    columns["duplicate_of"] = taken["duplicate_of"]
    return pa.RecordBatch.from_pydict(columns)
