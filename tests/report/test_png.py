"""PNG export of a report's charts with matplotlib's Agg canvas."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest

from datamill.core.errors import ConfigError
from datamill.report import write_pngs
from datamill.report.png import slug
from tests.report.test_html import HOSTILE

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_every_chart_becomes_a_valid_png(tmp_path: Path) -> None:
    report: dict[str, Any] = {
        "drift": [
            {"column": "fare", "method": "psi", "statistic": 0.31,
             "chart": {"type": "numeric", "edges": [0, 5, 10, 50, 7800], "reference": [40, 30, 20, 10],
                       "current": [20, 20, 20, 40]}},
            {"column": "pay", "slice": {"column": "city", "value": "Chicago"}, "method": "chi2", "statistic": "nan",
             "chart": {"type": "categorical", "categories": ["Cash", "Credit Card", None, ""],
                       "reference": [60, 38, 1, 1], "current": [30, 60, 5, 5]}},
            {"column": "no chart", "statistic": 0.0},
        ],
        "profile": {"rows": 10, "columns": [
            {"name": "when", "temporal": {"histogram": {"edges": ["2013-01-01T00:00:00", "2014-01-01T00:00:00",
                                                                  "2015-01-01T00:00:00"], "counts": [4, 6]}}},
            {"name": "shop", "length": {"histogram": {"edges": [0, 1], "counts": [10]}},
             "top": {"items": [{"value": "a", "count": 7}, {"value": "b", "count": 3}]}},
            {"name": "empty", "numeric": {"histogram": {"edges": [], "counts": []}}},
        ]},
    }
    paths = write_pngs(report, tmp_path / "charts")
    assert [p.name for p in paths] == ["drift-001-fare.png", "drift-002-pay.png", "profile-001-when.png",
                                       "profile-002-shop.png"]
    for path in paths:
        width, height = png_size(path)
        assert width >= 300 and height >= 150
        assert path.stat().st_size > 5_000  # drawn, not blank


def test_a_profile_report_alone_and_hostile_names(tmp_path: Path) -> None:
    columns = [{"name": name, "numeric": {"histogram": {"edges": [0, 1, 2], "counts": [1, "nan"]}}} for name in HOSTILE]
    columns.append({"name": "cats", "top": {"items": [{"value": v, "count": 1} for v in HOSTILE]}})
    paths = write_pngs({"rows": 3, "columns": columns}, tmp_path)
    assert len(paths) == len(HOSTILE) + 1
    for path in paths:
        assert path.parent == tmp_path  # no name leaves the folder
        assert png_size(path)[0] > 0
    assert slug("../../etc/passwd") == "etc-passwd"


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'datamill\[plots\]'"):
        write_pngs({"drift": []}, tmp_path)
