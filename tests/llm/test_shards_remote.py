"""Token shards in an S3 store (moto): written by llm.pack, streamed through a local cache; and
damaged shards are refused with a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import datamill as dm
from datamill.core.errors import StoreError
from datamill.llm.shards import TokenShard, encode_index, read_index
from datamill.llm.stream import StreamingDataset
from tests.llm.conftest import pack_spec, write_corpus


def test_token_shards_on_s3_stream_through_a_local_cache(tmp_path: Path, bpe_file: Path,
                                                         s3: dict[str, Any]) -> None:
    (tmp_path / "tokenizer.json").write_bytes(bpe_file.read_bytes())
    write_corpus(tmp_path, docs=45)
    ws = dm.Workspace.init(tmp_path / "ws", store=s3["store"], storage_options=s3["storage_options"])
    try:
        dm.Pipeline.from_dict(pack_spec("chunk", 128, tokens_per_shard=5_000), base_dir=tmp_path).run(ws)
        rows = ws.open("tok_chunk.packed").to_arrow().to_pylist()
        assert len(rows) > 2 and ws.verify(ws.open("tok_chunk.packed").id) is None
        cache = tmp_path / "cache"
        dataset = StreamingDataset("tok_chunk.packed", workspace=ws, batch_size=4, sample_ids=True,
                                   cache_dir=str(cache))
        seen = [i for batch in dataset.loader(num_workers=2) for i in batch["sample_ids"].tolist()]
        assert sorted(seen) == list(range(sum(r["sequences"] for r in rows)))
        cached = {p.name for p in cache.rglob("*") if p.is_file()}
        assert cached == {f"{r[k + '_sha256']}.{'bin' if k == 'tokens' else 'idx'}" for r in rows
                          for k in ("tokens", "index")}
        local = TokenShard.open(ws.objects, rows[0], cache_dir=str(cache))
        assert int(local.offsets[-1]) == rows[0]["tokens"]
    finally:
        ws.close()


def test_damaged_shards_are_refused(tmp_path: Path) -> None:
    index = encode_index(np.array([0, 4, 6]), np.array([0, 4]), 2)
    with pytest.raises(StoreError, match="bad magic"):
        read_index(b"NOTINDEX" + index[8:])
    with pytest.raises(StoreError, match="damaged"):
        read_index(index[:-8])
    with pytest.raises(StoreError, match="shorter than its header"):
        read_index(index[:10])
    newer = bytearray(index)
    newer[8] = 9
    with pytest.raises(StoreError, match="upgrade datamill"):
        read_index(bytes(newer))
    from datamill.store.objects import ObjectStore

    store = ObjectStore(str(tmp_path))
    (tmp_path / "shards").mkdir()
    (tmp_path / "shards" / "t.bin").write_bytes(b"\x01\x00" * 5)  # 5 ids where the index says 6
    (tmp_path / "shards" / "t.idx").write_bytes(index)
    row = {"tokens_path": "shards/t.bin", "tokens_sha256": "x", "index_path": "shards/t.idx", "index_sha256": "y"}
    with pytest.raises(StoreError, match="does not match its index"):
        TokenShard.open(store, row)
    with pytest.raises(StoreError, match="missing"):
        TokenShard.open(store, {**row, "tokens_path": "shards/gone.bin"})
