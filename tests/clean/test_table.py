"""`clean.table` and its profile: mixed representations, types and units, on real and hostile tables."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill import Pipeline
from datamill.clean.table import CleanTable, CleanTableConfig, plan_cleaning, suggested_config
from datamill.clean.table_profile import ProfileOptions, TableState, profile_table
from datamill.core.errors import ConfigError
from datamill.ingest.csv import CsvReader
from datamill.store import Workspace
from datamill.testing import StepResult, make_batch, run_step

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"


def read_csv(name: str) -> pa.Table:
    return run_step(CsvReader(paths=[str(TABULAR / name)])).output


@pytest.fixture(scope="module")
def adult() -> pa.Table:
    return read_csv("adult.csv")


@pytest.fixture(scope="module")
def metro() -> pa.Table:
    return read_csv("metro_traffic_volume.csv")


@pytest.fixture(scope="module")
def energy() -> pa.Table:
    return read_csv("dirty_energy_consumption.csv")


def clean(step: CleanTable, table: pa.Table, parts: int = 1) -> StepResult:
    """Run the step with the table cut into ``parts`` partitions (to exercise merge)."""
    size = max(1, math.ceil(table.num_rows / parts))
    partitions = [table.slice(i * size, size).to_batches() for i in range(parts)]
    result = run_step(step, partitions=partitions)
    assert result.ledger.balanced
    return result


def changes_by_metric(result: StepResult) -> dict[str, float]:
    totals = {"cells_changed", "cells_nulled", "cast_errors"}
    return {k: v for k, v in result.metrics.items() if k not in totals}


def expected_metrics(table: pa.Table, config: CleanTableConfig) -> dict[str, float]:
    plan = plan_cleaning(profile_table(table, options=config.profile_options()), config)
    return {f"{column}: {change.key}": float(change.count or 0)
            for column, changes in plan.changes.items() for change in changes if change.count}


# ------------------------------------------------------------------------------ real data
def test_profile_finds_the_question_marks_of_adult(adult: pa.Table) -> None:
    report = profile_table(adult)

    missing = {c.name: c.missing for c in report.columns if c.missing}
    assert missing == {"workclass": 1836, "occupation": 1843, "native-country": 583}
    assert report.column("workclass").finding("missing_tokens").examples == {" ?": 1836}  # type: ignore[union-attr]
    assert report.column("age").inferred == "int64"
    assert report.column("sex").inferred == "string"
    assert report.column("sex").finding("whitespace").count == 32561  # type: ignore[union-attr]
    # 99999 in capital-gain is a cap, not far enough from 41,310 to be read as missing.
    assert report.column("capital-gain").sentinels == {}
    assert report.column("capital-gain").finding("possible_sentinels").examples == {"99999": 159}  # type: ignore[union-attr]


def test_clean_table_nulls_adult_question_marks_and_types_its_numbers(adult: pa.Table) -> None:
    result = clean(CleanTable(), adult, parts=3)

    out = result.output
    assert out.num_rows == adult.num_rows
    assert out.schema.field("age").type == pa.int64()
    assert out.schema.field("workclass").type == pa.string()
    assert out["workclass"].null_count == 1836
    assert out["occupation"].null_count == 1843
    assert out["native-country"].null_count == 583
    assert set(out["sex"].to_pylist()) == {"Male", "Female"}
    assert result.metrics["workclass: null token -> null"] == 1836
    assert result.metrics["sex: padded -> trimmed"] == 32561
    assert result.metrics["cells_nulled"] == 1836 + 1843 + 583


def test_clean_table_metrics_match_what_the_profile_predicts(adult: pa.Table) -> None:
    config = CleanTableConfig()

    result = clean(CleanTable(config), adult, parts=2)

    assert changes_by_metric(result) == expected_metrics(adult, config)


def test_metro_none_holidays_become_null_and_dates_timestamps(metro: pa.Table) -> None:
    result = clean(CleanTable(case={"weather_description": "majority"}), metro, parts=2)

    out = result.output
    assert out["holiday"].null_count == 48143
    assert out.schema.field("date_time").type == pa.timestamp("us")
    assert out["date_time"][0].as_py() == datetime(2012, 10, 2, 9, 0)
    assert out.schema.field("temp").type == pa.float64()
    descriptions = set(out["weather_description"].to_pylist())
    assert "sky is clear" in descriptions and "Sky is Clear" not in descriptions
    assert result.metrics["weather_description: case variant -> majority"] == 1726


def test_profile_finds_the_problems_of_the_dirty_energy_file(energy: pa.Table) -> None:
    report = profile_table(energy)

    numeric = [c for c in report.columns if c.name != "Date"]
    assert [c.missing for c in numeric] == [9, 9, 9, 9, 9]
    assert all(c.inferred == "float64" for c in numeric)
    assert report.column("Date").inferred == "date"
    household = report.column("Household_1 (kWh)")
    extreme = household.finding("extreme_values")
    assert extreme is not None and list(extreme.examples) == ["200"]
    assert household.finding("number_formats") is not None  # "200.0" among full-precision decimals


# ------------------------------------------------------------------------ representations
def profile(**columns: list[Any]) -> Any:
    return profile_table([make_batch(**columns)])


def test_profile_reads_every_common_missing_token() -> None:
    tokens = ["", " ", "NA", "N/A", "n/a", "null", "NULL", "None", "nan", "NaN", "-", "?", " ?"]
    col = profile(x=[*tokens, "a", "b"]).column("x")

    assert col.missing == len(tokens)


def test_profile_reads_sentinels_only_when_far_outside_the_other_numbers() -> None:
    ages = [str(20 + i) for i in range(30)]
    report = profile(age=[*ages, "-999", "-999"], debt=[*[str(-i) for i in range(31)], "-999"],
                     income=[*[str(1000 * i) for i in range(31)], "999999"],
                     big=[*[str(50000 * i) for i in range(31)], "999999"])

    assert report.column("age").sentinels == {-999.0: 2}
    assert report.column("debt").sentinels == {}  # negative numbers are normal there
    assert report.column("income").sentinels == {999999.0: 1}
    assert report.column("big").sentinels == {}  # 999999 is within 10× of the largest value


def test_profile_needs_evidence_before_calling_a_value_a_sentinel() -> None:
    col = profile(age=["20", "30", "-999"]).column("age")

    assert col.sentinels == {}
    assert col.finding("possible_sentinels") is not None


def test_profile_sees_zero_and_zero_point_zero_as_one_number_column() -> None:
    col = profile(n=["0", "0.0", "1", "1.0", "2"]).column("n")

    assert col.inferred == "int64"
    assert col.finding("number_formats") is not None


def test_booleans_spelled_many_ways_become_one_bool_column() -> None:
    batch = make_batch(flag=["TRUE", "true", "yes", "Y", "1", "no", "0", "F"])

    result = run_step(CleanTable(), [batch])

    assert profile_table([batch]).column("flag").inferred == "bool"
    assert result.output["flag"].to_pylist() == [True, True, True, True, True, False, False, False]
    assert result.ledger.balanced


def test_only_zeros_and_ones_stay_integers() -> None:
    assert profile(n=["0", "1", "1"]).column("n").inferred == "int64"


def test_whitespace_and_case_variants_are_grouped() -> None:
    col = profile(sex=[" Male", "Male", "male", "Female", "FEMALE ", "Female"]).column("sex")

    assert col.case_groups == {"male": {"Male": 2, "male": 1}, "female": {"Female": 2, "FEMALE": 1}}
    assert col.finding("whitespace").count == 2  # type: ignore[union-attr]


def test_numbers_with_some_text_stay_strings_and_are_flagged() -> None:
    report = profile(n=[*[str(i) for i in range(40)], "unknown", "n.a."])

    col = report.column("n")
    assert col.inferred == "string"
    mixed = col.finding("mixed_types")
    assert mixed is not None and mixed.count == 2 and set(mixed.examples) == {"unknown", "n.a."}
    assert suggested_config(report)["cast"] == {"n": "int64"}


def test_dates_in_several_formats_become_one_date_column() -> None:
    batch = make_batch(d=["2021-03-04", "04/03/2021", "March 4, 2021", "4 Mar 2021", "13/03/2021"])

    col = profile_table([batch]).column("d")
    result = run_step(CleanTable(), [batch])

    assert col.inferred == "date" and col.day_first is True
    assert col.finding("date_formats") is not None
    assert result.output["d"].to_pylist() == [date(2021, 3, 4)] * 4 + [date(2021, 3, 13)]


def test_ambiguous_slashed_dates_are_month_first_unless_told() -> None:
    batch = make_batch(d=["04/03/2021", "05/06/2021"])

    assert run_step(CleanTable(), [batch]).output["d"].to_pylist() == [date(2021, 4, 3), date(2021, 5, 6)]
    assert run_step(CleanTable(day_first=True), [batch]).output["d"].to_pylist() == [date(2021, 3, 4),
                                                                                     date(2021, 6, 5)]
    assert profile_table([batch]).column("d").finding("date_order_ambiguous") is not None


def test_dates_in_both_orders_are_a_conflict_kept_as_text() -> None:
    col = profile(d=["13/03/2021", "03/13/2021"]).column("d")

    assert col.inferred == "string"
    assert col.finding("date_order_conflict") is not None


def test_timestamps_with_zones_are_converted_to_utc() -> None:
    batch = make_batch(t=["2021-03-04 10:00:00", "2021-03-04T12:00:00+02:00", "2021-03-04T10:00Z"])

    out = run_step(CleanTable(), [batch]).output

    assert out["t"].to_pylist() == [datetime(2021, 3, 4, 10, 0)] * 3


def test_mixed_units_are_found_and_converted_only_when_configured() -> None:
    batch = make_batch(w=["5 kg", "5000 g", "2.5kg", "1 lb"], p=["12%", "0.12", "50 %", "0.5"],
                       n=["1.2k", "1200", "3M", "7"], price=["$1,200", "1200", "USD 5", "$3.50"])

    report = profile_table([batch])
    untouched = run_step(CleanTable(), [batch]).output
    converted = run_step(CleanTable(units={"w": {"target": "kg"}, "p": {"target": "fraction"},
                                           "n": {"target": "count"}, "price": {"target": "USD"}}), [batch])

    assert all(report.column(c).finding("mixed_units") is not None for c in "wpn")
    assert report.column("price").finding("mixed_units") is not None
    assert untouched["w"].to_pylist() == ["5 kg", "5000 g", "2.5kg", "1 lb"]
    out = converted.output
    assert out["w"].to_pylist() == pytest.approx([5.0, 5.0, 2.5, 0.45359237])
    assert out["p"].to_pylist() == pytest.approx([0.12, 0.12, 0.5, 0.5])
    assert out["n"].to_pylist() == pytest.approx([1200.0, 1200.0, 3e6, 7.0])
    assert out["price"].to_pylist() == pytest.approx([1200.0, 1200.0, 5.0, 3.5])
    assert converted.metrics["w: unit:g -> kg"] == 1
    assert suggested_config(report)["units"]["p"] == {"target": "fraction"}


def test_units_that_do_not_convert_are_cast_errors_unless_given_factors() -> None:
    batch = make_batch(price=["$10", "€10", "10"])

    plain = run_step(CleanTable(units={"price": {"target": "USD"}}), [batch])
    with_rate = run_step(CleanTable(units={"price": {"target": "USD", "factors": {"EUR": 1.1}}}), [batch])

    assert plain.output["price"].to_pylist() == [10.0, None, 10.0]
    assert plain.metrics["cast_errors"] == 1
    assert with_rate.output["price"].to_pylist() == pytest.approx([10.0, 11.0, 10.0])


def test_codes_with_leading_zeros_stay_text() -> None:
    batch = make_batch(zip=["02134", "10001", "00501"])

    assert run_step(CleanTable(), [batch]).output["zip"].to_pylist() == ["02134", "10001", "00501"]


# --------------------------------------------------------------------------- cast errors
def test_cast_errors_become_null_and_are_counted() -> None:
    batch = make_batch(n=["1", "2", "many"])

    result = run_step(CleanTable(cast={"n": "int64"}), [batch])

    assert result.output["n"].to_pylist() == [1, 2, None]
    assert result.metrics["n: text -> null (cast error)"] == 1
    assert result.metrics["cast_errors"] == 1
    assert result.ledger.balanced


def test_cast_errors_can_quarantine_the_row() -> None:
    batch = make_batch(n=["1", "2", "many"], s=[" a", "b", "c"])

    result = run_step(CleanTable(cast={"n": "int64"}, on_cast_error="quarantine"), [batch])

    assert result.output["n"].to_pylist() == [1, 2]
    assert result.ledger.quarantined == {"cast_error": 1}
    assert result.ledger.balanced
    row = result.quarantine.to_pylist()[0]
    assert row["id"] == "2" and "column `n`: 'many' is not int64" in row["error"]
    assert '"s": "c"' in row["row"]


def test_cast_errors_can_keep_the_column_as_strings() -> None:
    batch = make_batch(n=["1", "2", "many"], m=["1", "2", "3"])

    result = run_step(CleanTable(cast={"n": "int64", "m": "int64"}, on_cast_error="keep_column_as_string"),
                      [batch])

    assert result.output["n"].to_pylist() == ["1", "2", "many"]
    assert result.output["m"].to_pylist() == [1, 2, 3]


def test_cast_mapping_leaves_other_columns_alone() -> None:
    batch = make_batch(a=["1", "2"], b=["3", "4"])

    out = run_step(CleanTable(cast={"a": "float64"}), [batch]).output

    assert out.schema.field("a").type == pa.float64()
    assert out["b"].to_pylist() == ["3", "4"]


# ----------------------------------------------------------------------------- typed input
def test_typed_numbers_get_sentinels_and_nan_as_null() -> None:
    values = [float(i) for i in range(20)]
    batch = make_batch(x=pa.array([*values, -999.0, float("nan")], pa.float64()),
                       k=pa.array([*range(20), -999, 3], pa.int64()))

    result = run_step(CleanTable(), [batch])

    assert result.output["x"].to_pylist()[-2:] == [None, None]
    assert result.output["k"].to_pylist()[-2:] == [None, 3]
    assert result.output.schema.field("k").type == pa.int64()
    assert result.metrics["x: null token -> null"] == 1
    assert result.metrics["k: sentinel -> null"] == 1


def test_reserved_and_other_typed_columns_pass_through() -> None:
    batch = make_batch(text=[" NA "], when=pa.array([date(2020, 1, 1)], pa.date32()))

    result = run_step(CleanTable(), [batch])

    assert result.output.to_pylist() == batch.to_pylist()


def test_configured_sentinels_replace_detection() -> None:
    batch = make_batch(a=["1", "-1", "5"], b=[*["7"] * 2, "-999"])

    out = run_step(CleanTable(sentinels={"a": [-1]}), [batch]).output

    assert out["a"].to_pylist() == [1, None, 5]
    assert out["b"].to_pylist() == [7, 7, -999]


# ----------------------------------------------------------------------------- bad config
def test_a_column_named_in_the_config_must_exist() -> None:
    with pytest.raises(ConfigError, match=r"no column 'agee' \(in `cast`\)"):
        run_step(CleanTable(cast={"agee": "int64"}), [make_batch(age=["1"])])


def test_an_unknown_unit_says_how_to_define_it() -> None:
    with pytest.raises(ConfigError, match=r"`units.w`.*`target` 'stone' is not a unit.*`factors`"):
        CleanTable(units={"w": {"target": "stone"}})


def test_a_type_name_must_be_one_we_cast_to() -> None:
    with pytest.raises(ConfigError, match=r"`cast`.*column 'a': 'integer' is not a type clean.table casts to"):
        CleanTable(cast={"a": "integer"})


def test_numbers_cannot_be_cast_to_dates() -> None:
    batch = make_batch(n=pa.array([1, 2], pa.int64()))

    with pytest.raises(ConfigError, match=r"int64 numbers.*int64, float64 or string"):
        run_step(CleanTable(cast={"n": "date"}), [batch])


# ---------------------------------------------------------------------------- edge cases
def test_empty_input_and_empty_batches() -> None:
    empty = make_batch(id=pa.array([], pa.string()), a=pa.array([], pa.string()))

    assert run_step(CleanTable(), []).output.num_rows == 0
    result = run_step(CleanTable(), [empty, make_batch(a=["1", " 2"])])
    assert result.output["a"].to_pylist() == [1, 2]
    assert result.ledger.balanced


def test_all_missing_and_all_null_columns() -> None:
    batch = make_batch(a=["?", " ?", "NA"], b=pa.array([None, None, None], pa.string()))

    result = run_step(CleanTable(), [batch])

    assert result.output["a"].to_pylist() == [None, None, None]
    assert result.output["b"].to_pylist() == [None, None, None]
    assert profile_table([batch]).column("a").finding("all_missing") is not None


def test_metric_names_stay_bounded_per_column() -> None:
    units = ["kg", "g", "mg", "lb", "oz", "t", "m", "km", "cm", "mm", "in", "ft", "mi", "yd", "s", "ms", "h",
             "min", "l", "ml", "Wh", "kWh", "%", "k", "M"]
    batch = make_batch(x=[f"{i} {u}" for i, u in enumerate(units)] + ["1", "1.5", "x", "2021-01-01", "TRUE"])

    result = run_step(CleanTable(cast={"x": "float64"}), [batch])

    names = [k for k in result.metrics if k.startswith("x: ")]
    assert len(names) <= 20 and "x: other" in names
    assert sum(result.metrics[k] for k in names) == batch.num_rows


def test_profile_is_the_same_in_one_pass_or_merged_from_parts(adult: pa.Table) -> None:
    whole = profile_table(adult.slice(0, 4000))
    parts = [TableState(ProfileOptions()).update(adult.slice(i, 1000)) for i in range(0, 4000, 1000)]
    merged = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3])).report()

    for a, b in zip(whole.columns, merged.columns, strict=True):
        assert (a.classes, a.padded, a.inferred, a.values, a.sentinels) == (b.classes, b.padded, b.inferred,
                                                                            b.values, b.sentinels)
        assert [f.code for f in a.findings] == [f.code for f in b.findings]
        assert a.numbers.count == b.numbers.count
        assert a.numbers.mean == pytest.approx(b.numbers.mean)


def test_clean_table_runs_in_a_pipeline_with_workers(ws: Workspace, tmp_path: Path) -> None:
    for i in range(3):
        rows = "\n".join(f"{20 + j}, Male ,{'?' if j % 7 == 0 else 'x'}" for j in range(i * 20, i * 20 + 20))
        (tmp_path / f"part{i}.csv").write_text("age,sex,tag\n" + rows + "\n-999, male ,y\n")
    pipe = Pipeline.from_dict({"name": "t", "steps": [
        {"id": "raw", "uses": "read.csv", "with": {"paths": [str(tmp_path / "part*.csv")]}},
        {"id": "clean", "uses": "clean.table", "input": "raw", "with": {"case": {"sex": "majority"}}},
    ], "outputs": {"tidy": "clean"}})

    result = pipe.run(ws, workers=2)

    step = result.step("clean")
    assert step.rows_in == step.rows_out == 63
    out = ws.open("tidy").to_arrow()
    assert out.schema.field("age").type == pa.int64()
    assert out["age"].null_count == 3  # the -999s, far below ages of 20 to 79
    assert set(out["sex"].to_pylist()) == {"Male"}
    assert out["tag"].null_count == 9
    assert step.metrics["sex: case variant -> majority"] == 3


# ------------------------------------------------------------------------- property tests
_TOKENS = st.sampled_from([
    "", " ", "NA", "n/a", "None", "?", " ?", "-999", "0", "0.0", "1", "1.0", "12", " 42 ", "1,200", "3.5", "1e3",
    "TRUE", "true", "yes", "Y", "no", "2021-03-04", "04/03/2021", "13/03/2021", "March 4, 2021",
    "2021-03-04 10:00:00", "5 kg", "5000 g", "12%", "0.12", "1.2k", "$1,200", "Male", " male", "MALE", "007",
])
_CELL = st.one_of(_TOKENS, st.text(max_size=12), st.none())


def _table(columns: list[list[str | None]]) -> pa.RecordBatch:
    n = min(len(c) for c in columns)
    data = {f"c{i}": pa.array(c[:n], pa.string()) for i, c in enumerate(columns)}
    return make_batch(id=pa.array([str(i) for i in range(n)], pa.string()), **data)


_TABLES = st.lists(st.lists(_CELL, min_size=0, max_size=30), min_size=1, max_size=4).map(_table)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(), max_size=40))
def test_profile_never_crashes_on_arbitrary_strings(values: list[str]) -> None:
    report = profile_table([make_batch(x=pa.array(values, pa.string()))])

    col = report.column("x")
    assert sum(r.count for r in col.representations) == len(values)
    assert report.to_dict()["rows"] == len(values)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TABLES)
def test_clean_table_accounts_for_every_row_and_changes_nothing_the_second_time(batch: pa.RecordBatch) -> None:
    config: dict[str, Any] = {"case": {"c0": "majority"}} if "c0" in batch.schema.names else {}

    first = run_step(CleanTable(config), [batch])
    second = run_step(CleanTable(config), first.output.to_batches()
                      or [pa.RecordBatch.from_pylist([], schema=first.output.schema)])

    assert first.ledger.balanced and first.ledger.rows_in == batch.num_rows
    assert second.output.equals(first.output)
    assert second.metrics.get("cells_changed", 0) == 0


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TABLES)
def test_clean_table_metrics_match_the_profile_on_any_table(batch: pa.RecordBatch) -> None:
    config = CleanTableConfig(on_cast_error="quarantine", cast={n: "float64" for n in batch.schema.names[1:2]})

    result = run_step(CleanTable(config), [batch])

    assert result.ledger.balanced
    assert changes_by_metric(result) == expected_metrics(pa.Table.from_batches([batch]), config)


def test_the_docs_pipeline_runs_on_adult(ws: Workspace) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "tables.md").read_text()
    block = docs.split("```yaml\nname: adult\n", 1)[1].split("```", 1)[0]
    spec = yaml.safe_load("name: adult\n" + block)
    spec["steps"][0]["with"]["paths"] = [str(TABULAR / "adult.csv")]

    result = Pipeline.from_dict(spec).run(ws)

    step = result.step("clean")
    assert step.rows_in == step.rows_out == 32561 and step.quarantined == {}
    out = ws.open("adult_clean").to_arrow()
    assert out["capital-gain"].null_count == 159
    assert out.schema.field("education-num").type == pa.int64()
    assert out.schema.field("fnlwgt").type == pa.string()  # not named in `cast`
    assert out["workclass"].null_count == 1836
    assert step.metrics["capital-gain: sentinel -> null"] == 159
