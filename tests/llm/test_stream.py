"""StreamingDataset: full coverage without overlap over ranks × workers, and exact resume at
random steps, with another worker count, another world size, and twice in a row."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

import datamill as dm
from datamill.llm.shards import TokenShard
from datamill.llm.stream import IGNORE_INDEX, StreamingDataset

REF = "tok_chunk.packed"


def dataset(ws: dm.Workspace, **options: object) -> StreamingDataset:
    return StreamingDataset(REF, workspace=ws, batch_size=8, sample_ids=True, shuffle_window=97, **options)


def ids_of(batches: list[dict[str, torch.Tensor]]) -> list[int]:
    return [i for b in batches for i in b["sample_ids"].tolist()]


def take(ds: StreamingDataset, workers: int, steps: int | None = None) -> list[dict[str, torch.Tensor]]:
    """Up to ``steps`` batches (all when None) through the dataset's loader."""
    out = []
    for batch in ds.loader(num_workers=workers):
        out.append(batch)
        if steps is not None and len(out) == steps:
            break
    return out


def total(ws: dm.Workspace) -> int:
    return sum(r["sequences"] for r in ws.open(REF).to_arrow().to_pylist())


@pytest.mark.parametrize("workers", [0, 2])
def test_one_epoch_sees_every_sequence_once(packed: tuple[dm.Workspace, Path], workers: int) -> None:
    ws, _ = packed
    ds = dataset(ws)
    seen = ids_of(take(ds, workers))
    assert sorted(seen) == list(range(total(ws)))
    assert ds.state_dict()["epoch"] == 1 and ds.state_dict()["next_batch"] == 0


