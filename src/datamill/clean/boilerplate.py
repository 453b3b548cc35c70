"""``clean.boilerplate``: remove lines that repeat across many documents of one source.

Navigation menus, cookie banners, "Page 3 of 10" and copyright footers repeat, line for line,
across the pages of one site or the files of one folder. One pass counts, per group, in how
many documents each short line occurs; a second pass removes the lines that occur in at
least ``min_documents`` and ``min_fraction`` of their group's documents.

Lines are compared after normalisation (lowercase, digit runs → ``0``, whitespace collapsed),
so "Page 3 of 10" and "Page 4 of 10" are the same line, and are tracked as 64-bit hashes.
The count per group is a mergeable Misra–Gries summary of at most ``max_lines_per_group``
counters (Agarwal et al., "Mergeable summaries", 2012): memory is bounded whatever the
corpus, every line occurring more than ``N / (k + 1)`` times in a group (N line occurrences,
k counters) is kept, and its count is low by at most that much, so the error can only
spare a line, never remove one that does not repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from datamill.clean.text import repair_utf8, text_array
from datamill.core.columns import META, SOURCE, TEXT
from datamill.core.errors import SchemaError
from datamill.pipeline import Aggregate, Outcome, StepConfig, StepContext, register

__all__ = ["Boilerplate", "BoilerplateConfig", "LineCounts", "group_keys"]

_URL_HOST = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#:]*)"
_DIRECTORY = r"^(.*)[/\\]"


class BoilerplateConfig(StepConfig):
    text_column: str = Field(TEXT, min_length=1, description="The string column to remove lines from.")
    group_column: str | None = Field(
        None, description="Column whose value groups documents (a site, a folder). Default: the host "
        "of `meta.url` when there is one, else the host of a URL `source` or the directory of a "
        "file `source`; one group for everything when neither column exists.")
    min_documents: int = Field(5, ge=2, description="A line must occur in at least this many documents.")
    min_fraction: float = Field(
        0.3, gt=0, le=1, description="...and in at least this share of its group's documents.")
    max_line_chars: int = Field(
        200, ge=1, description="Only lines up to this long (normalised) are counted: a repeated long "
        "paragraph is a matter for deduplication.")
    max_lines_per_group: int = Field(
        10_000, ge=100, description="Counters kept per group (about 20 bytes each). Lines that occur in "
        "more than 1/(k+1) of all line occurrences of a group are always found.")


@dataclass
class LineCounts:
    """The partial state: per group, documents seen and a Misra–Gries summary of line hashes.

    ``lines`` has columns ``group``, ``line`` (u64 hashes) and ``count`` (documents, a lower
    bound); ``docs`` has ``group`` and ``docs``.
    """

    lines: pl.DataFrame
    docs: pl.DataFrame

    @classmethod
    def empty(cls) -> LineCounts:
        """No documents seen."""
        return cls(pl.DataFrame(schema={"group": pl.UInt64, "line": pl.UInt64, "count": pl.Int64}),
                   pl.DataFrame(schema={"group": pl.UInt64, "docs": pl.Int64}))


def _meta_url(batch: pa.RecordBatch) -> pl.Expr | None:
    if META not in batch.schema.names:
        return None
    kind = batch.schema.field(META).type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pl.col(META).str.json_path_match("$.url")
    if pa.types.is_struct(kind) and any(kind.field(i).name == "url" for i in range(kind.num_fields)):
        return pl.col(META).struct.field("url").cast(pl.Utf8)
    return None


def group_keys(batch: pa.RecordBatch, group_column: str | None, step: str) -> pl.Series:
    """Each row's group: ``group_column``'s value, or the site or folder the row came from.

    >>> batch = pa.record_batch({"source": ["/data/a/1.txt", "https://Example.org/x", "b.txt"]})
    >>> group_keys(batch, None, "clean.boilerplate").to_list()
    ['/data/a', 'example.org', '']
    """
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    if group_column is not None:
        if group_column not in batch.schema.names:
            raise SchemaError(
                f"step {step!r} groups by `{group_column}`, which the input lacks; it has "
                f"{', '.join(batch.schema.names)}. Fix `with: {{group_column: ...}}`.")
        return frame.select(pl.col(group_column).cast(pl.Utf8).fill_null("")).to_series()
    keys: list[pl.Expr] = []
    url = _meta_url(batch)
    if url is not None:
        keys.append(url.str.extract(_URL_HOST, 1).str.to_lowercase())
    if SOURCE in batch.schema.names:
        source = pl.col(SOURCE).cast(pl.Utf8)
        keys.append(source.str.extract(_URL_HOST, 1).str.to_lowercase())
        keys.append(pl.when(source.is_not_null()).then(source.str.extract(_DIRECTORY, 1).fill_null("")))
    if not keys:
        return pl.Series("group", [""] * batch.num_rows, pl.Utf8)
    return frame.select(pl.coalesce([*keys, pl.lit("")]).alias("group")).to_series()


def _lines(batch: pa.RecordBatch, texts: pa.Array, config: BoilerplateConfig, step: str) -> pl.DataFrame:
    """One row per line of every non-null document: doc, pos, group, raw, line (hash or null)."""
    groups = group_keys(batch, config.group_column, step)
    frame = pl.DataFrame({"doc": pl.int_range(batch.num_rows, eager=True, dtype=pl.Int64),
                          "group": groups.hash(), "raw": pl.Series(texts).cast(pl.Utf8)})
    frame = frame.filter(pl.col("raw").is_not_null())
    lines = frame.with_columns(pl.col("raw").str.split("\n")).explode("raw")
    norm = (pl.col("raw").str.to_lowercase().str.replace_all(r"\d+", "0")
            .str.replace_all(r"\s+", " ").str.strip_chars())
    lines = lines.with_columns(pl.int_range(pl.len()).over("doc").alias("pos"), norm.alias("norm"))
    counted = (pl.col("norm").str.len_chars() > 0) & (pl.col("norm").str.len_chars() <= config.max_line_chars)
    return lines.with_columns(pl.when(counted).then(pl.col("norm").hash()).alias("line")).drop("norm")


def _prune(lines: pl.DataFrame, k: int) -> pl.DataFrame:
    """Misra–Gries: in a group with more than k counters, subtract the (k+1)-th largest count."""
    sizes = lines.group_by("group").len()
    if sizes.is_empty() or sizes["len"].max() <= k:  # type: ignore[operator]
        return lines
    ranked = lines.with_columns(pl.col("count").rank("ordinal", descending=True).over("group").alias("rank"))
    cut = ranked.filter(pl.col("rank") == k + 1).select("group", pl.col("count").alias("cut"))
    return (ranked.join(cut, on="group", how="left")
            .with_columns(pl.col("count") - pl.col("cut").fill_null(0))
            .filter(pl.col("count") > 0)
            .select("group", "line", "count"))


@register("clean.boilerplate")
class Boilerplate(Aggregate[BoilerplateConfig, LineCounts, pl.DataFrame]):
    """Remove short lines repeated across many documents of one group (site or folder).

    Documents left empty are dropped as ``empty_after_boilerplate``; null texts pass through
    and do not count as documents; a changed document loses its leading and trailing
    whitespace. Metrics: ``lines_removed``, ``docs_changed``. Identical
    copies of a document count as separate documents, so deduplicate exactly first.

    >>> from datamill.testing import make_batch, run_step
    >>> stories = ["Cats purr.", "Dogs bark.", "Owls hoot.", "Bees hum.", "Cows moo.", "Ducks quack."]
    >>> texts = [f"Home | About\\n{story}\\nPage {i} of 6" for i, story in enumerate(stories)]
    >>> run_step(Boilerplate(), [make_batch(text=texts)]).output["text"].to_pylist()[:3]
    ['Cats purr.', 'Dogs bark.', 'Owls hoot.']
    """

    version = 1

    def required_columns(self) -> dict[str, str]:
        """The text column, named by ``text_column``."""
        return {self.config.text_column: "text_column"}

    def partial(self, batches: Any, ctx: StepContext) -> LineCounts:
        """Count, per group, the documents each normalised line occurs in."""
        state = LineCounts.empty()
        for batch in batches:
            texts, _ = repair_utf8(text_array(batch, self.config.text_column, ctx.step_id))
            lines = _lines(batch, texts, self.config, ctx.step_id)
            docs = lines.select("group", "doc").unique().group_by("group").agg(pl.len().cast(pl.Int64).alias("docs"))
            counts = (lines.filter(pl.col("line").is_not_null()).select("group", "doc", "line").unique()
                      .group_by("group", "line").agg(pl.len().cast(pl.Int64).alias("count")))
            state = self.merge(state, LineCounts(counts, docs))
        return state

    def merge(self, left: LineCounts, right: LineCounts) -> LineCounts:
        """Add the counts; keep at most ``max_lines_per_group`` counters per group."""
        lines = pl.concat([left.lines, right.lines]).group_by("group", "line").agg(pl.col("count").sum())
        docs = pl.concat([left.docs, right.docs]).group_by("group").agg(pl.col("docs").sum())
        return LineCounts(_prune(lines, self.config.max_lines_per_group), docs)

    def finalize(self, state: LineCounts) -> pl.DataFrame:
        """The (group, line) hashes to remove."""
        config = self.config
        needed = state.docs.with_columns(
            pl.max_horizontal(pl.lit(config.min_documents),
                              (pl.col("docs") * config.min_fraction - 1e-9).ceil().cast(pl.Int64)).alias("needed"))
        return (state.lines.join(needed, on="group")
                .filter(pl.col("count") >= pl.col("needed"))
                .select("group", "line").sort("group", "line"))

    def apply(self, batch: pa.RecordBatch, model: pl.DataFrame, ctx: StepContext) -> Outcome:
        """Remove the boilerplate lines; drop documents left with no text."""
        texts, repaired = repair_utf8(text_array(batch, self.config.text_column, ctx.step_id))
        if model.is_empty() or batch.num_rows == 0:
            ctx.metric("lines_removed", 0)
            ctx.metric("docs_changed", 0)
            return Outcome(batch)
        lines = _lines(batch, texts, self.config, ctx.step_id)
        lines = lines.join(model.with_columns(pl.lit(True).alias("removed")), on=["group", "line"],
                           how="left").with_columns(pl.col("removed").fill_null(False)).sort("doc", "pos")
        changed = lines.filter(pl.col("removed")).select("doc").unique().sort("doc")
        ctx.metric("lines_removed", int(lines["removed"].sum()))
        ctx.metric("docs_changed", changed.height)
        if changed.is_empty():
            return Outcome(batch)
        rebuilt = (lines.join(changed, on="doc", how="semi")
                   .group_by("doc", maintain_order=True)
                   .agg(pl.col("raw").filter(~pl.col("removed")).str.join("\n").str.strip_chars()))
        mask = np.zeros(batch.num_rows, dtype=bool)
        mask[rebuilt["doc"].to_numpy()] = True
        new_texts = pc.replace_with_mask(texts, pa.array(mask), rebuilt["raw"].to_arrow().cast(texts.type))
        index = batch.schema.get_field_index(self.config.text_column)
        field = batch.schema.field(index).with_type(texts.type)
        # Dropped rows are reported as they came in, with valid UTF-8 so the report can read them.
        original = batch.set_column(index, field, texts) if repaired else batch
        emptied = pc.and_(pa.array(mask), pc.equal(pc.utf8_length(new_texts), 0))
        return (Outcome(batch.set_column(index, field, new_texts), original=original)
                .drop(emptied, reason="empty_after_boilerplate"))
