"""Token shards: memory-mappable token files, an index of sequence offsets, and a manifest.

A token shard is two content-addressed objects in the store, in the spirit of Megatron's and
nanoGPT's ``.bin``/``.idx``:

``shards/ab/<sha256>.bin``
    The token ids of every sequence, back to back, as raw little-endian ``uint16`` or
    ``uint32`` (no header, so ``np.memmap(path, dtype)`` reads it as is).
``shards/cd/<sha256>.idx``
    A 48-byte header, then two little-endian ``int64`` arrays::

        magic      8 bytes  b"DMTOKIDX"
        format     uint32   1
        itemsize   uint32   2 (uint16 ids) or 4 (uint32 ids)
        sequences  uint64   n_seq
        documents  uint64   n_doc
        tokens     uint64   n_tok
        reserved   uint64   0
        sequence_offsets  int64[n_seq + 1]   where each sequence starts in the .bin (tokens)
        document_starts   int64[n_doc]       where each document starts (tokens, ascending)

    A sequence ``i`` is ``bin[offsets[i]:offsets[i+1]]``. A document that a packed sequence
    continues from the one before has no start inside it, so position ids restart only where a
    document really starts.

The *manifest* is the token version itself: a small table with one row per shard (both keys,
their hashes, counts, the id type, the tokenizer's hash, the packing), written as a dataset
version with the run's lineage. See ``docs/llm.md``.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from datamill.core.errors import StoreError
from datamill.store.objects import ObjectStore

__all__ = [
    "SHARD_SCHEMA",
    "TokenShard",
    "TokenShardInfo",
    "TokenShardWriter",
    "read_index",
    "shard_table",
]

MAGIC = b"DMTOKIDX"
FORMAT = 1
_HEADER = struct.Struct("<8sIIQQQQ")

SHARD_SCHEMA = pa.schema([
    pa.field("shard", pa.int32(), nullable=False),
    pa.field("tokens_path", pa.string(), nullable=False),
    pa.field("tokens_sha256", pa.string(), nullable=False),
    pa.field("index_path", pa.string(), nullable=False),
    pa.field("index_sha256", pa.string(), nullable=False),
    pa.field("dtype", pa.string(), nullable=False),
    pa.field("tokens", pa.int64(), nullable=False),
    pa.field("sequences", pa.int64(), nullable=False),
    pa.field("documents", pa.int64(), nullable=False),
    pa.field("bytes", pa.int64(), nullable=False),
    pa.field("strategy", pa.string(), nullable=False),
    pa.field("block", pa.int32()),
    pa.field("tokenizer_sha256", pa.string()),
    pa.field("vocab_size", pa.int64()),
])


@dataclass(frozen=True)
class TokenShardInfo:
    """One written token shard: its two objects and what they hold."""

    tokens_path: str
    tokens_sha256: str
    index_path: str
    index_sha256: str
    dtype: str
    tokens: int
    sequences: int
    documents: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _dtype(name: str) -> np.dtype[Any]:
    if name not in ("uint16", "uint32"):
        raise StoreError(f"token shards hold uint16 or uint32 ids, not {name!r}")
    return np.dtype(name).newbyteorder("<")


def encode_index(offsets: np.ndarray, doc_starts: np.ndarray, itemsize: int) -> bytes:
    """The bytes of an ``.idx`` file (see the module docstring)."""
    header = _HEADER.pack(MAGIC, FORMAT, itemsize, len(offsets) - 1, len(doc_starts), int(offsets[-1]), 0)
    return header + offsets.astype("<i8").tobytes() + doc_starts.astype("<i8").tobytes()


def read_index(data: bytes | memoryview) -> tuple[str, np.ndarray, np.ndarray]:
    """``(dtype, sequence_offsets, document_starts)`` from the bytes of an ``.idx`` file.

    >>> dtype, offsets, starts = read_index(encode_index(np.array([0, 3, 5]), np.array([0, 2]), 2))
    >>> dtype, offsets.tolist(), starts.tolist()
    ('uint16', [0, 3, 5], [0, 2])
    """
    if len(data) < _HEADER.size:
        raise StoreError("not a datamill token index: the file is shorter than its header")
    magic, fmt, itemsize, n_seq, n_doc, n_tok, _ = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise StoreError("not a datamill token index: bad magic bytes")
    if fmt != FORMAT:
        raise StoreError(f"token index format {fmt} is newer than this datamill reads ({FORMAT}); upgrade datamill")
    want = _HEADER.size + 8 * (n_seq + 1 + n_doc)
    if len(data) != want or itemsize not in (2, 4):
        raise StoreError(f"token index is damaged: {len(data)} bytes where the header says {want}")
    offsets = np.frombuffer(data, "<i8", n_seq + 1, _HEADER.size)
    starts = np.frombuffer(data, "<i8", n_doc, _HEADER.size + 8 * (n_seq + 1))
    if offsets[-1] != n_tok:
        raise StoreError("token index is damaged: its offsets do not end at its token count")
    return ("uint16" if itemsize == 2 else "uint32"), offsets, starts


class TokenShardWriter:
    """Writes sequences into token shards, starting a new shard past ``tokens_per_shard``.

    Tokens go straight to a temp file as they come (hashed on the way) and the shard is moved
    to its content address when it is finished, so a killed writer leaves only ``tmp/``.

    >>> import tempfile
    >>> store = ObjectStore(tempfile.mkdtemp())
    >>> writer = TokenShardWriter(store, "uint16")
    >>> writer.add(np.arange(6), np.array([4, 2]), np.array([0, 3]))
    >>> [(s.sequences, s.tokens, s.documents) for s in writer.close()]
    [(2, 6, 2)]
    """

    def __init__(self, store: ObjectStore, dtype: str, *, tokens_per_shard: int = 1 << 26) -> None:
        self.store = store
        self.dtype = _dtype(dtype)
        self.dtype_name = dtype
        self.tokens_per_shard = tokens_per_shard
        self.shards: list[TokenShardInfo] = []
        self._handle: Any = None
        self._tmp = ""
        self._digest: Any = None
        self._lengths: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []
        self._tokens = 0

    def add(self, tokens: np.ndarray, lengths: np.ndarray, doc_starts: np.ndarray) -> None:
        """Append sequences: ``tokens`` back to back, each sequence's length, and where documents
        start (offsets into ``tokens``). A shard always ends on a sequence boundary."""
        if len(lengths) == 0:
            return
        if self._handle is None:
            self._open()
        data = np.ascontiguousarray(tokens, dtype=self.dtype)
        raw = data.view(np.uint8).data
        self._handle.write(raw)
        self._digest.update(raw)
        self._lengths.append(np.asarray(lengths, np.int64))
        self._starts.append(np.asarray(doc_starts, np.int64) + self._tokens)
        self._tokens += len(data)
        if self._tokens >= self.tokens_per_shard:
            self._finish()

    def _open(self) -> None:
        self.store.fs.makedirs(self.store.path("tmp"), exist_ok=True)
        self._tmp = self.store.tmp_key(".bin")
        self._handle = self.store.fs.open(self.store.path(self._tmp), "wb")
        self._digest = hashlib.sha256()
        self._lengths, self._starts, self._tokens = [], [], 0

    def _finish(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        lengths = np.concatenate(self._lengths)
        offsets = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = np.concatenate(self._starts)
        digest = self._digest.hexdigest()
        tokens_key = f"shards/{digest[:2]}/{digest}.bin"
        self.store.commit(self._tmp, tokens_key)
        index = encode_index(offsets, starts, self.dtype.itemsize)
        index_sha = hashlib.sha256(index).hexdigest()
        index_key = f"shards/{index_sha[:2]}/{index_sha}.idx"
        tmp = self.store.tmp_key(".idx")
        with self.store.fs.open(self.store.path(tmp), "wb") as handle:
            handle.write(index)
        self.store.commit(tmp, index_key)
        self.shards.append(TokenShardInfo(tokens_key, digest, index_key, index_sha, self.dtype_name,
                                          self._tokens, len(lengths), len(starts),
                                          self._tokens * self.dtype.itemsize + len(index)))

    def close(self) -> list[TokenShardInfo]:
        """Finish the last shard; all shards written, in order."""
        self._finish()
        return self.shards

    def abort(self) -> None:
        """Drop the shard in progress (its temp file is removed)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            self.store.fs.rm(self.store.path(self._tmp))


