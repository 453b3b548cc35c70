"""Schema inference, the YAML round trip, clear errors, hostile input."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datamill.core.errors import ConfigError
from datamill.validate.anomalies import check
from datamill.validate.schema import (
    QUANTILE_PROBS,
    ColumnSchema,
    DriftRule,
    OutlierRule,
    Schema,
    finalize_schema,
    infer_schema,
    infer_state,
    load_schema,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
share = st.floats(0.0, 1.0, allow_nan=False)
scalar = st.one_of(st.booleans(), st.integers(-(2**62), 2**62), st.text(max_size=20))
rules = st.builds(DriftRule, method=st.sampled_from(["wasserstein", "psi", "ks", "jensen_shannon", "linf", "chi2"]),
                  threshold=st.floats(0.0, 10.0))
columns = st.builds(
    ColumnSchema, type=st.sampled_from(["int64", "double", "string", "large_string", "timestamp[us]"]),
    kind=st.sampled_from(["numeric", "string", "temporal"]), required=st.booleans(),
    max_missing=st.none() | share, min=st.none() | finite, max=st.none() | finite,
    domain=st.none() | st.lists(scalar, max_size=5),
    format=st.none() | st.sampled_from(["email", "date", "integer", "uuid"]), max_invalid=st.none() | share,
    unique=st.booleans(), quantiles=st.none() | st.lists(finite, min_size=21, max_size=21),
    outliers=st.none() | st.builds(OutlierRule, method=st.sampled_from(["iqr", "zscore"]), k=st.floats(0.1, 10),
                                   max_share=share),
    drift=st.none() | rules, skew=st.none() | rules)
schemas = st.builds(Schema, min_rows=st.none() | st.integers(0, 10**9), max_duplicate_rows=st.none() | share,
                    columns=st.dictionaries(st.text(min_size=1, max_size=15), columns, max_size=4))


@settings(max_examples=60, deadline=None)
@given(schemas)
def test_yaml_round_trip_gives_the_same_schema(schema: Schema) -> None:
    assert Schema.from_yaml(schema.to_yaml()) == schema


def test_inference_on_a_small_table() -> None:
    n = 200
    table = pa.table({
        "id": [f"r{i}" for i in range(n)],
        "size": ["S", "M", "L", "XL"] * (n // 4),
        "price": [float(i % 50) + 0.5 for i in range(n)],
        "mail": [f"u{i}@example.org" for i in range(n)],
        "day": [f"2024-01-{1 + i % 28:02d}" for i in range(n)],
        "note": [None if i % 10 == 0 else "x" for i in range(n)],
    })

    schema = infer_schema(table)

    c = schema.columns
    assert c["id"].unique and c["id"].required and c["id"].domain is None
    assert c["size"].domain == ["L", "M", "S", "XL"] and not c["size"].unique
    assert c["size"].drift == DriftRule(method="jensen_shannon", threshold=0.1)
    assert c["price"].min == 0.0 and c["price"].max > 49.5  # widened, not crossing zero
    assert c["price"].quantiles is not None and len(c["price"].quantiles) == len(QUANTILE_PROBS)
    assert c["price"].drift == DriftRule(method="wasserstein", threshold=0.1)
    assert (c["mail"].format, c["day"].format) == ("email", "date")
    assert not c["note"].required and c["note"].max_missing is not None and 0.1 < c["note"].max_missing < 0.2
    assert schema.min_rows == 1 and schema.max_duplicate_rows == 0.0
    assert check(table, schema) == []


def test_merged_shards_infer_the_same_schema_as_one_pass() -> None:
    rng = np.random.default_rng(3)
    table = pa.table({"x": rng.integers(0, 10, 4000), "s": rng.choice(["a", "b"], 4000)})
    left, right = infer_state(table.slice(0, 1500)), infer_state(table.slice(1500))
    merged = finalize_schema(left.merge(right))
    whole = infer_schema(table)
    for name in ("x", "s"):
        a, b = merged.columns[name], whole.columns[name]
        assert (a.type, a.domain, a.min, a.max, a.required) == (b.type, b.domain, b.min, b.max, b.required)


def test_an_open_domain_is_not_inferred() -> None:
    # Half the values seen once: a resample would meet new ones, so no domain.
    values = [f"v{i}" for i in range(100)] + ["a"] * 100
    assert infer_schema(pa.table({"s": values})).columns["s"].domain is None


@pytest.mark.parametrize(("text", "needle"), [
    ("schema_version: 1\ncolumns:\n  a: {type: int64, mni: 3}\n",
     "line 3: columns.a.mni: unknown key. Did you mean 'min'?"),
    ("schema_version: 1\ncolumns:\n  a:\n    type: int64\n    max_missing: lots\n", "line 5: columns.a.max_missing"),
    ("schema_version: 1\nmin_rows: -1\n", "line 2: min_rows"),
    ("schema_version: 1\ncolumns:\n  a: {type: int64, drift: {method: magic, threshold: 1}}\n",
     "columns.a.drift.method"),
    ("schema_version: 1\ncolumns:\n  a: {type: int64, format: phone}\n", "columns.a.format"),
    ("schema_version: 2\n", "`schema_version` must be 1"),
    ("- a\n- b\n", "a schema is a mapping"),
    ("schema_version: 1\ncolumns: {a: [\n", "not valid YAML"),
    ("schema_version: 1\ncolumns:\n  a: {type: double, min: .nan}\n", "columns.a.min"),
])
def test_bad_yaml_names_the_key_and_line(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        Schema.from_yaml(text)
    assert needle in str(err.value)


def test_load_schema_reads_a_file(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "s.yaml"
    schema = infer_schema(pa.table({"a": [1, 2, 3]}))
    path.write_text(schema.to_yaml())
    assert load_schema(path) == schema


def test_hostile_input() -> None:
    empty = infer_schema(pa.table({"a": pa.array([], pa.int64())}))
    assert empty.min_rows == 0 and empty.columns["a"].type == "int64" and not empty.columns["a"].required

    nulls = infer_schema(pa.table({"a": pa.array([None] * 50, pa.string())}))
    assert nulls.columns["a"].max_missing == 1.0 and nulls.columns["a"].domain is None

    huge = infer_schema(pa.table({"t": ["x" * 100_000, "y" * 100_000] * 10}))
    assert huge.columns["t"].domain == ["x" * 100_000, "y" * 100_000]

    raw = infer_schema(pa.table({"b": pa.array([b"\xff\xfe", b"\x80abc", None] * 10, pa.binary())}))
    assert raw.columns["b"].kind == "binary" and raw.columns["b"].format is None

    floats = infer_schema(pa.table({"f": [1.0, math.nan, math.inf, -math.inf, 2.0] * 10}))
    f = floats.columns["f"]
    assert f.min is not None and f.max is not None and math.isfinite(f.min) and math.isfinite(f.max)
    assert f.max_missing is not None and f.max_missing >= 0.2  # NaN counts as missing
    Schema.from_yaml(floats.to_yaml())  # no NaN or inf reaches the YAML


def test_unknown_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_domain"):
        infer_schema(pa.table({"a": [1]}), max_domains=3)
