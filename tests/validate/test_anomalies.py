"""Each anomaly check on small tables; format detectors; the mixed-units fit; merging states."""

from __future__ import annotations

import datetime as dt
import math
import uuid

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.validate.anomalies import CheckState, check, unit_change
from datamill.validate.findings import Finding
from datamill.validate.formats import format_mask, spelling_keys
from datamill.validate.schema import QUANTILE_PROBS, Schema, infer_schema
from datamill.validate.sketches import QuantileSketch


def found(findings: list[Finding]) -> set[tuple[str, str | None, str]]:
    return {(f.check, f.column, f.severity) for f in findings}


def schema_of(yaml_columns: str, **table: object) -> Schema:
    extra = "".join(f"{k}: {v}\n" for k, v in table.items())
    return Schema.from_yaml(f"schema_version: 1\n{extra}columns:\n{yaml_columns}")


def test_columns_and_types() -> None:
    schema = schema_of("  a: {type: int64}\n  b: {type: string}\n  c: {type: int64}\n")
    table = pa.table({"a": [1.5, 2.0], "b": ["x", "y"], "c": pa.array([1, 2], pa.int32()), "d": [1, 2]})
    assert found(check(table, schema)) == {("type_change", "a", "error"), ("type_change", "c", "info"),
                                           ("new_column", "d", "warning")}
    assert found(check(pa.table({"a": [1]}), schema)) == {("missing_column", "b", "error"),
                                                           ("missing_column", "c", "error")}
    # Provenance columns are not "new".
    assert check(pa.table({"a": [1], "b": ["x"], "c": [1], "id": ["r1"], "source": ["f"]}), schema) == []


def test_missing_values_by_share() -> None:
    schema = schema_of("  r: {type: double, required: true}\n  m: {type: double, max_missing: 0.1}\n")
    values = [1.0] * 95 + [None] * 5
    few = check(pa.table({"r": [1.0] * 999 + [None], "m": [1.0] * 1000}), schema)
    assert found(few) == {("required", "r", "warning")}
    many = check(pa.table({"r": values, "m": [1.0] * 70 + [None] * 30}), schema)
    assert found(many) == {("required", "r", "error"), ("missing_rate", "m", "error")}
    assert next(f for f in many if f.column == "m").value == pytest.approx(0.3)


def test_domain_range_format_unique() -> None:
    schema = schema_of("  s: {type: string, domain: [a, b]}\n  x: {type: int64, min: 0, max: 10}\n"
                       "  e: {type: string, format: email}\n  k: {type: string, unique: true}\n")
    table = pa.table({"s": ["a", "b", "zz", "a"] * 25, "x": [5] * 99 + [11], "e": ["a@b.org"] * 99 + ["nope"],
                      "k": [f"k{i}" for i in range(99)] + ["k0"]})
    findings = check(table, schema)
    assert found(findings) == {("out_of_domain", "s", "error"), ("out_of_range", "x", "error"),
                               ("format", "e", "error"), ("not_unique", "k", "error")}
    by = {f.column: f for f in findings}
    assert by["s"].examples == ("zz",) and by["s"].value == pytest.approx(0.25)
    assert by["x"].examples == (11.0,) and by["e"].examples == ("nope",) and by["k"].examples == ("k0",)


def test_mixed_format_and_duplicate_rows() -> None:
    schema = schema_of("  v: {type: string}\n  w: {type: string}\n", max_duplicate_rows=0.0)
    table = pa.table({"v": ["0", "0.0", "", "1"] * 25, "w": ["Yes", "yes", " yes", "no"] * 25})
    findings = check(table, schema)
    assert found(findings) == {("mixed_format", "v", "warning"), ("mixed_format", "w", "warning"),
                               ("duplicate_rows", None, "error")}
    v = next(f for f in findings if f.column == "v")
    assert set(v.examples) == {"0", "0.0"} and "written 2 ways" in v.message


def test_outliers_and_isolation_forest() -> None:
    rng = np.random.default_rng(0)
    train = pa.table({"x": rng.normal(10, 1, 2000), "y": rng.normal(0, 1, 2000)})
    schema = infer_schema(train)
    bad = pa.table({"x": np.concatenate([rng.normal(10, 1, 900), np.full(100, 100.0)]), "y": rng.normal(0, 1, 1000)})
    findings = check(bad, schema, isolation_forest=True, sample_rows=500)
    assert ("outliers", "x", "warning") in found(findings)
    forest = next(f for f in findings if f.column is None and f.check == "outliers")
    assert forest.severity == "info" and forest.details["sampled"] == 500


