"""``StreamingDataset``: token shards into PyTorch, split over ranks and workers, resumable exactly.

The epoch's order is one global list of batches, computed the same way in every process from
``(seed, epoch)``: shards in a seeded order, sequences shuffled within windows of
``shuffle_window`` (a bounded buffer), then cut into batches (or bucketed by length). Batch
``g`` goes to rank ``g mod world_size``; a rank's ``k``-th batch goes to DataLoader worker
``k mod num_workers``, and the DataLoader hands them back in order. So the batches a rank has
consumed are always a prefix of its list, and the state is one number: the next global batch.

Guarantees (the resume tests check each):

- One epoch yields every sequence exactly once, over all ranks and workers.
- ``state_dict()`` after ``k`` batches on every rank, then ``load_state_dict`` in a new run,
  yields exactly the batches not yet seen: with the same or another number of DataLoader
  workers, and with another world size (the remaining global batches are dealt out again).
  This assumes the ranks step together (as data-parallel training does), so all of them have
  consumed the same number of batches when the state is saved. Resuming twice in a row is the
  same as never stopping.
- Batch size, seed, shuffling and packing must stay the same across a resume (the state
  carries a fingerprint of them, and a mismatch is an error that says which).

Whole batches cross the worker boundary (``batch_size=None`` in the DataLoader): use
``dataset.loader(num_workers=...)``, which also keeps the state up to date in the main process.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from datamill.core.errors import ConfigError
from datamill.llm.packing import bucket_batches, fill_rows, one_shard_batch
from datamill.llm.shards import TokenShard
from datamill.store.objects import ObjectStore

__all__ = ["StreamingDataset", "StreamingLoader"]

EXTRA = "torch"  # this module is the [torch] extra: nothing in the core imports it

IGNORE_INDEX = -100  # the label PyTorch's cross-entropy skips


def _dist_defaults() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


Packed = tuple[torch.Tensor, int, int, tuple[str, ...], bool]


def unpack(packed: Packed) -> dict[str, torch.Tensor]:
    """The batch dict from a packed batch: views into its one tensor, no copy."""
    flat, rows, width, names, with_ids = packed
    area = rows * width
    planes = flat[:len(names) * area].view(len(names), rows, width).unbind(0)
    out = dict(zip(names, planes, strict=True))
    if "attention_mask" not in out:
        out["attention_mask"] = flat[-1:].view(1, 1).expand(rows, width)
    if with_ids:
        out["sample_ids"] = flat[len(names) * area:-1]
    return out


def _warm_up(dtypes: set[str]) -> None:
    """Load the compiled batch filler now: the first call costs about half a second, which would
    otherwise land on the first batch of every epoch (forked DataLoader workers inherit it)."""
    ids, labels, positions = np.zeros((3, 1, 1), np.int64)
    for dtype in dtypes:
        tokens = np.zeros(1, dtype)
        tokens.flags.writeable = False  # shards are read-only maps: numba compiles for that type
        fill_rows(tokens, np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(1, np.int64),
                  np.zeros(1, np.int64), ids, labels, positions)
        one_shard_batch(tokens, np.array([0, 1]), np.zeros(1, np.int64), np.zeros(1, np.int64))


class StreamingDataset(IterableDataset[dict[str, torch.Tensor]]):
    """Batches of token sequences from a token version (``llm.pack`` / ``datamill tokenize``).

    Each batch is a dict of ``input_ids``, ``attention_mask``, ``labels`` (pad as -100) and
    ``position_ids`` (restarting at every document start inside a packed sequence, for
    cross-document attention masking; ``segment_ids`` too when asked), padded to the batch's
    longest sequence rounded up to ``pad_multiple``. ``sample_ids=True`` adds each sequence's
    number in the token version (shard by shard), to trace what a batch holds.

    ``source`` is a ref (``corpus.tokens``, ``name@3``) resolved in ``workspace`` (found from
    the current directory when not given). ``bucket=True`` batches sequences of similar length
    (for unpacked sequences), within ``max_tokens`` padded tokens per batch when set.

    >>> # ds = StreamingDataset("corpus.tokens", batch_size=8)
    >>> # for batch in ds.loader(num_workers=2): model(**batch)
    """

    def __init__(self, source: Any, *, workspace: Any = None, batch_size: int = 8, shuffle: bool = True,
                 seed: int = 0, shuffle_window: int = 1 << 16, bucket: bool = False, max_tokens: int | None = None,
                 pad_multiple: int = 1, pad_id: int = 0, segment_ids: bool = False, sample_ids: bool = False,
                 rank: int | None = None, world_size: int | None = None, cache_dir: str | None = None) -> None:
        super().__init__()
        if batch_size < 1 or shuffle_window < 1 or pad_multiple < 1:
            raise ConfigError("StreamingDataset: batch_size, shuffle_window and pad_multiple must be at least 1")
        default_rank, default_world = _dist_defaults()
        self.rank = default_rank if rank is None else rank
        self.world_size = default_world if world_size is None else world_size
        if not 0 <= self.rank < self.world_size:
            raise ConfigError(f"StreamingDataset: rank {self.rank} is outside world_size {self.world_size}")
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.shuffle_window, self.bucket, self.max_tokens = shuffle_window, bucket, max_tokens
        self.pad_multiple, self.pad_id, self.segment_ids = pad_multiple, pad_id, segment_ids
        self.sample_ids = sample_ids
        self.cache_dir = cache_dir
        self._resolve(source, workspace)
        self.epoch = 0
        self.next_batch = 0  # the next global batch of this epoch not yet consumed
        self._consumed = 0  # batches this rank consumed since next_batch was set
        self._epochs_served = 0  # in a DataLoader worker: epochs this copy has been iterated for
        self._open: list[TokenShard] | None = None
        _warm_up({row["dtype"] for row in self.rows})

    # ------------------------------------------------------------------ where the shards are
    def _resolve(self, source: Any, workspace: Any) -> None:
        from datamill.core.dataset import Dataset

        if isinstance(source, Dataset):
            dataset, objects = source, source.store
        else:
            if workspace is None:
                from datamill.store import Workspace

                workspace = Workspace.find()
            dataset = workspace.open(str(source))
            objects = workspace.objects
        rows = dataset.to_arrow().to_pylist()
        if not rows or "tokens_path" not in rows[0]:
            raise ConfigError(f"StreamingDataset: {dataset.ref!r} is not a token version (it has no "
                              "`tokens_path` column); make one with `llm.pack` or `datamill tokenize`.")
        self.version = dataset.id
        self.rows = rows
        self.store_url, self.storage_options = objects.url, objects.storage_options
        self.strategy = rows[0]["strategy"]
        self.block = rows[0]["block"]

    def _shards(self) -> list[TokenShard]:
        if self._open is None:
            store = ObjectStore(self.store_url, self.storage_options)
            self._open = [TokenShard.open(store, row, cache_dir=self.cache_dir) for row in self.rows]
        return self._open

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_open"] = None  # memory maps are reopened in each worker
        return state

    # ------------------------------------------------------------------ the epoch's schedule
    def _fingerprint(self) -> str:
        settings = [self.version, self.batch_size, self.shuffle, self.seed, self.shuffle_window, self.bucket,
                    self.max_tokens, self.pad_multiple]
        return hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]

    def schedule(self, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The epoch's global batches: ``(shard of each sample, sequence in it, batch offsets)``;
        batch ``g`` is samples ``offsets[g]:offsets[g+1]``. The same in every process."""
        epoch = self.epoch if epoch is None else epoch
        shards = self._shards()
        counts = np.array([s.num_sequences for s in shards], np.int64)
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(shards)) if self.shuffle else np.arange(len(shards))
        shard_of = np.repeat(order, counts[order])
        seq_of = np.concatenate([np.arange(counts[i]) for i in order]) if len(order) else np.zeros(0, np.int64)
        if self.shuffle:
            for lo in range(0, len(shard_of), self.shuffle_window):
                perm = lo + rng.permutation(min(self.shuffle_window, len(shard_of) - lo))
                shard_of[lo:lo + len(perm)], seq_of[lo:lo + len(perm)] = shard_of[perm], seq_of[perm]
        if self.bucket:
            base = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
            every = np.concatenate([s.lengths() for s in shards]) if shards else np.zeros(0, np.int64)
            lengths = every[base[shard_of] + seq_of]
            groups = bucket_batches(lengths, batch_size=self.batch_size, max_tokens=self.max_tokens,
                                    pad_multiple=self.pad_multiple,
                                    window=max(1, self.shuffle_window // self.batch_size),
                                    seed=int(rng.integers(1 << 62)))
            flat = np.concatenate(groups) if groups else np.zeros(0, np.int64)
            shard_of, seq_of = shard_of[flat], seq_of[flat]
            offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
        else:
            offsets = np.append(np.arange(0, len(shard_of), self.batch_size), len(shard_of)).astype(np.int64)
            if len(shard_of) == 0:
                offsets = np.zeros(1, np.int64)
        return shard_of, seq_of, offsets

    def num_batches(self) -> int:
        """Global batches in an epoch (over all ranks)."""
        return len(self.schedule()[2]) - 1

    # ------------------------------------------------------------------ iteration
    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        in_main = info is None
        if not in_main and self._epochs_served:
            # A persistent worker's next epoch: its copy still holds the position it was
            # started with, and the loader only goes on to a new epoch after finishing one.
            self.epoch, self.next_batch, self._consumed = self.epoch + 1, 0, 0
        self._epochs_served += 1
        shard_of, seq_of, offsets = self.schedule()
        # This rank's remaining global batches, in order (the schedule is made once an epoch).
        mine = range(self.next_batch + self.rank, len(offsets) - 1, self.world_size)[self._consumed:]
        if not in_main:
            assert info is not None
            mine = mine[info.id::info.num_workers]
        shards = self._shards()
        for g in mine:
            packed = self._pack(shards, shard_of[offsets[g]:offsets[g + 1]], seq_of[offsets[g]:offsets[g + 1]])
            if in_main:
                self._consumed += 1
                yield unpack(packed)
            else:  # `StreamingLoader` unpacks it in the main process
                yield packed  # type: ignore[misc]
        if in_main:
            self.end_epoch()

    def end_epoch(self) -> None:
        """Move the state to the start of the next epoch."""
        self.epoch += 1
        self.next_batch = 0
        self._consumed = 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` from its first batch (as ``DistributedSampler.set_epoch``)."""
        self.epoch, self.next_batch, self._consumed = epoch, 0, 0

    def collate(self, shards: list[TokenShard], shard_of: np.ndarray, seq_of: np.ndarray) -> dict[str, torch.Tensor]:
        """One batch: ids padded to the longest (rounded up), mask, labels, position ids."""
        return unpack(self._pack(shards, shard_of, seq_of))

    def _pack(self, shards: list[TokenShard], shard_of: np.ndarray, seq_of: np.ndarray) -> Packed:
        """The batch as one flat tensor and its layout (see `unpack`).

        One storage per batch: a DataLoader worker hands the main process one shared-memory
        block (each tensor crossing the boundary costs a file descriptor handed over a socket).
        """
        rows = len(seq_of)
        single = rows == 1 or bool((shard_of == shard_of[0]).all())
        if single:  # the usual case: the whole batch in one compiled call
            shard = shards[int(shard_of[0])]
            flat_array, width, padded = one_shard_batch(
                shard.tokens, shard.offsets, shard.doc_starts, seq_of, pad_multiple=self.pad_multiple,
                pad_id=self.pad_id, ignore=IGNORE_INDEX, segments=self.segment_ids,
                extra=rows if self.sample_ids else 0)
            names = ("input_ids", "labels", "position_ids", *(("attention_mask",) if padded else ()),
                     *(("segment_ids",) if self.segment_ids else ()))
            if self.sample_ids:
                first = int(sum(sh.num_sequences for sh in shards[:int(shard_of[0])]))
                flat_array[len(names) * rows * width:-1] = first + seq_of
            return torch.from_numpy(flat_array), rows, width, names, self.sample_ids
        # A batch across shards (at a shard's edge): row by row, each shard's rows in one call.
        lo, hi = np.empty(rows, np.int64), np.empty(rows, np.int64)
        for s in np.unique(shard_of):
            where = shard_of == s
            offsets = shards[int(s)].offsets
            lo[where], hi[where] = offsets[seq_of[where]], offsets[seq_of[where] + 1]
        lengths = hi - lo
        longest = int(lengths.max())
        width = -(-longest // self.pad_multiple) * self.pad_multiple
        padded = width != longest or int(lengths.min()) != width
        names = ("input_ids", "labels", "position_ids", *(("attention_mask",) if padded else ()),
                 *(("segment_ids",) if self.segment_ids else ()))
        area = rows * width
        # Planes, then the sample ids (when asked), then a single 1 that an unpadded batch's mask
        # is a broadcast view of.
        flat = np.empty(len(names) * area + rows * self.sample_ids + 1, np.int64)
        buf = flat[:len(names) * area].reshape(len(names), rows, width)
        mask = buf[3] if padded else None
        segments = buf[len(names) - 1] if self.segment_ids else None
        for s, where in ((int(s), np.flatnonzero(shard_of == s)) for s in np.unique(shard_of)):
            shard = shards[s]
            fill_rows(shard.tokens, lo[where], hi[where], where, shard.doc_starts, buf[0], buf[1], buf[2], mask,
                      segments, pad_id=self.pad_id, ignore=IGNORE_INDEX)
        if self.sample_ids:
            first_seq = np.cumsum([0] + [sh.num_sequences for sh in shards])
            flat[len(names) * area:-1] = first_seq[shard_of] + seq_of
        flat[-1] = 1
        return torch.from_numpy(flat), rows, width, names, self.sample_ids

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Where this rank is: enough for `load_state_dict` to go on with the next unseen batch."""
        return {"format": 1, "epoch": self.epoch, "next_batch": self.next_batch + self._consumed * self.world_size,
                "world_size": self.world_size, "settings": self._fingerprint()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Go on from ``state`` (from any rank of a run with any world size and worker count)."""
        if state.get("format") != 1:
            raise ConfigError("StreamingDataset.load_state_dict: not a state this datamill wrote")
        if state["settings"] != self._fingerprint():
            raise ConfigError("StreamingDataset.load_state_dict: the state was saved with another token version, "
                              "batch size, seed, shuffling or bucketing; resume with the same settings.")
        self.epoch, self.next_batch, self._consumed = int(state["epoch"]), int(state["next_batch"]), 0
        if self.next_batch >= self.num_batches():
            self.end_epoch()

    def loader(self, num_workers: int = 0, **options: Any) -> StreamingLoader:
        """A DataLoader over whole batches that keeps this dataset's state current."""
        return StreamingLoader(self, num_workers=num_workers, **options)


class StreamingLoader:
    """Iterates a `StreamingDataset` through a torch DataLoader (whole batches from each worker,
    handed back in order) and counts the batches delivered, so ``state_dict()`` is exact.

    The workers persist from one epoch to the next (no start-up wait at an epoch's start): each
    knows how many epochs it has served. They are started afresh when the position moved in a way
    they cannot know of: an epoch left unfinished, ``load_state_dict`` or ``set_epoch``.
    """

    def __init__(self, dataset: StreamingDataset, *, num_workers: int = 0, **options: Any) -> None:
        if "persistent_workers" in options:
            raise ConfigError("StreamingLoader: workers already persist across epochs; do not pass "
                              "persistent_workers")
        self.dataset = dataset
        self.num_workers = num_workers
        self.options = options
        self._loader: DataLoader[Any] | None = None
        self._expect: tuple[int, int, int] | None = None

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        ds = self.dataset
        if self.num_workers == 0:
            yield from ds
            return
        here = (ds.epoch, ds.next_batch, ds._consumed)
        if self._loader is None or self._expect != here:
            ds._epochs_served = 0  # the copies the new workers get start counting afresh
            self._loader = DataLoader(ds, batch_size=None, num_workers=self.num_workers, persistent_workers=True,
                                      **self.options)
        self._expect = None
        for packed in self._loader:
            ds._consumed += 1
            yield unpack(packed)
        ds.end_epoch()
        self._expect = (ds.epoch, 0, 0)

    def state_dict(self) -> dict[str, Any]:
        """The dataset's state."""
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the dataset."""
        self.dataset.load_state_dict(state)
