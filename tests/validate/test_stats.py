"""Mergeable statistics: shards merged equal one pass; hostile input; the step and its config."""

from __future__ import annotations

import datetime
import decimal
import itertools
import json
import math
import pickle
import re
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError, SchemaError
from datamill.pipeline import StepContext, resolve_step
from datamill.validate import (
    DistinctSketch,
    FrequentItems,
    Profile,
    ProfileConfig,
    QuantileSketch,
    StatsOptions,
    TableStats,
    profile,
    report_from_table,
)

FINITE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["columns"]}


def shards_of(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    edges = [0, *sorted(min(c, table.num_rows) for c in cuts), table.num_rows]
    return [table.slice(a, b - a) for a, b in itertools.pairwise(edges)]


def stats_of(table: pa.Table, options: StatsOptions | None = None) -> TableStats:
    state = TableStats.for_schema(table.schema, options)
    state.update(table)
    return state


def true_rank_interval(values: np.ndarray, v: float) -> tuple[float, float]:
    return float(np.sum(values < v)) / len(values), float(np.sum(values <= v)) / len(values)


def check_quantiles(section: dict[str, Any], values: np.ndarray) -> None:
    """Each reported quantile's true rank lies within the KLL rank error of the rank asked for."""
    eps = section["rank_error"]
    for q, v in section["quantiles"].items():
        low, high = true_rank_interval(values, v)
        assert low - eps <= float(q) <= high + eps, (q, v, low, high, eps)


def check_close(a: float | None, b: float | None, scale: float) -> None:
    assert a is not None and b is not None
    assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, scale)), (a, b)


def check_merged_equals_once(table: pa.Table, cuts: list[int]) -> None:
    once = stats_of(table).report()
    parts = [stats_of(part) for part in shards_of(table, cuts)]
    # Merge as a process pool would: each state pickled, then merged pairwise.
    merged = reduce(lambda a, b: a.merge(b), [pickle.loads(pickle.dumps(p)) for p in parts]).report()
    assert merged["rows"] == once["rows"] == table.num_rows
    for name, column in by_name(once).items():
        other = by_name(merged)[name]
        for key in ("rows", "count", "missing", "type", "kind", "distinct"):  # HLL merge is lossless
            assert other[key] == column[key], (name, key)
        values = table.column(name).drop_null()
        if column["numeric"] is not None:
            a, b = column["numeric"], other["numeric"]
            assert (a["min"], a["max"], a["nan"], a["inf"]) == (b["min"], b["max"], b["nan"], b["inf"])
            floats = values.to_numpy(zero_copy_only=False).astype(np.float64)
            floats = floats[np.isfinite(floats)]
            scale = float(np.max(np.abs(floats))) if len(floats) else 1.0
            if len(floats):
                assert a["min"] == floats.min() and a["max"] == floats.max()
                check_close(a["mean"], b["mean"], scale)
                check_close(a["mean"], float(np.mean(floats)), scale)
                check_quantiles(a, floats)
                check_quantiles(b, floats)
            if len(floats) > 1:
                check_close(a["std"], b["std"], scale)
                check_close(a["std"], float(np.std(floats, ddof=1)), scale)
        if column["distinct"] is not None:
            # NaN and ±inf are counted apart (`nan`, `inf`), not as distinct values.
            true = len({v for v in values.to_pylist() if not isinstance(v, float) or math.isfinite(v)})
            assert abs(column["distinct"] - true) <= 3 * column["distinct_error"] * true + 1
        if column["top"] is not None:
            counts: dict[str, int] = {}
            for v in values.to_pylist():
                counts[str(v)] = counts.get(str(v), 0) + 1
            for item in other["top"]["items"]:
                assert item["lower"] <= counts[item["value"]] <= item["upper"]
        if column["length"] is not None:
            a, b = column["length"], other["length"]
            assert (a["min"], a["max"]) == (b["min"], b["max"])
            check_close(a["mean"], b["mean"], float(a["max"] or 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(st.none() | FINITE | st.sampled_from([math.nan, math.inf, -math.inf]),
                            st.none() | st.integers(-(2**40), 2**40),
                            st.none() | st.text(max_size=12)), max_size=300),
    cuts=st.lists(st.integers(0, 300), min_size=3, max_size=3),
)
def test_stats_on_four_shards_merged_equal_stats_at_once(rows: list[tuple[Any, Any, Any]], cuts: list[int]) -> None:
    table = pa.table({
        "x": pa.array([r[0] for r in rows], pa.float64()),
        "n": pa.array([r[1] for r in rows], pa.int64()),
        "s": pa.array([r[2] for r in rows], pa.string()),
    })

    check_merged_equals_once(table, cuts)