def test_unit_change_fit() -> None:
    rng = np.random.default_rng(1)
    celsius = rng.normal(20, 5, 20_000)
    reference = np.quantile(celsius[:10_000], QUANTILE_PROBS).tolist()
    sketch = QuantileSketch()
    sketch.update(np.concatenate([celsius[10_000:15_000], celsius[15_000:] * 1.8 + 32]))
    change = unit_change(reference, sketch)
    assert change is not None and "Fahrenheit" in change["transform"] and change["share"] == pytest.approx(0.5, abs=0.1)
    clean = QuantileSketch()
    clean.update(celsius[10_000:])
    assert unit_change(reference, clean) is None
    shifted = QuantileSketch()
    shifted.update(celsius[10_000:] + 3)  # drift, not a unit: no mixture of the reference fits it
    assert unit_change(reference, shifted) is None


def test_merged_states_find_what_one_pass_finds() -> None:
    schema = schema_of("  s: {type: string, domain: [a]}\n  k: {type: int64, unique: true}\n", max_duplicate_rows=0)
    table = pa.table({"s": ["a", "b"] * 50, "k": list(range(50)) * 2})
    left, right = CheckState(schema), CheckState(schema)
    for batch in table.slice(0, 30).to_batches():
        left.update(batch)
    for batch in table.slice(30).to_batches():
        right.update(batch)
    merged = left.merge(right).findings()
    whole = check(table, schema)
    assert {(f.check, f.column, f.value) for f in merged} == {(f.check, f.column, f.value) for f in whole}


def test_hostile_input_is_checked_without_crashing() -> None:
    schema = infer_schema(pa.table({"f": [1.0, 2.0] * 20, "s": ["a", "b"] * 20, "b": [b"x", b"y"] * 20}))
    assert found(check(pa.table({"f": pa.array([], pa.float64()), "s": pa.array([], pa.string()),
                                 "b": pa.array([], pa.binary())}), schema)) == {("volume", None, "error")}
    hostile = pa.table({"f": [math.nan, math.inf, 1.0] * 10, "s": ["z" * 100_000, None, "a"] * 10,
                        "b": [b"\xff\xfe", None, b"\x80"] * 10})
    findings = check(hostile, schema)
    assert ("out_of_range", "f", "error") in found(findings) and ("out_of_domain", "s", "error") in found(findings)
    assert all(len(f.message) < 2000 for f in findings)
    nulls = check(pa.table({"f": pa.nulls(10, pa.float64()), "s": pa.nulls(10), "b": pa.nulls(10, pa.binary())}),
                  schema)
    assert {f.check for f in nulls} == {"required"}


@settings(max_examples=50, deadline=None)
@given(st.lists(st.emails(), min_size=1, max_size=20))
def test_emails_match(values: list[str]) -> None:
    assert all(format_mask(pa.array(values), "email").to_pylist())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.dates(dt.date(1000, 1, 1)), min_size=1, max_size=20),
       st.lists(st.datetimes(dt.datetime(1000, 1, 1)), min_size=1, max_size=20))
def test_dates_and_datetimes_match(dates: list[dt.date], stamps: list[dt.datetime]) -> None:
    assert all(format_mask(pa.array([d.isoformat() for d in dates]), "date").to_pylist())
    assert all(format_mask(pa.array([s.isoformat() for s in stamps]), "datetime").to_pylist())
    assert not any(format_mask(pa.array([s.isoformat() for s in stamps]), "date").to_pylist())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(), min_size=1, max_size=20), st.lists(st.floats(allow_nan=False, allow_infinity=False),
                                                                   min_size=1, max_size=20),
       st.lists(st.uuids(), min_size=1, max_size=5))
def test_numbers_and_uuids_match(ints: list[int], floats: list[float], ids: list[uuid.UUID]) -> None:
    assert all(format_mask(pa.array([str(i) for i in ints]), "integer").to_pylist())
    assert all(format_mask(pa.array([repr(f) for f in floats]), "number").to_pylist())
    assert all(format_mask(pa.array([str(u).upper() for u in ids]), "uuid").to_pylist())


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=("Cs",)),
                        max_size=30), min_size=1, max_size=20))
def test_text_without_an_at_sign_is_never_an_email(values: list[str]) -> None:
    assert not any(format_mask(pa.array(values), "email").to_pylist())


@settings(max_examples=50, deadline=None)
@given(st.floats(-1e12, 1e12, allow_nan=False))
def test_spellings_of_one_number_share_a_key(x: float) -> None:
    frame = spelling_keys(pa.array([repr(x), f" {x!r}", f"{x:.17g}"]))
    assert frame["key"].n_unique() == 1
