"""The HTML report: offline, escaped, well-formed SVG, every finding and drift row shown."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from datamill.report import render_html, render_profile_html, write_html
from datamill.report.charts import categorical_svg, format_number, histogram_svg, nice_ticks, sparkline_svg
from datamill.validate import profile
from datamill.validate.findings import Finding, validation_report

TABULAR = Path(__file__).resolve().parents[3] / "shared" / "data" / "tabular"
HOSTILE = [
    "<script>alert(1)</script>",
    '"onload=alert(1) x="',
    "</svg><script>alert(2)</script>",
    "' onmouseover='alert(3)",
    "x" * 5000,
    "prix (€) — 価格 ✓",
    "$\\frac{1}{0}$",
    "nan",
]


class Page(HTMLParser):
    """Collects tags, attributes, text and the raw source of each <svg> element."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.svgs: list[str] = []
        super().feed(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(self.text)

    def rows_with_class(self, cls: str) -> int:
        return sum(1 for tag, attrs in self.tags if tag == "tr" and cls in (attrs.get("class") or "").split())


def svg_sources(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def assert_safe_offline(page: str) -> Page:
    parsed = Page(page)
    assert not [t for t, _ in parsed.tags if t in {"script", "iframe", "object", "embed", "link", "img", "base"}]
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handler came in through data
            if name in {"src", "href", "xlink:href", "action"}:
                assert not re.match(r"\s*(https?:|//|javascript:)", value or "", re.I), (tag, name, value)
    assert "@import" not in page and "url(" not in page
    for svg in svg_sources(page):
        ET.fromstring(svg)  # well-formed XML
    return parsed


def hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    return np.histogram(values[np.isfinite(values)], bins=edges)[0].astype(int).tolist()


def psi(ref: list[int], cur: list[int]) -> float:
    r = np.asarray(ref, float) / max(sum(ref), 1) + 1e-4
    c = np.asarray(cur, float) / max(sum(cur), 1) + 1e-4
    return float(np.sum((c - r) * np.log(c / r)))


def drift_row(column: str, reference: pa.Table, current: pa.Table, threshold: float = 0.1) -> dict[str, Any]:
    """A drift result in the fixed shape that datamill.validate.drift returns (statistic: PSI)."""
    ref_col, cur_col = reference.column(column), current.column(column)
    if pa.types.is_string(ref_col.type):
        counts = pc.value_counts(pc.fill_null(ref_col, "")).to_pylist()
        categories = [c["values"] for c in sorted(counts, key=lambda c: -c["counts"])]
        cur_counts = {c["values"]: c["counts"] for c in pc.value_counts(pc.fill_null(cur_col, "")).to_pylist()}
        ref_counts = {c["values"]: c["counts"] for c in counts}
        ref = [ref_counts.get(c, 0) for c in categories]
        cur = [cur_counts.get(c, 0) for c in categories]
        chart: dict[str, Any] = {"type": "categorical", "categories": categories, "reference": ref, "current": cur}
        kind = "categorical"
    else:
        r = pc.cast(ref_col, pa.float64()).to_numpy(zero_copy_only=False)
        c = pc.cast(cur_col, pa.float64()).to_numpy(zero_copy_only=False)
        edges = np.quantile(r[np.isfinite(r)], np.linspace(0, 1, 11))
        edges = np.unique(np.concatenate([[min(np.nanmin(r), np.nanmin(c))], edges, [max(np.nanmax(r), np.nanmax(c))]]))
        ref, cur = hist(r, edges), hist(c, edges)
        chart = {"type": "numeric", "edges": edges.tolist(), "reference": ref, "current": cur}
        kind = "numeric"
    statistic = psi(ref, cur)
    drifted = statistic > threshold
    return {
        "column": column, "slice": None, "kind": kind, "method": "psi", "statistic": statistic, "p_value": None,
        "threshold": threshold, "drifted": drifted,
        "severity": "error" if statistic > 2 * threshold else "warning" if drifted else "info",
        "statistics": {"psi": statistic, "bins": len(ref)},
        "reference_rows": reference.num_rows, "current_rows": current.num_rows, "chart": chart,
    }


@pytest.fixture(scope="module")
def taxi_report() -> dict[str, Any]:
    train = pacsv.read_csv(TABULAR / "chicago_taxi_train.csv")
    evaluation = pacsv.read_csv(TABULAR / "chicago_taxi_eval.csv")
    # A broken batch: fares in cents for a third of the rows, and a company renamed.
    fare = evaluation.column("fare").to_numpy(zero_copy_only=False).copy()
    fare[: len(fare) // 3] *= 100
    current = evaluation.set_column(evaluation.schema.get_field_index("fare"), "fare", pa.array(fare))
    current = current.append_column("trip_start", pc.cast(pc.multiply(current["trip_start_timestamp"], 1_000_000),
                                                          pa.timestamp("us")))
    drift = [drift_row(c, train, current) for c in ("fare", "trip_miles", "trip_seconds", "payment_type", "company")]
    drift.append({**drift_row("fare", train.filter(pc.equal(train["payment_type"], "Cash")),
                              current.filter(pc.equal(current["payment_type"], "Cash"))),
                  "slice": {"column": "payment_type", "value": "Cash"}})
    findings = [
        Finding("mixed_units", "fare", "error", "two modes 100× apart: cents and dollars?", value=0.33, threshold=0.01,
                examples=(1285.0, 545.0, 12.85)),
        Finding("required", "company", "warning", f"{pc.sum(pc.equal(current['company'], '')).as_py()} empty values",
                value=0.3, threshold=0.0, examples=("",)),
        Finding("outliers", "trip_miles", "info", "12 values beyond 5 robust z", value=12, threshold=5,
                examples=(float("inf"), float("nan"), 1e9)),
    ]
    return validation_report(
        findings, drift=drift, fail_on="error",
        input={"ref": "taxi_eval", "version": "3f9a1c2e7b", "rows": current.num_rows},
        reference={"ref": "taxi_train", "version": "a1b2c3d4e5", "rows": train.num_rows},
        profile=profile(current))


def test_real_report_shows_every_finding_and_drift_row(taxi_report: dict[str, Any], tmp_path: Path) -> None:
    page = render_html(taxi_report)
    parsed = assert_safe_offline(page)
    text = parsed.all_text
    assert "FAIL" in text and "taxi_eval" in text and "taxi_train" in text
    for f in taxi_report["findings"]:
        assert f["column"] in text and f["message"] in text
    for severity in ("error", "warning", "info"):
        expected = sum(d["severity"] == severity for d in taxi_report["drift"])
        expected += sum(f["severity"] == severity for f in taxi_report["findings"])
        assert parsed.rows_with_class(f"sev-{severity}") == expected, severity
    assert parsed.rows_with_class("drifted") == sum(d["drifted"] for d in taxi_report["drift"])
    assert "payment_type = Cash" in text
    # one chart per drift row, one sparkline per numeric or temporal profiled column
    charts = sum(1 for t, a in parsed.tags if t == "svg")
    histograms = sum(1 for c in taxi_report["profile"]["columns"] if (c["numeric"] or c["temporal"]))
    assert charts == len(taxi_report["drift"]) + histograms
    # temporal edges get date ticks; big numbers get short ticks
    assert re.search(r">20\d\d-\d\d", page)
    assert re.search(r">\d+(\.\d)?k<", page)
    assert "Taxi Affiliation Services" in text  # a top value of a text column
    out = write_html(taxi_report, tmp_path / "sub" / "report.html")
    assert out.read_text(encoding="utf-8") == page
    assert len(page.encode()) < 400_000


def test_hostile_names_are_escaped_everywhere() -> None:
    columns = {name: [1.0, 2.0, float("nan")] for name in HOSTILE}
    columns["cat"] = HOSTILE[:3]
    findings = [Finding("out_of_domain", name, "error", f"bad value {name}", value=float("nan"), threshold=float("inf"),
                        examples=(name, name)) for name in HOSTILE]
    drift = [{"column": name, "slice": {"column": name, "value": name}, "kind": "categorical", "method": name,
              "statistic": "nan", "p_value": "inf", "threshold": 0.1, "drifted": True, "severity": "error",
              "statistics": {name: "nan"}, "reference_rows": 3, "current_rows": 3,
              "chart": {"type": "categorical", "categories": HOSTILE, "reference": [1] * len(HOSTILE),
                        "current": [2] * len(HOSTILE)}} for name in HOSTILE]
    drift.append({"column": "t", "kind": "temporal", "drifted": False, "severity": "info", "statistic": 0.0,
                  "chart": {"type": "numeric", "edges": ["2020-01-01", "<b>", "2020-01-03"],
                            "reference": [1, "nan"], "current": [0, 1]}})
    report = validation_report(findings, drift=drift, input={"ref": HOSTILE[0], "version": HOSTILE[1], "rows": 3},
                               reference={"ref": HOSTILE[2], "rows": 3}, profile=profile(pa.table(columns)))
    page = render_html(report, title=HOSTILE[0])
    parsed = assert_safe_offline(page)
    for bad in ("<script", "</svg><script", '"onload=', "' onmouseover='", "<b>"):
        assert bad not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "x" * 5000 not in page  # cut in the view and in the hover
    assert "prix (€) — 価格 ✓" in parsed.all_text
    assert "NaN" in parsed.all_text and "∞" in parsed.all_text
    assert parsed.rows_with_class("sev-error") == 2 * len(HOSTILE)


def test_empty_report_renders() -> None:
    page = render_html(validation_report([]))
    parsed = assert_safe_offline(page)
    assert "PASS" in parsed.all_text
    assert "No findings" in parsed.all_text and "No drift tests" in parsed.all_text
    assert "Column statistics" not in parsed.all_text
    # not even a validation report: still a page, no crash
    assert "NO VERDICT" in render_html({})


def test_five_hundred_columns_render_at_a_reasonable_size() -> None:
    rng = np.random.default_rng(0)
    table = pa.table({f"feature_{i:03d}": rng.normal(size=200) for i in range(500)})
    edges = np.linspace(-4, 4, 21)
    drift = [{"column": name, "slice": None, "kind": "numeric", "method": "ks", "statistic": 0.05, "p_value": 0.5,
              "threshold": 0.1, "drifted": False, "severity": "info", "statistics": {}, "reference_rows": 200,
              "current_rows": 200, "chart": {"type": "numeric", "edges": edges.tolist(),
                                             "reference": hist(table[name].to_numpy(), edges),
                                             "current": hist(table[name].to_numpy() + 0.1, edges)}}
             for name in table.column_names]
    page = render_html(validation_report([], drift=drift, profile=profile(table)))
    parsed = assert_safe_offline(page)
    assert sum(1 for t, _ in parsed.tags if t == "svg") == 1000
    size = len(page.encode())
    assert size < 8_000_000, size  # ~5 MB: 500 drift charts + 500 sparklines (docs/reports.md)


def test_profile_page(tmp_path: Path) -> None:
    table = pacsv.read_csv(TABULAR / "chicago_taxi_train.csv")
    report = {**profile(table), "input": "taxi", "version": "a1b2c3"}
    page = render_profile_html(report)
    parsed = assert_safe_offline(page)
    assert "Profile: taxi" in parsed.all_text
    assert all(name in parsed.all_text for name in table.column_names)
    assert "Drift" not in parsed.all_text and "PASS" not in parsed.all_text
    assert write_html(report, tmp_path / "p.html").read_text(encoding="utf-8") == page


def test_chart_helpers() -> None:
    assert [format_number(x) for x in (0, 1.5, 1250, 2_500_000, 7.1e9, -0.012)] == ["0", "1.5", "1.2k", "2.5M",
                                                                                   "7.1B", "-0.012"]
    assert nice_ticks(0, 0.37, 3) == [0.0, 0.1, 0.2, 0.3]
    for svg in (histogram_svg([], [], []), categorical_svg([], [], []), sparkline_svg([0, 1], ["nan"]),
                histogram_svg([0, "inf", 2], [1, 2], [2, 1]), histogram_svg([5, 5], [3], [3])):
        ET.fromstring(svg)
    svg = categorical_svg([f"c{i}" for i in range(30)], list(range(30)), list(range(30)), limit=5)
    assert "+25 more" in svg
    assert not math.isnan(float(len(svg)))