def shard_table(shards: list[TokenShardInfo], *, strategy: str, block: int | None,
                tokenizer_sha256: str | None, vocab_size: int | None) -> pa.Table:
    """The token version's rows: one per shard, in order."""
    rows = [{**s.to_dict(), "shard": i, "strategy": strategy, "block": block,
             "tokenizer_sha256": tokenizer_sha256, "vocab_size": vocab_size} for i, s in enumerate(shards)]
    return pa.Table.from_pylist(rows, schema=SHARD_SCHEMA)


@dataclass
class TokenShard:
    """An open token shard: its ids (memory-mapped when local) and its index.

    Remote stores (S3, ...) are read through a local cache folder: objects are named by their
    hash, so a cached copy is never stale.
    """

    tokens: np.ndarray
    offsets: np.ndarray
    doc_starts: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_sequences(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """Each sequence's length in tokens."""
        return np.diff(self.offsets)

    @classmethod
    def open(cls, store: ObjectStore, row: dict[str, Any], *, cache_dir: str | None = None) -> TokenShard:
        """Open the shard a token version's row names."""
        index_bytes = _read_object(store, row["index_path"], row["index_sha256"], cache_dir, whole=True)
        assert isinstance(index_bytes, bytes)
        dtype, offsets, starts = read_index(index_bytes)
        # Writable copies (16 bytes a sequence): the compiled batch filler is specialised for them.
        offsets, starts = offsets.copy(), starts.copy()
        tokens_file = _read_object(store, row["tokens_path"], row["tokens_sha256"], cache_dir, whole=False)
        assert isinstance(tokens_file, str)
        count = int(offsets[-1])
        if os.path.getsize(tokens_file) != count * np.dtype(dtype).itemsize:
            raise StoreError(f"token shard {row['tokens_path']!r} is damaged: its size does not match its index")
        # A plain ndarray over the map: slicing a np.memmap costs microseconds a call.
        tokens = (np.memmap(tokens_file, dtype=np.dtype(dtype), mode="r", shape=(count,)).view(np.ndarray) if count
                  else np.zeros(0, np.dtype(dtype)))
        return cls(tokens, offsets, starts, dict(row))


def _read_object(store: ObjectStore, key: str, sha256: str, cache_dir: str | None, *,
                 whole: bool) -> bytes | str:
    """A local path to the object (``whole``: its bytes); remote objects are cached first."""
    if store.is_local:
        path = store.path(key)
        if not os.path.exists(path):
            raise StoreError(f"token shard object {key!r} is missing from the store at {store.url!r}")
        return Path(path).read_bytes() if whole else path
    folder = Path(cache_dir or os.environ.get("DATAMILL_CACHE") or Path.home() / ".cache" / "datamill") / "objects"
    local = folder / sha256[:2] / f"{sha256}{Path(key).suffix}"
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_suffix(f".{os.getpid()}.part")
        try:
            store.fs.get_file(store.path(key), str(tmp))
        except FileNotFoundError as err:
            raise StoreError(f"token shard object {key!r} is missing from the store at {store.url!r}") from err
        os.replace(tmp, local)
    return local.read_bytes() if whole else str(local)
