"""``dedup.exact``: drop rows that repeat another row exactly, and record which row each copies.

The *key* of a row is its text after normalisation, or the values of chosen ``columns``. Rows
with the same key form a group; one row survives and the others are dropped under one reason
(``exact_duplicate``), each with the ``id`` of its survivor, so any removal can be explained.

Normalisation steps run in this fixed order, whatever order the config lists them in:

1. ``nfkc``: Unicode NFKC (full-width letters, ligatures, superscripts fold to plain forms);
2. ``lower``: Unicode lower case;
3. ``punctuation``: characters of the Unicode category P (``\\p{P}``) are removed;
4. ``digits``: every decimal digit (``\\p{Nd}``, any script) becomes ``0``;
5. ``whitespace``: runs of Unicode white space become one space, and the ends are stripped.

A null text, and a text that is empty after normalisation, has no key: it is never anyone's
duplicate, and it is always kept. Invalid UTF-8 is read with U+FFFD before normalising.
With ``columns``, values compare exactly and a null equals a null (as in SQL ``DISTINCT``).

Keys are 128-bit BLAKE2b digests of a canonical encoding, so they are the same in every
process and run; two different keys collide with probability about ``n² / 2¹²⁹``.

Which row survives does not depend on input order or partitioning: the best by ``keep``
(longest text, or highest score), and among equals the smallest ``id`` in byte order. So
``keep: first`` keeps the *smallest id*, not the row read first.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import TEXT
from datamill.core.errors import SchemaError
from datamill.dedup._ids import row_ids
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

_ID_PURPOSE = "every dropped row records the id of the row it duplicates"

__all__ = ["MODEL_SCHEMA", "NORMALIZE_ORDER", "STATE_SCHEMA", "ExactDedup", "ExactDedupConfig", "normalize_text"]

Normalization = Literal["lower", "whitespace", "punctuation", "nfkc", "digits"]
NORMALIZE_ORDER: tuple[Normalization, ...] = ("nfkc", "lower", "punctuation", "digits", "whitespace")

# Partial state: one row per input row. ``key_hi``/``key_lo`` are the two halves of the key's
# digest (null when the row has no key); ``rank`` orders a group's rows, higher wins.
STATE_SCHEMA = pa.schema(
    [
        pa.field("key_hi", pa.uint64()),
        pa.field("key_lo", pa.uint64()),
        pa.field("id", pa.string()),
        pa.field("rank", pa.float64()),
    ]
)
# The model: one row per row to drop, sorted by id.
MODEL_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("duplicate_of", pa.string(), nullable=False),
        pa.field("group_size", pa.int64(), nullable=False),
    ]
)
DUPLICATE_OF = "duplicate_of"
GROUP_SIZE = "dup_group_size"

# A run of Unicode White_Space (\t..\r, NEL, Zs, Zl, Zp; RE2's \s is ASCII only) that is not a
# lone plain space: leaving those alone is 13x faster than matching ``[...]+`` (20 vs 270 ms for
# 100k documents) with the same result.
_WHITESPACE_RUN = (
    r"[\t-\r\x{85}\p{Z}]{2,}"
    r"|[\t-\r\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]"
)
_DIGEST_BYTES = 16


class ExactDedupConfig(StepConfig):
    text_column: str = Field(
        TEXT,
        min_length=1,
        description="The text whose normalised form is the key (and whose length `keep: longest` compares).",
    )
    columns: list[str] | None = Field(
        None,
        min_length=1,
        description="Key on these columns' values instead of the text. Values compare exactly; a null equals a null.",
    )
    normalize: list[Normalization] = Field(
        ["lower", "whitespace"],
        description="How the text is normalised before comparing: any of "
        "nfkc, lower, punctuation, digits, whitespace, applied in that order. [] compares raw text.",
    )
    keep: Literal["first", "longest", "best"] = Field(
        "first",
        description="Which row of a group survives: `first` the smallest id, `longest` the "
        "longest text, `best` the highest `score_column`; ties go to the smallest id.",
    )
    score_column: str | None = Field(
        None, min_length=1, description="Numeric column that `keep: best` maximises (null and NaN lose to any number)."
    )
    mode: Literal["drop", "annotate"] = Field(
        "drop",
        description="`drop` removes duplicates; `annotate` keeps every row and adds "
        "`duplicate_of` (null for survivors) and `dup_group_size`.",
    )
    reason: str = Field(
        "exact_duplicate",
        min_length=1,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="The ledger reason (snake_case) dropped rows are counted under.",
    )

    @field_validator("normalize")
    @classmethod
    def _in_applied_order(cls, value: list[Normalization]) -> list[Normalization]:
        return [step for step in NORMALIZE_ORDER if step in value]

    @model_validator(mode="after")
    def _consistent(self) -> ExactDedupConfig:
        if self.keep == "best" and self.score_column is None:
            raise ValueError("`keep: best` needs `score_column`, the numeric column whose highest value survives")
        if self.keep != "best" and self.score_column is not None:
            raise ValueError(f"`score_column` is only used with `keep: best` (`keep` is {self.keep!r})")
        if self.columns is not None and "normalize" in self.model_fields_set:
            raise ValueError(
                "`normalize` applies to the text key; with `columns` values compare exactly, so leave `normalize` out"
            )
        return self


def normalize_text(texts: pa.Array, steps: list[Normalization] | tuple[Normalization, ...]) -> pa.Array:
    """Apply the normalisation ``steps`` to a string array, in ``NORMALIZE_ORDER``.

    >>> texts = pa.array(["  Hello,\\u00a0WORLD  no. 42! ", None])
    >>> normalize_text(texts, ["lower", "whitespace"]).to_pylist()
    ['hello, world no. 42!', None]
    >>> normalize_text(texts, NORMALIZE_ORDER).to_pylist()
    ['hello world no 00', None]
    """
    for step in NORMALIZE_ORDER:
        if step not in steps:
            continue
        if step == "nfkc":
            texts = pc.utf8_normalize(texts, "NFKC")
        elif step == "lower":
            texts = pc.utf8_lower(texts)
        elif step == "punctuation":
            texts = pc.replace_substring_regex(texts, r"\p{P}+", "")
        elif step == "digits":
            texts = pc.replace_substring_regex(texts, r"\p{Nd}", "0")
        else:
            texts = pc.utf8_trim(pc.replace_substring_regex(texts, _WHITESPACE_RUN, " "), " ")
    return texts


def _as_bytes(array: pa.Array) -> list[bytes | None]:
    """The raw bytes of a string or binary array, row by row (no UTF-8 check)."""
    if pa.types.is_string_view(array.type) or pa.types.is_binary_view(array.type):
        array = array.cast(pa.large_binary() if pa.types.is_binary_view(array.type) else pa.large_string())
    if pa.types.is_string(array.type):
        array = array.view(pa.binary())
    elif pa.types.is_large_string(array.type):
        array = array.view(pa.large_binary())
    elif pa.types.is_fixed_size_binary(array.type):
        array = array.cast(pa.binary())
    values: list[bytes | None] = array.to_pylist()
    return values


def _encode_column(array: pa.Array) -> list[bytes]:
    """Each value as ``\\x01 + kind + length + payload``, or ``\\x00`` for a null.

    The kind keeps ``"1"`` (text), ``1`` (integer) and ``1.0`` (float) apart; the length prefix
    makes the concatenation of several columns unambiguous.
    """
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    values: list[Any]
    if pa.types.is_null(kind):
        return [b"\x00"] * len(array)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        tag, values = b"s", _as_bytes(array)
    elif (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    ):
        tag, values = b"b", _as_bytes(array)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        tag = b"i" if pa.types.is_integer(kind) else b"?"
        values = _as_bytes(pc.cast(array, pa.string()))
    elif pa.types.is_floating(kind):
        # One encoding per value: -0.0 is 0.0 and every NaN is the same NaN.
        floats = (
            np.asarray(pc.cast(array, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False), dtype="<f8") + 0.0
        )
        floats[np.isnan(floats)] = np.nan
        raw = floats.tobytes()
        valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        tag = b"f"
        values = [raw[i * 8 : (i + 1) * 8] if ok else None for i, ok in enumerate(valid.tolist())]
    else:  # dates, times, decimals, lists, structs...: their Python value, as sorted JSON
        tag = b"j"
        values = [
            None
            if v is None
            else json.dumps(v, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
            for v in array.to_pylist()
        ]
    return [b"\x00" if v is None else b"\x01" + tag + len(v).to_bytes(8, "little") + v for v in values]


def _digests(keys: list[bytes | None]) -> tuple[pa.Array, pa.Array]:
    """The 128-bit BLAKE2b digest of each key as two uint64 arrays (null where no key)."""
    blank, blake2b = bytes(_DIGEST_BYTES), hashlib.blake2b
    raw = b"".join([blank if k is None else blake2b(k, digest_size=_DIGEST_BYTES).digest() for k in keys])
    words = np.frombuffer(raw, dtype="<u8").reshape(-1, 2)
    missing = np.array([k is None for k in keys], dtype=bool)
    mask = missing if missing.any() else None
    return (pa.array(words[:, 0], pa.uint64(), mask=mask), pa.array(words[:, 1], pa.uint64(), mask=mask))


@dataclass(frozen=True)
class _SortedIds:
    """Distinct ids sorted (by polars, in byte order), for binary search."""

    ids: pl.Series

    def find(self, keys: pl.Series) -> pa.Array:
        """Each key's position in ``ids``, or null where it is absent."""
        if self.ids.is_empty() or keys.is_empty():
            return pa.nulls(len(keys), pa.int64())
        at = self.ids.search_sorted(keys, side="left").cast(pl.Int64).clip(0, len(self.ids) - 1)
        hit = self.ids.gather(at) == keys
        return pl.select(pl.when(hit).then(at)).to_series().to_arrow().cast(pa.int64())


