"""Injected anomalies in real data are found (right column, check, severity); a clean resample is quiet.

Chicago taxi trips (docs in ../shared/data/tabular/README.md): a schema is inferred on a random
half, then checked against the other half, clean and with anomalies injected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv
import pytest

from datamill.validate.anomalies import check
from datamill.validate.findings import Finding, at_least
from datamill.validate.schema import Schema, infer_schema
from datamill.validate.validation import validate

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"


def read(name: str, *, as_text: bool = False) -> pa.Table:
    path = TABULAR / name
    if not path.exists():
        pytest.skip(f"{path} is not staged")
    if as_text:  # as `datamill ingest` reads a CSV: every column a string
        names = pv.read_csv(path, read_options=pv.ReadOptions(skip_rows_after_names=1 << 30)).column_names
        return pv.read_csv(path, convert_options=pv.ConvertOptions(column_types=dict.fromkeys(names, pa.string())))
    return pv.read_csv(path)


def halves(table: pa.Table, seed: int) -> tuple[pa.Table, pa.Table]:
    order = np.random.default_rng(seed).permutation(table.num_rows)
    half = table.num_rows // 2
    return table.take(pa.array(order[:half])), table.take(pa.array(order[half:]))


def replace(table: pa.Table, name: str, values: pa.Array | list[object]) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values) if isinstance(values, list)
                            else values)


def serious(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if at_least(f.severity, "error")]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", ["chicago_taxi_train.csv", "adult.csv"])
def test_a_clean_resample_raises_nothing_above_warning(name: str, seed: int) -> None:
    train, test = halves(read(name), seed)
    schema = infer_schema(train)
    assert serious(check(test, schema)) == []
    # A resample with replacement of the training half too (it repeats rows: those are warnings at most).
    rng = np.random.default_rng(seed + 10)
    again = train.take(pa.array(rng.integers(0, train.num_rows, train.num_rows // 2)))
    assert [f for f in serious(check(again, schema)) if f.check != "duplicate_rows"] == []


@pytest.fixture(scope="module")
def taxi() -> tuple[Schema, pa.Table]:
    train, test = halves(read("chicago_taxi_train.csv"), 7)
    return infer_schema(train), test


def by_column(findings: list[Finding], column: str) -> dict[str, str]:
    return {f.check: f.severity for f in findings if f.column == column}


def test_injected_anomalies_are_each_found(taxi: tuple[Schema, pa.Table]) -> None:
    schema, test = taxi
    n = test.num_rows
    rng = np.random.default_rng(3)
    rows = rng.permutation(n)
    # 1. A new category in a categorical column, on 5% of rows.
    payment = test["payment_type"].to_numpy(zero_copy_only=False).astype(object)
    payment[rows[: n // 20]] = "Crypto"
    # 2. Miles -> km on half the rows of trip_miles.
    miles = test["trip_miles"].to_numpy().copy()
    miles[rows[: n // 2]] *= 1.609344
    # 3. 30% missing in fare.
    fare = test["fare"].to_numpy().copy()
    fare_mask = np.zeros(n, bool)
    fare_mask[rows[: int(0.3 * n)]] = True
    # 4. "0", "0.0" and "" mixed in tips (read as text, as a file exported by another tool would be).
    tips = pc.cast(test["tips"], pa.string()).to_numpy(zero_copy_only=False).astype(object)
    zero = np.flatnonzero(test["tips"].to_numpy() == 0.0)
    tips[zero[::3]], tips[zero[1::3]] = "0.0", ""
    tips[tips == "0"] = "0"
    broken = replace(replace(replace(replace(test, "payment_type", list(payment)), "trip_miles", pa.array(miles)),
                             "fare", pa.array(fare, mask=fare_mask)), "tips", list(tips))

    findings = check(broken, schema)

    payment_found = by_column(findings, "payment_type")
    assert payment_found["out_of_domain"] == "error"
    domain = next(f for f in findings if f.check == "out_of_domain" and f.column == "payment_type")
    assert domain.examples[0] == "Crypto" and domain.value == pytest.approx(0.05, abs=0.002)
    assert by_column(findings, "trip_miles")["mixed_units"] == "error"
    units = next(f for f in findings if f.check == "mixed_units")
    assert "miles -> km" in units.details["transform"] and units.details["share"] == pytest.approx(0.5, abs=0.15)
    assert by_column(findings, "fare")["required"] == "error"  # fare had no missing value in training
    assert next(f for f in findings if f.column == "fare").value == pytest.approx(0.3, abs=0.001)
    tips_found = by_column(findings, "tips")
    assert tips_found["mixed_format"] == "warning"
    assert tips_found["type_change"] == "error"  # a double column now holds text
    mixed = next(f for f in findings if f.check == "mixed_format")
    assert {"0", "0.0"} <= set(mixed.examples)
    assert tips_found["required"] == "error"  # the blanks are missing values
    # Nothing else is an error.
    assert {(f.column, f.check) for f in serious(findings)} == {
        ("payment_type", "out_of_domain"), ("trip_miles", "mixed_units"), ("fare", "required"),
        ("tips", "type_change"), ("tips", "required")}


def test_injected_anomalies_in_all_text_columns_are_found() -> None:
    train, test = halves(read("chicago_taxi_train.csv", as_text=True), 5)
    schema = infer_schema(train)
    assert schema.columns["trip_miles"].format == "number" and schema.columns["trip_miles"].quantiles
    assert serious(check(test, schema)) == []
    miles = pc.cast(pc.multiply(pc.cast(test["trip_miles"], pa.float64()), 1.609344), pa.string())
    every = np.arange(test.num_rows)
    tips = pc.if_else(pc.and_(pc.equal(test["tips"], "0.0"), pa.array(every % 2 == 0)), pa.scalar("0"), test["tips"])
    tips = pc.if_else(pa.array(every % 7 == 0), pa.scalar(""), tips)
    broken = replace(replace(test, "trip_miles", miles.combine_chunks()), "tips", tips.combine_chunks())
    findings = check(broken, schema)
    assert by_column(findings, "trip_miles")["mixed_units"] == "error"
    assert by_column(findings, "tips")["mixed_format"] == "warning"
    assert by_column(findings, "tips")["required"] == "error"  # one row in 7 is now blank
    assert "type_change" not in by_column(findings, "tips")


def test_a_missing_column_is_named(taxi: tuple[Schema, pa.Table]) -> None:
    schema, test = taxi
    findings = check(test.drop_columns(["company"]), schema)
    assert [(f.check, f.column, f.severity) for f in serious(findings)] == [("missing_column", "company", "error")]


# ---------------------------------------------------------------------------- with drift: validate()
@pytest.mark.parametrize("seed", [0, 1])
def test_validate_on_a_clean_resample_raises_nothing_above_warning_drift_included(seed: int) -> None:
    train, test = halves(read("chicago_taxi_train.csv"), seed)
    report = validate(test, reference=train, profiles=False)
    assert report["drift"] and [f for f in report["findings"] if f["severity"] == "error"] == []
    assert report["verdict"] == "pass"


def test_validate_finds_every_injected_problem_and_a_shifted_distribution(taxi: tuple[Schema, pa.Table]) -> None:
    schema, test = taxi
    train, _ = halves(read("chicago_taxi_train.csv"), 7)
    n = test.num_rows
    rows = np.random.default_rng(4).permutation(n)
    payment = test["payment_type"].to_numpy(zero_copy_only=False).astype(object)
    payment[rows[: n // 20]] = "Crypto"
    miles = test["trip_miles"].to_numpy().copy()
    miles[rows[: n // 2]] *= 1.609344
    fare_mask = np.zeros(n, bool)
    fare_mask[rows[: int(0.3 * n)]] = True
    # A shifted distribution: trips start three hours later (the clock of another time zone).
    hours = pa.array((test["trip_start_hour"].to_numpy() + 3) % 24)
    broken = replace(replace(replace(replace(test, "payment_type", list(payment)), "trip_miles", pa.array(miles)),
                             "fare", pa.array(test["fare"].to_numpy(), mask=fare_mask)),
                     "trip_start_hour", hours)

    report = validate(broken, schema=schema, reference=train, profiles=False)
    found = {(f["column"], f["check"]): f["severity"] for f in report["findings"]}
    assert found[("payment_type", "out_of_domain")] == "error"
    assert found[("trip_miles", "mixed_units")] == "error"
    assert found[("fare", "required")] == "error"
    assert found[("trip_start_hour", "drift")] in ("warning", "error")
    drifted = {d["column"] for d in report["drift"] if d["drifted"]}
    assert "trip_start_hour" in drifted
    assert report["verdict"] == "fail"