def test_ranks_times_workers_split_without_overlap(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    seen: list[int] = []
    for rank in range(4):
        seen += ids_of(take(dataset(ws, rank=rank, world_size=4), workers=2))
    assert sorted(seen) == list(range(total(ws)))


def test_order_is_a_function_of_seed_and_epoch(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    first = ids_of(take(dataset(ws), 0))
    assert first == ids_of(take(dataset(ws), 2))  # workers do not change the order
    ds = dataset(ws)
    ds.set_epoch(1)
    assert ids_of(take(ds, 0)) != first
    assert ids_of(take(dataset(ws, seed=1), 0)) != first
    assert ids_of(take(dataset(ws, shuffle=False), 0)) == list(range(total(ws)))


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_resume_at_random_steps_with_other_worker_counts(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    whole = ids_of(take(dataset(ws), 0))
    batches = len(whole) // 8 + 1
    rng = random.Random(7)
    for before, after in ((0, 2), (2, 0), (2, 3), (1, 1)):
        stop = rng.randrange(1, batches - 1)
        first = dataset(ws)
        seen = ids_of(take(first, before, stop))
        second = dataset(ws)
        second.load_state_dict(first.state_dict())
        seen += ids_of(take(second, after))
        assert seen == whole, (before, after, stop)


def test_resuming_twice_is_the_same_as_never_stopping(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    whole = ids_of(take(dataset(ws), 0))
    first = dataset(ws)
    seen = ids_of(take(first, 2, 5))
    second = dataset(ws)
    second.load_state_dict(first.state_dict())
    seen += ids_of(take(second, 1, 11))
    third = dataset(ws)
    third.load_state_dict(second.state_dict())
    seen += ids_of(take(third, 2))
    assert seen == whole
    assert third.state_dict()["epoch"] == 1


@pytest.mark.parametrize(("old", "new"), [(4, 2), (2, 3), (1, 4)])
def test_resume_with_another_world_size_covers_the_rest_once(packed: tuple[dm.Workspace, Path],
                                                              old: int, new: int) -> None:
    ws, _ = packed
    steps = random.Random(old * 10 + new).randrange(1, 10)
    seen: list[int] = []
    states = []
    for rank in range(old):  # the ranks step together, so each stops after `steps` batches
        ds = dataset(ws, rank=rank, world_size=old)
        seen += ids_of(take(ds, 1, steps))
        states.append(ds.state_dict())
    assert all(s == states[0] for s in states)
    for rank in range(new):
        ds = dataset(ws, rank=rank, world_size=new)
        ds.load_state_dict(states[rank % old])
        seen += ids_of(take(ds, 2))
    counts = Counter(seen)
    assert sorted(counts) == list(range(total(ws))) and set(counts.values()) == {1}


def test_a_changed_setting_is_refused(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    state = dataset(ws).state_dict()
    with pytest.raises(dm.ConfigError, match="same settings"):
        StreamingDataset(REF, workspace=ws, batch_size=4).load_state_dict(state)
    with pytest.raises(dm.ConfigError, match="not a token version"):
        StreamingDataset("tok_chunk.tokens", workspace=ws)
    with pytest.raises(dm.ConfigError, match="rank 4"):
        dataset(ws, rank=4, world_size=4)


def test_batches_hold_ids_mask_labels_and_positions_that_restart_per_document(
        packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    ds = StreamingDataset(REF, workspace=ws, batch_size=8, shuffle=False, sample_ids=True, segment_ids=True)
    shards = [TokenShard.open(ws.objects, row) for row in ws.open(REF).to_arrow().to_pylist()]
    flat = [(s, i) for s in shards for i in range(s.num_sequences)]
    for batch in take(ds, 0):
        assert set(batch) == {"input_ids", "attention_mask", "labels", "position_ids", "sample_ids", "segment_ids"}
        for row, sample in enumerate(batch["sample_ids"].tolist()):
            shard, i = flat[sample]
            lo, hi = shard.offsets[i], shard.offsets[i + 1]
            n = hi - lo
            assert batch["input_ids"][row, :n].tolist() == shard.tokens[lo:hi].tolist()
            assert batch["attention_mask"][row].sum() == n
            assert (batch["labels"][row, n:] == IGNORE_INDEX).all()
            starts = [int(s - lo) for s in shard.doc_starts if lo <= s < hi]
            positions = batch["position_ids"][row, :n].numpy()
            for b in starts:
                assert positions[b] == 0
            expected_segments = np.searchsorted([b for b in starts if b > 0], np.arange(n), side="right")
            assert np.array_equal(batch["segment_ids"][row, :n].numpy(), expected_segments)


def test_bucketing_pads_little_and_stays_in_budget(packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    ds = StreamingDataset("tok_none.packed", workspace=ws, batch_size=8, bucket=True, max_tokens=4096,
                          pad_multiple=8, sample_ids=True)
    batches = take(ds, 2)
    assert sorted(ids_of(batches)) == list(range(ws.open("tok_none.packed").to_arrow()["sequences"]
                                                 .to_numpy().sum()))
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["input_ids"].numel() for b in batches)
    assert all(b["input_ids"].numel() <= 4096 or len(b["input_ids"]) == 1 for b in batches)
    assert 1 - real / padded < 0.05
    assert all(b["input_ids"].shape[1] % 8 == 0 for b in batches)


def test_workers_persist_across_epochs_and_restart_when_the_position_moves(
        packed: tuple[dm.Workspace, Path]) -> None:
    ws, _ = packed
    ds = dataset(ws)
    loader = ds.loader(num_workers=2)
    first = ids_of(list(loader))
    workers = loader._loader
    second = ids_of(list(loader))  # the same worker processes serve the next epoch
    assert loader._loader is workers
    assert sorted(first) == sorted(second) == list(range(total(ws))) and first != second
    again = dataset(ws)
    again.set_epoch(1)
    assert ids_of(take(again, 0)) == second
    # A state loaded in between restarts the workers: the loaded position wins.
    stop = dataset(ws)
    partial = ids_of(take(stop, 2, 4))
    ds.load_state_dict(stop.state_dict())
    assert ids_of(list(loader)) == first[len(partial):] and loader._loader is not workers
    # So does an epoch left unfinished.
    ds.set_epoch(0)
    head = ids_of(take(ds, 2, 3))
    assert head + ids_of(list(loader)) == first