@dataclass(frozen=True)
class _Lookup:
    """The model prepared for many batches: dropped ids, and each survivor's group size."""

    dropped: _SortedIds
    survivors: _SortedIds
    survivor_sizes: pa.Array

    @classmethod
    def of(cls, model: pa.Table) -> _Lookup:
        frame = pl.from_arrow(model)
        assert isinstance(frame, pl.DataFrame)
        survivors = frame.group_by(DUPLICATE_OF).agg(pl.col("group_size").first()).sort(DUPLICATE_OF)
        return cls(
            _SortedIds(frame["id"]),
            _SortedIds(survivors[DUPLICATE_OF]),
            survivors["group_size"].to_arrow().cast(pa.int64()),
        )


@register("dedup.exact")
class ExactDedup(Aggregate[ExactDedupConfig, pa.Table, pa.Table]):
    """Drop rows whose normalised text (or ``columns``) repeats, keeping one per group.

    Each dropped row is counted under ``reason`` (``exact_duplicate``) and named, with the id of
    the row it duplicates, in `side_table`. The survivor is the best row by ``keep`` and, among
    equals, the one with the smallest ``id`` (byte order): the same rows survive however the
    input is ordered or split, on one core or many. ``keep: first`` therefore means the smallest
    id, not the first row read. Rows with a null text, or a text that normalises to nothing,
    are never duplicates. Ids must be unique. Metric: ``duplicates`` (rows found to repeat
    another, in either ``mode``).

    >>> ExactDedup(keep="longest").config.keep
    'longest'
    >>> from datamill.testing import make_batch, run_step
    >>> batch = make_batch(id=["a", "b", "c"], text=["Hello  World", "hello world", "Bye"])
    >>> result = run_step(ExactDedup(), [batch])
    >>> result.output["id"].to_pylist(), result.ledger.dropped
    (['a', 'c'], {'exact_duplicate': 1})
    """

    version = 1
    _cached: tuple[pa.Table, _Lookup] | None = None

    def required_columns(self) -> dict[str, str]:
        """The key's columns, and the text or score column ``keep`` compares."""
        config = self.config
        needed = (
            {c: "columns" for c in config.columns}
            if config.columns is not None
            else {config.text_column: "text_column"}
        )
        if config.keep == "longest":
            needed[config.text_column] = "text_column"
        if config.score_column is not None:
            needed[config.score_column] = "score_column"
        return needed

    def output_schema(self, input_schemas: list[pa.Schema]) -> pa.Schema | None:
        """The input schema, plus ``duplicate_of`` and ``dup_group_size`` in ``annotate`` mode."""
        if not input_schemas:
            return None
        schema = input_schemas[0]
        if self.config.mode == "annotate":
            for field in (pa.field(DUPLICATE_OF, pa.string()), pa.field(GROUP_SIZE, pa.int64())):
                index = schema.get_field_index(field.name)
                schema = schema.set(index, field) if index >= 0 else schema.append(field)
        return schema

    def _texts(self, batch: pa.RecordBatch, step: str) -> pa.Array:
        texts, _ = repair_utf8(text_array(batch, self.config.text_column, step))
        return texts

    def _keys(self, batch: pa.RecordBatch, step: str) -> list[bytes | None]:
        config = self.config
        if config.columns is not None:
            missing = [c for c in config.columns if c not in batch.schema.names]
            if missing:
                raise SchemaError(
                    f"step {step!r} (dedup.exact) keys on {', '.join(map(repr, missing))}, which the "
                    f"input lacks; it has {', '.join(batch.schema.names)}. Fix `with: {{columns: [...]}}`."
                )
            encoded = [_encode_column(batch.column(c)) for c in config.columns]
            if len(encoded) == 1:
                return list(encoded[0])
            return [b"".join(parts) for parts in zip(*encoded, strict=True)]
        if config.normalize:
            texts = normalize_text(self._texts(batch, step), config.normalize)
        else:  # raw bytes: invalid UTF-8 compares as it is
            texts = text_array(batch, config.text_column, step)
        return [v or None for v in _as_bytes(texts)]

    def _ranks(self, batch: pa.RecordBatch, step: str) -> pa.Array:
        config = self.config
        if config.keep == "first":
            return pa.array(np.zeros(batch.num_rows))
        if config.keep == "longest":
            return pc.cast(pc.fill_null(pc.utf8_length(self._texts(batch, step)), 0), pa.float64())
        assert config.score_column is not None  # the config's validator guarantees it
        if config.score_column not in batch.schema.names:
            raise SchemaError(
                f"step {step!r} (dedup.exact) keeps the best `{config.score_column}`, which the input "
                f"lacks; it has {', '.join(batch.schema.names)}. Fix `with: {{score_column: ...}}`."
            )
        scores = batch.column(config.score_column)
        if not (
            pa.types.is_integer(scores.type)
            or pa.types.is_floating(scores.type)
            or pa.types.is_decimal(scores.type)
            or pa.types.is_null(scores.type)
        ):
            raise SchemaError(
                f"step {step!r} (dedup.exact) needs `{config.score_column}` (`score_column`) to be "
                f"numeric; it holds {scores.type}."
            )
        scores = pc.cast(scores, pa.float64())
        return pc.if_else(pc.is_nan(pc.fill_null(scores, np.nan)), -np.inf, scores)

    def partial(self, batches: Any, ctx: StepContext) -> pa.Table:
        """Each row's key digest, id and rank."""
        tables = [pa.Table.from_batches([], STATE_SCHEMA)]
        for batch in batches:
            ids = row_ids(batch, ctx.step_id, "dedup.exact", _ID_PURPOSE)
            hi, lo = _digests(self._keys(batch, ctx.step_id))
            tables.append(pa.table([hi, lo, ids, self._ranks(batch, ctx.step_id)], schema=STATE_SCHEMA))
        return pa.concat_tables(tables).combine_chunks()

    def merge(self, left: pa.Table, right: pa.Table) -> pa.Table:
        """All rows of both."""
        return pa.concat_tables([left, right])

    def finalize(self, state: pa.Table) -> pa.Table:
        """The rows to drop, each with its survivor's id and its group's size, sorted by id."""
        frame = pl.from_arrow(state.combine_chunks())
        assert isinstance(frame, pl.DataFrame)
        if frame["id"].n_unique() != frame.height:
            self._raise_on_repeated_ids(frame)
        key = ["key_hi", "key_lo"]
        members = (
            frame.filter(pl.col("key_hi").is_not_null())
            .with_columns(pl.len().over(key).cast(pl.Int64).alias("group_size"))
            .filter(pl.col("group_size") > 1)
        )
        # Within a group, group_by keeps the rows' order: the first after this sort survives.
        survivors = (
            members.sort(["rank", "id"], descending=[True, False])
            .group_by(key)
            .agg(pl.col("id").first().alias(DUPLICATE_OF))
        )
        dropped = (
            members.join(survivors, on=key, how="inner")
            .filter(pl.col("id") != pl.col(DUPLICATE_OF))
            .select("id", DUPLICATE_OF, "group_size")
            .sort("id")
        )
        return dropped.to_arrow().cast(MODEL_SCHEMA)

    def _raise_on_repeated_ids(self, frame: pl.DataFrame) -> None:
        repeated = frame.group_by("id").len().filter(pl.col("len") > 1).sort(["len", "id"], descending=[True, False])
        first, count = repeated.row(0)
        more = f" (and {repeated.height - 1} more ids repeat)" if repeated.height > 1 else ""
        raise SchemaError(
            f"step {self.label!r}: ids must be unique so that each dropped row can name the row it "
            f"duplicates, but id {first!r} occurs {count} times{more}. When the input joins "
            "several datasets, give `concat` `id_prefixes`; when a reader takes ids from the data "
            "(`id_column`), choose a unique column."
        )

    def _lookup(self, model: pa.Table) -> _Lookup:
        # Built once per model in each process, not once per batch: a hash set of a million ids
        # costs ~0.3 s to build, a binary search of a 65k-row batch in it ~20 ms.
        cached = self._cached
        if cached is None or cached[0] is not model:
            cached = self._cached = (model, _Lookup.of(model))
        return cached[1]

    def apply(self, batch: pa.RecordBatch, model: pa.Table, ctx: StepContext) -> Outcome:
        """Drop (or annotate) the rows the model names."""
        ids = pl.Series(row_ids(batch, ctx.step_id, "dedup.exact", _ID_PURPOSE))
        lookup = self._lookup(model)
        as_dropped = lookup.dropped.find(ids)
        count = len(as_dropped) - as_dropped.null_count
        ctx.metric("duplicates", count)
        if self.config.mode == "drop":
            return Outcome(batch).drop(pc.is_valid(as_dropped), reason=self.config.reason)
        duplicate_of = pc.take(model.column(DUPLICATE_OF), as_dropped)
        group_size = pc.coalesce(
            pc.take(model.column("group_size"), as_dropped),
            pc.take(lookup.survivor_sizes, lookup.survivors.find(ids)),
            pa.scalar(1, pa.int64()),
        )
        for name, values in ((DUPLICATE_OF, duplicate_of), (GROUP_SIZE, group_size)):
            values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
            index = batch.schema.get_field_index(name)
            field = pa.field(name, values.type)
            batch = batch.set_column(index, field, values) if index >= 0 else batch.append_column(field, values)
        return Outcome(batch)

    def side_table(self, model: pa.Table) -> pa.Table:
        """Why each row was dropped: ``id``, ``duplicate_of``, ``group_size`` and ``reason``.

        >>> step = ExactDedup()
        >>> model = step.finalize(step.partial(iter([pa.record_batch(
        ...     {"id": ["b", "a"], "text": ["Same text", "same  text"]})]), StepContext("dedup")))
        >>> step.side_table(model).to_pylist()
        [{'id': 'b', 'duplicate_of': 'a', 'group_size': 2, 'reason': 'exact_duplicate'}]
        """
        reason = pa.repeat(pa.scalar(self.config.reason, pa.string()), model.num_rows)
        return model.append_column(pa.field("reason", pa.string(), nullable=False), reason)
