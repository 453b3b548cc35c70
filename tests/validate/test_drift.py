"""Drift and skew: per column, per slice, label and concept drift, on synthetic and real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from datamill.core.errors import ConfigError, SchemaError
from datamill.validate.concept import concept_drift
from datamill.validate.divergence import categorical_measures, numeric_measures, psi, size_corrected_js
from datamill.validate.drift import drift, drift_findings
from datamill.validate.findings import validation_report

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"
SHAPE = {"column", "slice", "kind", "method", "statistic", "p_value", "threshold", "drifted", "severity",
         "statistics", "reference_rows", "current_rows", "chart"}


def by_column(results: list[dict]) -> dict[str, dict]:
    return {r["column"]: r for r in results if r["slice"] is None}


def mixed_table(rows: int, seed: int, *, shift: float = 0.0, new_category: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    shops = rng.choice(["a", "b", "c", "d"], rows, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    if new_category:
        shops[rng.random(rows) < 0.5] = "new"
    return pa.table({
        "id": [f"r{seed}-{i}" for i in range(rows)],
        "price": rng.normal(10 + shift, 2, rows),
        "qty": rng.integers(0, 1000, rows),
        "shop": pa.array(shops.tolist()),
        "day": pa.array(rng.integers(0, 365 * 86400, rows) * 1_000_000, pa.int64()).cast(pa.timestamp("us")),
    })


def test_identical_data_has_no_drift() -> None:
    table = mixed_table(5000, 1)
    results = drift(table, table)
    assert {r["column"] for r in results} == {"price", "qty", "shop", "day"}  # id left out by default
    assert not any(r["drifted"] for r in results)
    assert drift_findings(results) == []
    for r in results:
        assert set(r) >= SHAPE
        assert r["statistic"] == pytest.approx(0.0, abs=1e-12) or r["method"] in {"ks", "chi2", "z"}


def test_shifted_normal_drifts_in_that_column_only() -> None:
    results = by_column(drift(mixed_table(20_000, 1), mixed_table(20_000, 2, shift=1.0)))
    assert results["price"]["drifted"] and results["price"]["method"] == "wasserstein"
    assert results["price"]["statistic"] == pytest.approx(0.5, abs=0.05)  # 1 / std 2
    assert results["price"]["severity"] == "error"  # ≥ 2 × 0.1
    assert [c for c, r in results.items() if r["drifted"]] == ["price"]
    assert results["day"]["kind"] == "temporal" and results["price"]["kind"] == "numeric"
    chart = results["price"]["chart"]
    assert chart["type"] == "numeric" and len(chart["edges"]) == len(chart["reference"]) + 1
    assert sum(chart["reference"]) == 20_000


def test_new_dominant_category_drifts() -> None:
    results = by_column(drift(mixed_table(20_000, 1), mixed_table(20_000, 2, new_category=True)))
    shop = results["shop"]
    assert shop["drifted"] and shop["kind"] == "categorical" and shop["method"] == "jensen_shannon"
    assert "new" in shop["chart"]["categories"]
    (finding,) = drift_findings([shop])
    assert finding.check == "drift" and finding.column == "shop" and finding.severity == "error"
    assert finding.examples[0].startswith("new: 0.0% → ")


def test_random_split_of_100k_categories_is_not_drift() -> None:
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 100_000, 1_000_000)
    values = pc.binary_join_element_wise("c_", pa.array(codes).cast(pa.string()), "")
    table = pa.table({"c": values}).take(pa.array(rng.permutation(1_000_000)))
    (result,) = drift(table.slice(0, 500_000), table.slice(500_000))
    assert result["statistics"]["jensen_shannon_raw"] > 0.2  # what Evidently reports: a false alarm
    assert result["statistic"] < 0.05 and not result["drifted"]
    assert result["chart"]["categories"][-1] == "(other)" and len(result["chart"]["categories"]) == 21


@pytest.mark.filterwarnings("ignore:ks_2samp. Exact calculation unsuccessful")  # scipy's own fallback
@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=60),
       st.integers(0, 3))
def test_ks_and_wasserstein_equal_scipy(a: list[float], b: list[float], rounding: int) -> None:
    # Rounded values make ties, the case where a hand-written KS usually goes wrong.
    x, y = np.round(np.array(a), rounding - 3), np.round(np.array(b), rounding - 3)
    measures = numeric_measures(np.sort(x), np.sort(y))
    expected = stats.ks_2samp(x, y)
    assert abs(measures["ks"] - expected.statistic) <= 1e-12
    assert measures["ks_p"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-12)
    assert measures["wasserstein_raw"] == pytest.approx(stats.wasserstein_distance(x, y), rel=1e-9, abs=1e-9)


def test_ks_on_large_samples_matches_scipy_asymptotic() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 30_000), rng.normal(0.02, 1, 20_000)
    measures = numeric_measures(np.sort(x), np.sort(y))
    expected = stats.ks_2samp(x, y)
    assert abs(measures["ks"] - expected.statistic) <= 1e-12
    assert measures["ks_p"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_psi_and_js_by_hand() -> None:
    ref, cur = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    by_hand = (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.4 - 0.3) * math.log(0.4 / 0.3)
    assert psi(ref, cur) == pytest.approx(by_hand, rel=1e-12)
    m = (ref + cur) / 2
    divergence = 0.5 * np.sum(ref * np.log(ref / m)) + 0.5 * np.sum(cur * np.log(cur / m))
    counts_ref, counts_cur = np.array([500_000, 300_000, 200_000]), np.array([400_000, 400_000, 200_000])
    measures = categorical_measures(counts_ref, counts_cur)
    assert measures["jensen_shannon_raw"] == pytest.approx(math.sqrt(divergence), rel=1e-12)
    # The size correction: (K − 1)(1/n₁ + 1/n₂)/8 taken from the divergence.
    corrected = math.sqrt(divergence - 2 * (2 / 1_000_000) / 8)
    assert size_corrected_js(counts_ref, counts_cur) == pytest.approx(corrected, rel=1e-12)
    assert measures["linf"] == pytest.approx(0.1)
    assert measures["chi2_p"] < 1e-100
    assert distance.jensenshannon(ref, cur) == pytest.approx(math.sqrt(divergence), rel=1e-12)


def test_small_samples_use_p_value_tests_as_evidently() -> None:
    rng = np.random.default_rng(5)
    ref = pa.table({"x": rng.normal(0, 1, 500), "s": rng.choice(["a", "b", "c"], 500), "b": rng.random(500) < 0.5})
    cur = pa.table({"x": rng.normal(1, 1, 400), "s": rng.choice(["a", "b", "c"], 400), "b": rng.random(400) < 0.9})
    results = by_column(drift(ref, cur))
    assert (results["x"]["method"], results["s"]["method"], results["b"]["method"]) == ("ks", "chi2", "z")
    assert results["x"]["drifted"] and results["x"]["p_value"] < 1e-10
    assert not results["s"]["drifted"] and results["b"]["drifted"]


def test_thresholds_per_column_override_the_method_and_threshold() -> None:
    ref, cur = mixed_table(5000, 1), mixed_table(5000, 2, shift=0.3)
    results = by_column(drift(ref, cur, thresholds={"price": {"method": "psi", "threshold": 0.5},
                                                    "shop": {"method": "linf", "threshold": 0.001},
                                                    "qty": 0.9, "not_there": {"threshold": 1}}))
    assert results["price"]["method"] == "psi" and results["price"]["threshold"] == 0.5
    assert not results["price"]["drifted"]
    assert results["shop"]["method"] == "linf" and results["shop"]["drifted"]
    assert results["qty"]["threshold"] == 0.9
    with pytest.raises(ConfigError, match="does not apply"):
        drift(ref, cur, columns=["shop"], thresholds={"shop": {"method": "wasserstein"}})
    with pytest.raises(ConfigError, match="unknown drift method"):
        drift(ref, cur, thresholds={"shop": {"method": "magic"}})


def test_label_drift() -> None:
    rng = np.random.default_rng(2)
    ref = pa.table({"x": rng.normal(size=5000), "y": rng.choice(["spam", "ham"], 5000, p=[0.2, 0.8])})
    cur = pa.table({"x": rng.normal(size=5000), "y": rng.choice(["spam", "ham"], 5000, p=[0.6, 0.4])})
    results = by_column(drift(ref, cur, label="y"))
    assert results["y"]["kind"] == "label" and results["y"]["drifted"] and not results["x"]["drifted"]
    (finding,) = drift_findings(list(results.values()))
    assert finding.check == "label_drift" and finding.column == "y"


def test_concept_drift_when_the_relation_flips_and_not_on_a_clean_split() -> None:
    rng = np.random.default_rng(4)
    x, shop = rng.normal(size=6000), rng.choice(["a", "b"], 6000)
    y = (x + (shop == "a") > 0.5).astype(np.int64)
    table = pa.table({"x": x, "shop": shop, "y": y})
    clean = concept_drift(table.slice(0, 3000), table.slice(3000), label="y")
    assert not clean["drifted"] and clean["check"] == "concept_drift"
    flipped = table.slice(3000).set_column(2, "y", pa.array(1 - y[3000:]))
    result = concept_drift(table.slice(0, 3000), flipped, label="y")
    assert result["drifted"] and result["severity"] == "error" and result["method"] == "accuracy"
    assert result["statistics"]["reference_score"] > 0.9 > 0.1 > result["statistics"]["current_score"]
    (finding,) = drift_findings([result])
    assert finding.check == "concept_drift" and finding.column == "y"
    # Regression (with noise: a noiseless fit's tiny errors are dominated by extrapolation): the slope flips.
    target = 3 * x + rng.normal(size=6000)
    reg_ref = pa.table({"x": x[:3000], "y": target[:3000]})
    assert concept_drift(reg_ref, pa.table({"x": x[3000:], "y": -target[3000:]}), label="y")["drifted"]
    assert not concept_drift(reg_ref, pa.table({"x": x[3000:], "y": target[3000:]}), label="y")["drifted"]


def test_per_slice() -> None:
    rng = np.random.default_rng(6)
    region = rng.choice(["north", "south", "tiny"], 8000, p=[0.49, 0.49, 0.02])
    value = rng.normal(size=8000)
    ref = pa.table({"region": region[:4000], "value": value[:4000]})
    moved = np.where(region[4000:] == "south", value[4000:] + 2, value[4000:])
    cur = pa.table({"region": region[4000:], "value": moved})
    results = [r for r in drift(ref, cur, slice_by="region", min_slice_rows=200) if r["column"] == "value"]
    whole, *slices = results
    assert whole["slice"] is None and whole["drifted"]
    verdicts = {r["slice"]["value"]: (r["drifted"], r.get("skipped")) for r in slices}
    assert verdicts["south"] == (True, None) and verdicts["north"] == (False, None)
    assert verdicts["tiny"][0] is False and "fewer than 200" in verdicts["tiny"][1]
    finding = next(f for f in drift_findings(results) if f.details["slice"])
    assert "in slice region = 'south'" in finding.message


def test_empty_all_null_and_type_mismatch_give_findings_not_crashes() -> None:
    ref = pa.table({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"], "c": pa.nulls(3, pa.float64()),
                    "d": [1, 2, 3], "e": pa.nulls(3)})
    cur = pa.table({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3], "c": pa.nulls(3, pa.float64()),
                    "d": pa.nulls(3, pa.int64()), "e": ["p", "q", "r"]})
    results = by_column(drift(ref, cur))
    assert "reference" in results["b"]["skipped"] and results["b"]["severity"] == "warning"
    assert "string" in results["b"]["skipped"] and "int64" in results["b"]["skipped"]
    assert "all missing" in results["c"]["skipped"] and results["c"]["severity"] == "info"
    assert "current" in results["d"]["skipped"] and results["d"]["severity"] == "warning"
    assert results["e"]["skipped"] and results["e"]["severity"] == "warning"
    findings = {f.column: f for f in drift_findings(list(results.values()))}
    assert set(findings) == {"b", "d", "e"}
    report = validation_report(drift_findings(list(results.values())), drift=list(results.values()))
    assert report["counts"]["warning"] == 3
    empty = drift(pa.table({"a": pa.array([], pa.float64())}), pa.table({"a": [1.0]}))
    assert empty[0]["skipped"]
    with pytest.raises(SchemaError, match="no column 'zz'"):
        drift(ref, cur, columns=["zz"])
    absent = by_column(drift(ref, cur.drop_columns(["a"])))
    assert "absent from the current" in absent["a"]["skipped"]


def test_text_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    vocabulary = np.array([f"w{k}" for k in range(2000)])

    def docs(rows: int, shift: int) -> list[str]:
        return [" ".join(vocabulary[np.minimum(rng.zipf(1.3, rng.integers(4, 30)) + shift, 1999)])
                for _ in range(rows)]

    ref, same, moved = docs(6000, 0), docs(6000, 0), docs(6000, 50)
    results = by_column(drift(pa.table({"t": ref}), pa.table({"t": same}), text_sample=3000))
    assert results["t"]["kind"] == "text" and not results["t"]["drifted"]
    assert results["t"]["statistics"]["reference_sampled"] == 3000
    # Parquet input, read column by column.
    pq.write_table(pa.table({"t": ref}), tmp_path / "ref.parquet")
    pq.write_table(pa.table({"t": moved}), tmp_path / "cur.parquet")
    (result,) = drift(tmp_path / "ref.parquet", str(tmp_path / "cur.parquet"))
    assert result["kind"] == "text" and result["drifted"] and result["method"] == "jensen_shannon"
    assert result["chart"]["type"] == "numeric"


def test_stored_datasets(ws) -> None:  # type: ignore[no-untyped-def]
    ref = ws.write("sales", mixed_table(3000, 1), rows_per_shard=1000)
    cur = ws.write("sales", mixed_table(3000, 2, shift=2.0))
    results = by_column(drift(ref, cur))
    assert results["price"]["drifted"] and not results["shop"]["drifted"]
    assert results["price"]["reference_rows"] == 3000


def read_csv(name: str) -> pa.Table:
    if not (TABULAR / name).exists():
        pytest.skip(f"{TABULAR / name} is not staged")
    return pacsv.read_csv(TABULAR / name)


def test_metro_traffic_2013_vs_2017_drifts() -> None:
    metro = read_csv("metro_traffic_volume.csv")
    year = pc.year(metro["date_time"]) if pa.types.is_timestamp(metro["date_time"].type) else pc.cast(
        pc.utf8_slice_codeunits(metro["date_time"], 0, 4), pa.int64())
    ref = metro.filter(pc.equal(year, 2013)).drop_columns(["date_time"])
    cur = metro.filter(pc.equal(year, 2017)).drop_columns(["date_time"])
    results = by_column(drift(ref, cur, slice_by="weather_main"))
    drifted = {c for c, r in results.items() if r["drifted"]}
    assert drifted, "2013 and 2017 should differ somewhere"
    assert not any(r.get("skipped") and r["severity"] != "info" for r in results.values())


def test_chicago_taxi_train_vs_eval_mostly_no_drift() -> None:
    train, evaluation = read_csv("chicago_taxi_train.csv"), read_csv("chicago_taxi_eval.csv")
    results = drift(train, evaluation)
    drifted = [r["column"] for r in results if r["drifted"]]
    assert len(drifted) <= 2, drifted
    assert len(results) >= 15


def test_text_language_distribution() -> None:
    english = ["The weather is lovely today and we walk to the river.", "My brother reads a long book every week."]
    german = ["Das Wetter ist heute schön und wir gehen zum Fluss.", "Mein Bruder liest jede Woche ein langes Buch."]
    ref = pa.table({"t": english * 300})
    cur = pa.table({"t": english * 150 + german * 150})
    (result,) = drift(ref, cur, text_columns=["t"], languages=True)
    assert result["statistics"]["languages"] == 2 and result["drifted"]
    (plain,) = drift(ref, ref, text_columns=["t"], languages=True)
    assert plain["statistics"]["language_jensen_shannon"] == 0 and not plain["drifted"]