def test_stats_merged_on_four_shards_keep_sketch_bounds_at_scale() -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    table = pa.table({
        "x": rng.lognormal(3, 1.5, n),
        "n": rng.integers(0, 50_000, n),
        "s": pa.array(rng.zipf(1.5, n).astype(str)),
    })

    check_merged_equals_once(table, [n // 5, n // 2, 3 * n // 4])


# ---------------------------------------------------------------------------------- hostile input
def test_stats_report_every_column_of_an_empty_batch() -> None:
    batch = pa.record_batch({"x": pa.array([], pa.float64()), "s": pa.array([], pa.string())})

    report = profile(batch)

    assert report["rows"] == 0
    assert [(c["name"], c["count"], c["numeric"], c["top"]) for c in report["columns"]] == [
        ("x", 0, None, None), ("s", 0, None, None)]
    assert report_from_table(Profile().output(stats_of(pa.Table.from_batches([batch])))) == report


def test_stats_of_an_all_null_column_count_only_missing() -> None:
    table = pa.table({"x": pa.array([None, None], pa.float64()), "z": pa.nulls(2)})

    columns = by_name(profile(table))

    assert columns["x"]["missing"] == 2 and columns["x"]["missing_share"] == 1.0
    assert columns["x"]["kind"] == "numeric" and columns["x"]["numeric"] is None
    assert columns["z"]["kind"] == "null" and columns["z"]["distinct"] is None


def test_stats_keep_nan_and_inf_out_of_the_moments() -> None:
    table = pa.table({"x": [1.0, float("nan"), float("inf"), -float("inf"), 3.0, None]})

    x = by_name(profile(table))["x"]["numeric"]

    assert (x["nan"], x["inf"], x["min"], x["max"], x["mean"]) == (1, 2, 1.0, 3.0, 2.0)


def test_stats_of_a_column_whose_type_changes_between_batches_keep_both_parts() -> None:
    state = TableStats()
    state.update(pa.record_batch({"v": pa.array([1, 2], pa.int64())}))
    state.update(pa.record_batch({"v": pa.array(["a", None], pa.string())}))
    state.update(pa.record_batch({"v": pa.array([0.5], pa.float64())}))

    v = state.report()["columns"][0]

    assert v["kind"] == "mixed" and v["type"] == "mixed"
    assert v["types"] == {"int64": 2, "string": 2, "double": 1}
    assert (v["count"], v["missing"], v["distinct"]) == (4, 1, 4)
    assert v["numeric"]["max"] == 2 and v["numeric"]["min"] == 0.5
    assert v["length"]["max"] == 1


def test_stats_of_huge_strings_measure_them_and_cut_top_values() -> None:
    huge = "é" * 5_000_000
    table = pa.table({"s": pa.array([huge, huge, "x"], pa.large_string())})

    s = by_name(profile(table))["s"]

    assert s["length"]["max"] == 5_000_000 and s["length"]["unit"] == "chars"
    assert s["top"]["items"][0] == {"value": "é" * 200, "count": 2, "lower": 2, "upper": 2}
    assert s["distinct"] == 2


def test_stats_of_a_non_utf8_binary_column_count_bytes() -> None:
    table = pa.table({"b": pa.array([b"\xff\xfe", b"\x00", b"\xff\xfe", None], pa.binary())})

    b = by_name(profile(table))["b"]

    assert (b["kind"], b["distinct"], b["missing"], b["top"]) == ("binary", 2, 1, None)
    assert (b["length"]["unit"], b["length"]["min"], b["length"]["max"]) == ("bytes", 1, 2)


def test_stats_of_timestamps_dates_dictionaries_and_lists() -> None:
    table = pa.table({
        "t": pa.array([0, 86_400_000_000, None], pa.timestamp("us", tz="UTC")),
        "d": pa.array([0, 31, 365], pa.int32()).view(pa.date32()),
        "c": pa.array(["a", "b", "a"]).dictionary_encode(),
        "l": pa.array([[1, 2], [], None]),
    })

    columns = by_name(profile(table))

    assert columns["t"]["temporal"]["min"] == "1970-01-01T00:00:00+00:00"
    assert columns["t"]["temporal"]["max"] == "1970-01-02T00:00:00+00:00"
    assert columns["d"]["temporal"]["max"] == "1971-01-01" and columns["d"]["distinct"] == 3
    assert columns["c"]["kind"] == "string" and columns["c"]["top"]["items"][0]["value"] == "a"
    assert columns["l"]["length"]["unit"] == "items" and columns["l"]["length"]["max"] == 2


def test_stats_count_rows_of_a_batch_without_the_column_as_missing() -> None:
    state = TableStats()
    state.update(pa.record_batch({"a": [1]}))
    state.update(pa.record_batch({"b": ["x", "y"]}))

    columns = by_name(state.report())

    assert (columns["a"]["rows"], columns["a"]["missing"]) == (3, 2)
    assert (columns["b"]["rows"], columns["b"]["missing"], columns["b"]["types"]["absent"]) == (3, 1, 1)


def test_stats_histogram_counts_add_up_to_the_values() -> None:
    values = np.arange(1000.0)

    x = profile(pa.table({"x": values}), bins=10)["columns"][0]["numeric"]

    assert len(x["histogram"]["edges"]) == 11 and sum(x["histogram"]["counts"]) == 1000
    truth, _ = np.histogram(values, bins=x["histogram"]["edges"])
    # Each bin is a difference of two ranks, each within the KLL rank error.
    assert np.all(np.abs(np.array(x["histogram"]["counts"]) - truth) <= 2 * x["rank_error"] * 1000 + 1)


# ---------------------------------------------------------------------------------- sketches
def test_sketches_survive_bytes_and_merge_the_same() -> None:
    q, d, f = QuantileSketch(), DistinctSketch(), FrequentItems()
    q.update(np.arange(1000.0))
    d.update_numbers(np.arange(1000.0))
    f.update(pa.array(["a", "a", "b"]))

    assert QuantileSketch.from_bytes(q.to_bytes()).quantiles([0.5]) == q.quantiles([0.5])
    assert DistinctSketch.from_bytes(d.to_bytes()).estimate() == d.estimate()
    assert FrequentItems.from_bytes(f.to_bytes()).top(2) == f.top(2)


def test_distinct_sketch_stays_within_three_standard_errors() -> None:
    sketch = DistinctSketch()
    sketch.update_numbers(np.arange(1_000_000, dtype=np.float64))

    assert abs(sketch.estimate() - 1_000_000) <= 3 * sketch.relative_error * 1_000_000


def test_frequent_items_bounds_hold_after_the_prefilter() -> None:
    rng = np.random.default_rng(3)
    values = rng.zipf(1.3, 50_000).astype(str)
    sketch = FrequentItems(6, prefilter=20)
    for chunk in np.array_split(values, 5):
        sketch.update(pa.array(chunk))
    truth: dict[str, int] = dict(zip(*np.unique(values, return_counts=True), strict=True))

    items = sketch.top(5)

    assert items and items[0]["value"] == "1"
    for item in items:
        assert item["lower"] <= truth[item["value"]] <= item["upper"]


# ---------------------------------------------------------------------------------- the step
def test_profile_step_folds_every_row_and_outputs_one_row_per_column() -> None:
    step = resolve_step("stats.profile")(top_k=3)
    parts = [[pa.record_batch({"x": [1.0, 2.0], "s": ["a", "b"]})], [pa.record_batch({"x": [3.0], "s": ["a"]})]]
    schemas = [parts[0][0].schema]
    contexts = [StepContext("profile", shard_index=i, num_shards=2, input_schemas=schemas) for i in range(2)]

    states = [step.partial(iter(p), ctx) for p, ctx in zip(parts, contexts, strict=True)]
    table = step.output(step.finalize(step.merge(*states)))

    assert isinstance(step, Profile)
    assert table["column"].to_pylist() == ["x", "s"]
    assert table["mean"].to_pylist() == [2.0, None] and table["rows"].to_pylist() == [3, 3]
    for ctx in contexts:
        assert ctx.ledger.rows_in == ctx.ledger.merged and ctx.ledger.balanced
    assert report_from_table(table)["columns"][1]["top"]["items"][0] == {
        "value": "a", "count": 2, "lower": 2, "upper": 2}


def test_profile_config_rejects_a_bad_quantile_and_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"`quantiles.0`.*got 1.5"):
        Profile(quantiles=[1.5])
    with pytest.raises(ConfigError, match=r"has no option `bin`. Did you mean `bins`?"):
        Profile(bin=3)
    assert ProfileConfig(columns=["a"]).options().columns == ("a",)


def test_profile_of_a_missing_column_says_which() -> None:
    with pytest.raises(SchemaError, match=r"no column 'zzz' to profile; the table has a, b"):
        profile(pa.table({"a": [1], "b": [2]}), columns=["a", "zzz"])

    assert [c["name"] for c in profile(pa.table({"a": [1], "b": [2]}), columns=["b"])["columns"]] == ["b"]


def test_docs_example_runs_as_written() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "validate.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)

    assert blocks
    for block in blocks:
        exec(compile(block, "docs/validate.md", "exec"), {})


def test_stats_on_threads_equal_stats_on_one_thread() -> None:
    rng = np.random.default_rng(5)
    batches = [pa.record_batch({"x": rng.normal(0, 1, 10_000), "s": pa.array(rng.integers(0, 99, 10_000).astype(str)),
                                "n": rng.integers(0, 9, 10_000)}) for _ in range(3)]

    one = TableStats().update_all(batches, threads=1).report()
    four = TableStats().update_all(batches, threads=4).report()

    for a, b in zip(one["columns"], four["columns"], strict=True):
        # KLL compaction is randomised: quantiles and histograms agree within the rank error only.
        for part in ("numeric", "length"):
            for side in (a, b):
                if side[part] is not None:
                    side[part].pop("quantiles")
                    side[part].pop("histogram")
        assert a == b


# ---------------------------------------------------------------------------- text and slices
def test_text_columns_get_token_counts_and_codes_do_not() -> None:
    texts = ["the quick brown fox jumps over it"] * 3 + ["  a much longer line of words, twelve tokens in all here ok "]
    report = TableStats().update_all([pa.record_batch({"text": texts, "code": ["ab", "cd", "ab", "ef"]})]).report()
    text, code = report["columns"]
    assert text["tokens"]["min"] == 7 and text["tokens"]["max"] == 12 and text["tokens"]["unit"] == "whitespace tokens"
    assert code["tokens"] is None and text["languages"] is None


def test_languages_are_opt_in_and_sampled() -> None:
    english = "This is a perfectly ordinary English sentence about the weather today."
    french = "Ceci est une phrase tout à fait ordinaire en français sur le temps qu'il fait."
    options = StatsOptions(languages=True, language_sample=3)
    stats = TableStats(options)
    stats.update(pa.record_batch({"text": [english, french, english, french]}))
    languages = stats.report()["columns"][0]["languages"]
    assert languages == {"sampled": 3, "counts": {"en": 2, "fr": 1}}


def test_slices_profile_each_value_and_merge_like_one_pass() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    table = pa.table({"g": rng.choice(["a", "b", "c"], n).tolist(), "x": rng.normal(size=n),
                      "k": pa.array(rng.integers(0, 3, n)).cast(pa.string()).to_pylist()})
    groups = [None if i % 97 == 0 else v for i, v in enumerate(table["g"].to_pylist())]
    table = table.set_column(0, "g", pa.array(groups))
    options = StatsOptions(slice_by="g", kll_k=200)
    whole = TableStats(options).update_all(table.to_batches(max_chunksize=700)).report()
    halves = TableStats(options).update_all(table.slice(0, 1500).to_batches())
    halves = halves.merge(TableStats(options).update_all(table.slice(1500).to_batches())).report()
    by_value = {p["value"]: p for p in whole["slices"]["values"]}
    assert set(by_value) == {"a", "b", "c", None}
    assert sum(p["rows"] for p in by_value.values()) == n
    g = table["g"].to_pylist()
    xs = np.asarray(table["x"])
    for value, part in by_value.items():
        mask = np.array([v == value for v in g])
        x = next(c for c in part["columns"] if c["name"] == "x")
        assert x["count"] == mask.sum() and x["numeric"]["mean"] == pytest.approx(xs[mask].mean(), rel=1e-9)
    merged = {p["value"]: p for p in halves["slices"]["values"]}
    for value, part in by_value.items():
        assert merged[value]["rows"] == part["rows"]
        assert merged[value]["columns"][1]["numeric"]["min"] == part["columns"][1]["numeric"]["min"]


def test_slices_past_the_cap_are_counted_not_profiled() -> None:
    table = pa.table({"g": [f"v{i % 10}" for i in range(100)], "x": list(range(100))})
    report = TableStats(StatsOptions(slice_by="g", max_slices=4)).update_all([table.to_batches()[0]]).report()
    assert len(report["slices"]["values"]) == 4 and report["slices"]["overflow_rows"] == 60
    with pytest.raises(SchemaError, match="cannot slice by"):
        TableStats(StatsOptions(slice_by="nope")).update(table)


def test_run_step_runs_an_aggregate_whose_output_is_a_summary() -> None:
    from datamill.testing import run_step

    result = run_step(Profile(top_k=0), partitions=[[pa.record_batch({"x": [1, 2]})], [pa.record_batch({"x": [3]})]])
    assert result.output["column"].to_pylist() == ["x"] and result.output["mean"].to_pylist() == [2.0]
    assert result.ledger.balanced and result.ledger.merged == 3 and result.ledger.created == 1
    assert result.metrics == {"columns": 1.0}


def test_every_arrow_type_is_profiled_without_error() -> None:
    # write.dataset profiles whatever a step produces: an odd type must never fail the write.
    table = pa.table({
        "dec": pa.array([decimal.Decimal("1.5"), None], pa.decimal128(10, 2)),
        "map": pa.array([[("a", 1)], None], pa.map_(pa.string(), pa.int64())),
        "d32": pa.array([datetime.date(2020, 1, 1), None]),
        "t64": pa.array([1, None], pa.time64("us")),
        "dur": pa.array([1, None], pa.duration("s")),
        "f16": pa.array([np.float16(1.5), None], pa.float16()),
        "fsb": pa.array([b"ab", None], pa.binary(2)),
        "sv": pa.array(["a", None], pa.string_view()),
        "bv": pa.array([b"a", None], pa.binary_view()),
        "fsl": pa.array([[1, 2], None], pa.list_(pa.int64(), 2)),
        "u": pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]),
        "tz": pa.array([1, None], pa.timestamp("ms", tz="Europe/Paris")),
    })
    report = TableStats.for_schema(table.schema).update_all(table.to_batches()).report()
    json.dumps(report, allow_nan=False)
    kinds = {c["name"]: (c["kind"], c["count"]) for c in report["columns"]}
    assert kinds == {"dec": ("numeric", 1), "map": ("other", 1), "d32": ("temporal", 1), "t64": ("temporal", 1),
                     "dur": ("temporal", 1), "f16": ("numeric", 1), "fsb": ("binary", 1), "sv": ("string", 1),
                     "bv": ("binary", 1), "fsl": ("list", 1), "u": ("other", 2), "tz": ("temporal", 1)}
