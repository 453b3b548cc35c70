"""``llm.pack``: token ids into token shards, packed into training blocks.

An Aggregate whose output is a summary: the first pass packs each partition and writes its
token shards straight into the store; the merge carries what did not fill a block from one
partition to the next (``chunk``), so no token is lost at a partition's edge; the output
version is the shard table (`datamill.llm.shards`), with the shards' objects in its manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datamill.core.errors import ConfigError
from datamill.llm.packing import ChunkPacker, best_fit_decreasing, gather, split_long
from datamill.llm.shards import TokenShardInfo, TokenShardWriter, shard_table
from datamill.pipeline import Aggregate, StepConfig, StepContext, register

__all__ = ["Pack", "PackConfig", "PackState", "tokens_meta"]

Strategy = Literal["chunk", "bfd", "none"]


class PackConfig(StepConfig):
    tokens_column: str = Field("tokens", min_length=1, description="The token ids (from `llm.tokenize`).")
    strategy: Strategy = Field(
        "chunk", description="`chunk`: back to back, cut into blocks; `bfd`: best-fit decreasing, "
        "documents shorter than the block never split; `none`: one sequence per document.")
    block: int = Field(2048, ge=2, le=1 << 24, description="Tokens per training block.")
    window: int = Field(65_536, ge=1, description="Documents packed together by `bfd` (their tokens are held "
                        "in memory meanwhile).")
    tokens_per_shard: int = Field(1 << 26, ge=1024, description="Tokens per shard file (64 Mi by default).")


@dataclass
class PackState:
    """A partition's shards, the tokens still waiting for a block, and counts."""

    shards: list[TokenShardInfo] = field(default_factory=list)
    tail: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    tail_starts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    documents: int = 0
    tokens: int = 0
    sequences: int = 0
    pad_tokens: int = 0
    dtype: str | None = None
    meta: dict[str, str] = field(default_factory=dict)


def tokens_meta(field_: pa.Field) -> dict[str, str]:
    """The tokenizer facts ``llm.tokenize`` leaves on its column (hash, vocabulary size, ...)."""
    raw = field_.metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k.startswith(b"datamill.")}


def _dtype_of(field_: pa.Field, step: str) -> str:
    kind = field_.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_integer(kind.value_type):
        raise ConfigError(f"step {step!r}: column {field_.name!r} is {kind}, not a list of token ids; "
                          "put `llm.tokenize` before `llm.pack`.")
    return "uint16" if kind.value_type in (pa.uint8(), pa.uint16(), pa.int8()) else "uint32"


