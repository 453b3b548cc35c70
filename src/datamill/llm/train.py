"""``tokenize.train``: train a BPE or Unigram tokenizer on a dataset's text.

The trainers are the Hugging Face ``tokenizers`` ones. Training needs every text in one
process, so the step's first pass keeps a seeded sample of each partition (all of it, up to
``max_chars``), the merge joins the samples in partition order, and training runs once. The
output version has one row: the tokenizer's JSON, its hash and what it was trained on; a later
pipeline names it in ``llm.tokenize`` as ``tokenizer: dataset:NAME``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import TEXT
from datamill.core.errors import ConfigError
from datamill.pipeline import Aggregate, StepConfig, StepContext, register

__all__ = ["TOKENIZER_SCHEMA", "TrainTokenizer", "TrainTokenizerConfig", "train_tokenizer"]

TOKENIZER_SCHEMA = pa.schema([
    pa.field("tokenizer_json", pa.large_string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("vocab_size", pa.int64(), nullable=False),
    pa.field("special_tokens", pa.list_(pa.string()), nullable=False),
    pa.field("trained_on_texts", pa.int64(), nullable=False),
    pa.field("trained_on_chars", pa.int64(), nullable=False),
])


def train_tokenizer(texts: Any, *, model: str = "bpe", vocab_size: int = 32_000,
                    special_tokens: tuple[str, ...] | list[str] = ("<|endoftext|>", "<pad>"),
                    min_frequency: int = 2) -> Any:
    """A byte-level BPE (GPT-2 style: no unknown token, any text round-trips) or a Unigram
    (SentencePiece style, Metaspace pre-tokenizer) trained on ``texts``.

    >>> tok = train_tokenizer(["low lower lowest"] * 50, vocab_size=300)
    >>> tok.decode(tok.encode("lowest lower").ids)
    'lowest lower'
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    specials = list(special_tokens)
    if model == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer: Any = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                           special_tokens=specials, show_progress=False,
                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    elif model == "unigram":
        tokenizer = Tokenizer(models.Unigram())
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
        tokenizer.decoder = decoders.Metaspace()
        unk = "<unk>"
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=[*specials, unk]
                                          if unk not in specials else specials, unk_token=unk,
                                          show_progress=False)
    else:
        raise ConfigError(f"tokenizer model must be `bpe` or `unigram`, not {model!r}")
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


class TrainTokenizerConfig(StepConfig):
    model: Literal["bpe", "unigram"] = Field("bpe", description="Byte-level BPE, or Unigram.")
    vocab_size: int = Field(32_000, ge=64, le=1 << 22, description="Vocabulary size, special tokens included.")
    special_tokens: list[str] = Field(["<|endoftext|>", "<pad>"], description="Tokens never split, with the "
                                      "first ids (put your EOS, PAD, BOS here).")
    min_frequency: int = Field(2, ge=1, description="BPE: merges seen fewer times are not learnt.")
    text_column: str = Field(TEXT, min_length=1, description="The text to train on.")
    max_chars: int = Field(200_000_000, ge=1, description="Characters sampled for training, over all "
                           "partitions (each keeps its share, seeded).")


@dataclass
class _Sample:
    texts: list[str] = field(default_factory=list)
    chars: int = 0
    seen_chars: int = 0


@register("tokenize.train")
class TrainTokenizer(Aggregate[TrainTokenizerConfig, _Sample, dict[str, Any]]):
    """Train a tokenizer on the input's text; the output is one row holding it.

    Ledger: every input row is merged into the one output row.

    >>> TrainTokenizerConfig(vocab_size=8000).model
    'bpe'
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The text column."""
        return {self.config.text_column: "text_column"}

    def partial(self, batches: Any, ctx: StepContext) -> _Sample:
        """Keep the partition's texts, up to its share of ``max_chars`` (seeded sample)."""
        share = self.config.max_chars / max(1, ctx.num_shards)
        rng = np.random.default_rng([ctx.seed, ctx.shard_index])
        sample = _Sample()
        for batch in batches:
            ctx.ledger.rows_in += batch.num_rows
            ctx.ledger.merged += batch.num_rows
            texts, _ = repair_utf8(text_array(batch, self.config.text_column, ctx.step_id))
            for text in texts.to_pylist():
                if not text:
                    continue
                sample.seen_chars += len(text)
                # Keep everything while under the share; past it, keep each with the chance
                # that keeps the share (a reservoir by characters would need a second pass).
                if sample.chars + len(text) <= share or rng.random() < share / sample.seen_chars:
                    sample.texts.append(text)
                    sample.chars += len(text)
        return sample

    def merge(self, left: _Sample, right: _Sample) -> _Sample:
        """Both samples, in partition order."""
        return _Sample(left.texts + right.texts, left.chars + right.chars, left.seen_chars + right.seen_chars)

    def finalize(self, state: _Sample) -> dict[str, Any]:
        """Train."""
        config = self.config
        if not state.texts:
            raise ConfigError("tokenize.train: the input has no text to train on")
        tokenizer = train_tokenizer(state.texts, model=config.model, vocab_size=config.vocab_size,
                                    special_tokens=config.special_tokens, min_frequency=config.min_frequency)
        data = tokenizer.to_str()
        return {"tokenizer_json": data, "sha256": hashlib.sha256(data.encode()).hexdigest(),
                "model": config.model, "vocab_size": tokenizer.get_vocab_size(),
                "special_tokens": list(config.special_tokens), "trained_on_texts": len(state.texts),
                "trained_on_chars": state.chars}

    def output(self, model: dict[str, Any]) -> pa.Table:
        """One row: the tokenizer."""
        return pa.Table.from_pylist([model], schema=TOKENIZER_SCHEMA)
