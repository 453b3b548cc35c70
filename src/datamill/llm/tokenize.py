"""``llm.tokenize``: text to token ids, as an Arrow list column, with a token count per row.

Ids are ``list<uint16>`` when the vocabulary fits in 16 bits (GPT-2's 50,257, BERT's 30,522)
and ``list<uint32>`` otherwise: half the bytes for most vocabularies, and the width the token
shards of a later step store. The tokenizer's file hash is part of the step's cache key.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import TEXT
from datamill.core.errors import ConfigError
from datamill.llm.tokenizers import load_tokenizer, resolve_tokenizer_path
from datamill.pipeline import Outcome, StepConfig, StepContext, Transform, register

__all__ = ["Tokenize", "TokenizeConfig", "id_type"]

_BATCH = 1024  # texts per encode_batch call: tokenizers parallelises inside one call


def id_type(vocab_size: int) -> pa.DataType:
    """The narrowest unsigned integer type that holds every id of a vocabulary.

    >>> id_type(30_522), id_type(100_277)
    (DataType(uint16), DataType(uint32))
    """
    return pa.uint16() if vocab_size <= 1 << 16 else pa.uint32()


class TokenizeConfig(StepConfig):
    tokenizer: str = Field(description="A `tokenizer.json`, or a model folder holding one (relative to the "
                           "pipeline file). Nothing is downloaded.")
    text_column: str = Field(TEXT, min_length=1, description="The text to tokenize.")
    output_column: str = Field("tokens", min_length=1, description="The column of token ids to add.")
    count_column: str | None = Field("num_tokens", description="A column with each row's token count (unset: none).")
    add_special_tokens: bool = Field(
        False, description="Let the tokenizer's post-processor add its own special tokens ([CLS] … [SEP]).")
    bos_token: str | None = Field(None, description="A token put before every document, e.g. `<s>`.")
    eos_token: str | None = Field(None, description="A token put after every document, e.g. `</s>` or "
                                  "`<|endoftext|>`: packing needs it to know where documents end.")


@register("llm.tokenize")
class Tokenize(Transform[TokenizeConfig]):
    """Add token ids (and a token count) for each row's text; null text gives null ids.

    Metrics: ``tokens`` (all rows), ``documents`` (rows with text).

    >>> TokenizeConfig(tokenizer="tokenizer.json", eos_token="</s>").output_column
    'tokens'
    """

    version = 1

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self._tokenizer: Any = None
        self._digest = ""
        # Resolved now, while the pipeline's folder is the base of relative paths; read on first use.
        self._path = str(resolve_tokenizer_path(self.config.tokenizer, self.label))

    def _load(self) -> Any:
        if self._tokenizer is None:
            tokenizer, self._digest = load_tokenizer(self._path, self.label)
            vocab = tokenizer.get_vocab()
            self._bos = self._special(vocab, self.config.bos_token, "bos_token")
            self._eos = self._special(vocab, self.config.eos_token, "eos_token")
            self._type = id_type(tokenizer.get_vocab_size())
            self._tokenizer = tokenizer
        return self._tokenizer

    def _special(self, vocab: dict[str, int], token: str | None, option: str) -> list[int]:
        if token is None:
            return []
        if token not in vocab:
            raise ConfigError(f"step {self.label!r}: `{option}: {token}` is not in the tokenizer's vocabulary; "
                              "give one of its special tokens (its tokenizer.json lists them under `added_tokens`).")
        return [vocab[token]]

    def _field(self, kind: pa.DataType) -> pa.Field:
        """The ids' field, carrying the tokenizer's facts for the steps after (``llm.pack``)."""
        meta = {"datamill.tokenizer_sha256": self._digest,
                "datamill.vocab_size": str(self._tokenizer.get_vocab_size())}
        if self._eos:
            meta["datamill.eos_id"] = str(self._eos[0])
        if self._bos:
            meta["datamill.bos_id"] = str(self._bos[0])
        return pa.field(self.config.output_column, kind, metadata=meta)

    def code_hashes(self) -> list[str]:
        """The code's hashes and the tokenizer file's: a new tokenizer means new tokens."""
        self._load()
        return [*super().code_hashes(), self._digest]

    def required_columns(self) -> dict[str, str]:
        """The text column."""
        return {self.config.text_column: "text_column"}

    def process(self, batch: pa.RecordBatch, ctx: StepContext) -> Outcome | pa.RecordBatch:
        """Tokenize the batch's texts in slices; add the ids and counts."""
        config = self.config
        tokenizer = self._load()
        texts, _ = repair_utf8(text_array(batch, config.text_column, ctx.step_id))
        values: list[str | None] = texts.to_pylist()
        present = [i for i, v in enumerate(values) if v is not None]
        lengths = np.zeros(len(values), np.int64)
        pieces: list[np.ndarray] = []
        extra = len(self._bos) + len(self._eos)
        for start in range(0, len(present), _BATCH):
            rows = present[start : start + _BATCH]
            encoded = tokenizer.encode_batch([values[i] for i in rows], add_special_tokens=config.add_special_tokens)
            for row, enc in zip(rows, encoded, strict=True):
                ids = enc.ids
                lengths[row] = len(ids) + extra
                pieces.append(np.asarray(self._bos + ids + self._eos, np.int64))
        offsets = np.zeros(len(values) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = pa.array(np.concatenate(pieces) if pieces else np.zeros(0, np.int64)).cast(self._type)
        missing = pc.invert(pc.is_valid(texts))
        if offsets[-1] < 1 << 31:
            ids_array = pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), flat, mask=missing)
        else:  # over 2**31 tokens in one batch: 32-bit list offsets would wrap
            ids_array = pa.LargeListArray.from_arrays(pa.array(offsets), flat, mask=missing)
        out = batch
        for target, column in ((self._field(ids_array.type), ids_array),
                               (config.count_column and pa.field(config.count_column, pa.int32()),
                                pa.array(lengths, pa.int32()))):
            if not target:
                continue
            if target.name in out.schema.names:
                out = out.set_column(out.schema.get_field_index(target.name), target, column)
            else:
                out = out.append_column(target, column)
        ctx.metric("tokens", float(lengths.sum()))
        ctx.metric("documents", float(len(present)))
        return out