@register("llm.pack")
class Pack(Aggregate[PackConfig, PackState, PackState]):
    """Pack token ids into token shards; the output lists the shards.

    Ledger: every document with tokens is merged into the shards, one without (null ids) is
    dropped as ``no_tokens``; each shard row is created. Metrics: ``tokens``, ``documents``,
    ``sequences``, ``pad_tokens`` (padding each sequence to the block would add).

    >>> PackConfig(strategy="bfd", block=1024).window
    65536
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The token column."""
        return {self.config.tokens_column: "tokens_column"}

    def partial(self, batches: Any, ctx: StepContext) -> PackState:
        """Pack one partition, writing its shards; keep what does not fill a block (``chunk``)."""
        config = self.config
        schema = ctx.input_schemas[ctx.input_index] if ctx.input_schemas else None
        state = PackState()
        writer: TokenShardWriter | None = None
        packer: ChunkPacker | None = None
        window: list[tuple[np.ndarray, np.ndarray]] = []
        window_docs = 0
        for batch in batches:
            if config.tokens_column not in batch.schema.names:
                raise ConfigError(f"step {ctx.step_id!r}: no column {config.tokens_column!r}; the input has "
                                  f"{', '.join(batch.schema.names)}. Put `llm.tokenize` before `llm.pack`.")
            if state.dtype is None:
                field_ = (schema if schema is not None and config.tokens_column in schema.names
                          else batch.schema).field(config.tokens_column)
                state.dtype = _dtype_of(field_, ctx.step_id)
                state.meta = tokens_meta(field_)
                packer = ChunkPacker(config.block, np.dtype(state.dtype))
                if ctx.store is None:
                    raise ConfigError(f"step {ctx.step_id!r}: `llm.pack` writes to the store, so it runs "
                                      "inside a pipeline run")
                writer = TokenShardWriter(ctx.store, state.dtype, tokens_per_shard=config.tokens_per_shard)
            assert writer is not None and packer is not None
            column = batch.column(config.tokens_column)
            nulls = column.null_count
            ctx.ledger.rows_in += batch.num_rows
            ctx.ledger.merged += batch.num_rows - nulls
            ctx.ledger.add_dropped("no_tokens", nulls)
            lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            values = column.flatten().to_numpy(zero_copy_only=False)
            if len(values) and (values.min() < 0 or values.max() >= (1 << 32)):
                raise ConfigError(f"step {ctx.step_id!r}: token ids must lie in 0 … 2**32-1")
            lengths = lengths[column.is_valid().to_numpy(zero_copy_only=False)] if nulls else lengths
            state.documents += batch.num_rows - nulls
            state.tokens += len(values)
            if config.strategy == "chunk":
                self._write(writer, state, *packer.feed(values, lengths))
            elif config.strategy == "none":
                kept = lengths[lengths > 0]
                self._write(writer, state, values, kept, np.concatenate([[0], np.cumsum(kept[:-1])]))
            else:
                window.append((values, lengths))
                window_docs += len(lengths)
                if window_docs >= config.window:
                    self._bfd(writer, state, window)
                    window, window_docs = [], 0
        if window and writer is not None:
            self._bfd(writer, state, window)
        if packer is not None:
            state.tail, state.tail_starts = packer.tail, packer.tail_starts
        if writer is not None:
            state.shards = writer.close()
        ctx.metric("tokens", state.tokens)
        ctx.metric("documents", state.documents)
        return state

    def _write(self, writer: TokenShardWriter, state: PackState, tokens: np.ndarray, lengths: np.ndarray,
               starts: np.ndarray) -> None:
        if len(lengths) == 0:
            return
        writer.add(tokens, lengths, starts)
        state.sequences += len(lengths)
        if self.config.strategy != "none":
            state.pad_tokens += int(np.sum(self.config.block - lengths))

    def _bfd(self, writer: TokenShardWriter, state: PackState, window: list[tuple[np.ndarray, np.ndarray]]) -> None:
        tokens = np.concatenate([t for t, _ in window])
        lengths = np.concatenate([n for _, n in window])
        lengths = lengths[lengths > 0]
        doc, offset, piece = split_long(lengths, self.config.block)
        doc_start = np.zeros(len(lengths), np.int64)
        np.cumsum(lengths[:-1], out=doc_start[1:])
        bins = best_fit_decreasing(piece, self.config.block)
        # Sequences in bin order; within one, pieces in the order they were placed (longest first).
        order = np.lexsort((np.argsort(np.argsort(-piece, kind="stable")), bins))
        packed = gather(tokens, doc_start[doc] + offset, piece, order)
        seq_lengths = np.bincount(bins, weights=piece).astype(np.int64)
        piece_pos = np.zeros(len(order), np.int64)
        np.cumsum(piece[order][:-1], out=piece_pos[1:])
        starts = piece_pos[offset[order] == 0]  # a piece that begins its document
        self._write(writer, state, packed, seq_lengths, starts)

    def merge(self, left: PackState, right: PackState) -> PackState:
        """Shards in partition order; the tails joined, still waiting for a block."""
        return PackState(
            shards=left.shards + right.shards,
            tail=np.concatenate([left.tail, right.tail.astype(left.tail.dtype, copy=False)]),
            tail_starts=np.concatenate([left.tail_starts, right.tail_starts + len(left.tail)]),
            documents=left.documents + right.documents, tokens=left.tokens + right.tokens,
            sequences=left.sequences + right.sequences, pad_tokens=left.pad_tokens + right.pad_tokens,
            dtype=left.dtype or right.dtype, meta=left.meta or right.meta)

    def finalize(self, state: PackState) -> PackState:
        """Cut the joined tails into blocks (and one last, shorter block) as a final shard."""
        if len(state.tail) and state.dtype is not None:
            from datamill.store.workspace import active_workspace

            writer = TokenShardWriter(active_workspace().objects, state.dtype,
                                      tokens_per_shard=self.config.tokens_per_shard)
            packer = ChunkPacker(self.config.block, state.tail.dtype)
            packer.tail, packer.tail_starts = state.tail, state.tail_starts
            self._write(writer, state, *packer.feed(state.tail[:0], np.zeros(0, np.int64)))
            self._write(writer, state, *packer.finish())
            state.shards = state.shards + writer.close()
            state.tail = state.tail[:0]
        return state

    def output(self, model: PackState) -> pa.Table:
        """The token version: one row per shard."""
        vocab = model.meta.get("datamill.vocab_size")
        return shard_table(model.shards, strategy=self.config.strategy,
                           block=None if self.config.strategy == "none" else self.config.block,
                           tokenizer_sha256=model.meta.get("datamill.tokenizer_sha256"),
                           vocab_size=int(vocab) if vocab else None)

    def output_files(self, model: PackState) -> list[dict[str, Any]]:
        """The shards' objects: the version's manifest lists them, so they are kept and checked."""
        return [{"path": key, "sha256": sha} for s in model.shards
                for key, sha in ((s.tokens_path, s.tokens_sha256), (s.index_path, s.index_sha256))]

    def output_metrics(self, model: PackState) -> dict[str, float]:
        """Sequences and padding, known only once the tails are packed."""
        return {"sequences": float(model.sequences), "pad_tokens": float(model.pad_tokens)}
