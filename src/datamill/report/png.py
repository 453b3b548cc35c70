"""Export a report's charts as PNG files with matplotlib (the ``plots`` extra).

matplotlib is imported inside `write_pngs`, so the rest of `datamill.report` works without it;
figures are drawn on the Agg canvas directly (no pyplot, no GUI backend, no global state), which
is safe in servers and worker threads. Column names and category values are drawn with
matplotlib's math parser off, so a ``$`` in a name is text, not TeX; file names are made from
a slug of the column name plus an index, so no name can escape the output folder.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datamill.core.errors import ConfigError
from datamill.report.charts import (
    CURRENT_COLOUR,
    REFERENCE_COLOUR,
    BinAxis,
    format_number,
    shares,
    truncate,
)

__all__ = ["slug", "write_pngs"]

_MAX_CATEGORIES = 15


def slug(name: Any, width: int = 40) -> str:
    """A file-name-safe slug of a column name (ASCII letters, digits, ``-``, ``_``, ``.``).

    >>> slug("../../etc/passwd"), slug("<script>"), slug("prix (€)"), slug("")
    ('etc-passwd', 'script', 'prix', 'column')
    """
    text = re.sub(r"[^A-Za-z0-9_.]+", "-", str(name)).strip("-.")
    text = re.sub(r"\.{2,}", ".", text)[:width].strip("-.")
    return text or "column"


def _matplotlib() -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ConfigError(
            "PNG export needs matplotlib: pip install 'datamill[plots]' (the HTML report does not)") from err
    return Figure, FigureCanvasAgg


def _label(value: Any, width: int) -> str:
    if value is None:
        return "(null)"
    text = str(value)
    return truncate(text, width) if text else "(empty)"


def _style(ax: Any, title: str) -> None:
    ax.set_title(truncate(title, 80), loc="left", fontsize=10, parse_math=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#d0d0d0", linewidth=0.5)
    ax.set_axisbelow(True)


def _histogram(fig: Any, title: str, edges: Sequence[Any], series: list[tuple[str, str, Sequence[Any]]]) -> bool:
    from matplotlib.ticker import PercentFormatter

    n = min([len(edges) - 1, *(len(c) for _, _, c in series)])
    if n <= 0:
        return False
    # The same layout as the HTML's SVG: true positions for equal bins, equal slots for quantile bins.
    axis = BinAxis(list(edges[: n + 1]))
    positions = [axis.position(i) for i in range(n + 1)]
    ax = fig.add_subplot()
    k = len(series)
    for j, (name, colour, counts) in enumerate(series):
        s = shares(list(counts[:n]))
        widths = [(positions[i + 1] - positions[i]) * 0.9 / k for i in range(n)]
        lefts = [positions[i] + (positions[i + 1] - positions[i]) * 0.05 + j * widths[i] for i in range(n)]
        ax.bar(lefts, s, width=widths, align="edge", color=colour, label=name)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("share of rows")
    ax.set_xlim(0, 1)
    ticks = axis.ticks()
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], parse_math=False)
    if k > 1:
        ax.legend(frameon=False, fontsize=9)
    _style(ax, title)
    return True


def _categories(fig: Any, title: str, categories: Sequence[Any], series: list[tuple[str, str, Sequence[Any]]]) -> bool:
    from matplotlib.ticker import PercentFormatter

    n = min([len(categories), *(len(c) for _, _, c in series)])
    if n == 0:
        return False
    all_shares = [shares(list(c[:n])) for _, _, c in series]
    order = sorted(range(n), key=lambda i: -max(s[i] for s in all_shares))[:_MAX_CATEGORIES]
    order.reverse()  # barh draws bottom-up; the largest goes on top
    ax = fig.add_subplot()
    k = len(series)
    height = 0.8 / k
    for j, ((name, colour, _), s) in enumerate(zip(series, all_shares, strict=True)):
        ax.barh([row + (k - 1 - j) * height - 0.4 + height / 2 for row in range(len(order))],
                [s[i] for i in order], height=height, color=colour, label=name)
    ax.set_yticks(range(len(order)), [_label(categories[i], 24) for i in order], parse_math=False, fontsize=8)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("share of rows" + (f" (top {len(order)} of {n})" if n > len(order) else ""))
    if k > 1:
        ax.legend(frameon=False, fontsize=9, loc="lower right")
    _style(ax, title)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#d0d0d0", linewidth=0.5)
    return True


def _save(fig: Any, canvas_class: Any, path: Path, dpi: int) -> None:
    canvas_class(fig)
    with warnings.catch_warnings():
        # DejaVu has no CJK glyphs; a box in a chart beats a warning per character in the log.
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from font")
        fig.savefig(path, format="png", dpi=dpi)


def _jobs(report: Mapping[str, Any]) -> list[tuple[str, str, str, Any, list[tuple[str, str, Sequence[Any]]]]]:
    """(file stem, title, chart type, x (edges or categories), series) for every chart in the report."""
    jobs: list[tuple[str, str, str, Any, list[tuple[str, str, Sequence[Any]]]]] = []
    for i, d in enumerate(report.get("drift") or []):
        chart = d.get("chart") if isinstance(d, Mapping) else None
        if not isinstance(chart, Mapping):
            continue
        part = d.get("slice")
        where = f" [{part.get('column')} = {part.get('value')}]" if isinstance(part, Mapping) else ""
        statistic = format_number(d.get("statistic"), 3)
        title = f"{_label(d.get('column'), 50)}{where}: {d.get('method') or 'drift'} {statistic}"
        series = [("reference", REFERENCE_COLOUR, chart.get("reference") or []),
                  ("current", CURRENT_COLOUR, chart.get("current") or [])]
        x = chart.get("edges") if chart.get("type") == "numeric" else chart.get("categories")
        if chart.get("type") in ("numeric", "categorical") and isinstance(x, list):
            jobs.append((f"drift-{i + 1:03d}-{slug(d.get('column'))}", title, str(chart["type"]), x, series))
    profile = report.get("profile") if "columns" not in report else report
    for i, column in enumerate((profile or {}).get("columns") or []):
        if not isinstance(column, Mapping):
            continue
        name = _label(column.get("name"), 60)
        stem = f"profile-{i + 1:03d}-{slug(column.get('name'))}"
        part = next((column[k] for k in ("numeric", "temporal") if isinstance(column.get(k), Mapping)), None)
        top = column.get("top") if isinstance(column.get("top"), Mapping) else None
        histogram = part.get("histogram") if part else None
        if isinstance(histogram, Mapping) and histogram.get("counts"):
            jobs.append((stem, name, "numeric", histogram.get("edges") or [],
                         [("rows", REFERENCE_COLOUR, histogram["counts"])]))
        elif top and top.get("items"):
            items = [t for t in top["items"] if isinstance(t, Mapping)]
            jobs.append((stem, f"{name}: top values", "categorical", [t.get("value") for t in items],
                         [("rows", REFERENCE_COLOUR, [t.get("count") for t in items])]))
    return jobs


def write_pngs(report: Mapping[str, Any], directory: str | Path, *, dpi: int = 120) -> list[Path]:
    """Write every chart of ``report`` as a PNG into ``directory``; return the paths written.

    A validation report gives one ``drift-NNN-<column>.png`` per drift test with a chart and one
    ``profile-NNN-<column>.png`` per profiled column (a histogram, or the top values of a text
    column); a profile report gives the latter. Shares, not counts, are drawn, so a reference and
    a current sample of different sizes compare. Needs matplotlib (``pip install 'datamill[plots]'``).

    >>> import tempfile
    >>> report = {"drift": [{"column": "fare", "method": "psi", "statistic": 0.3, "chart": {"type": "numeric",
    ...     "edges": [0, 10, 20], "reference": [5, 5], "current": [2, 8]}}]}
    >>> [p.name for p in write_pngs(report, tempfile.mkdtemp())]
    ['drift-001-fare.png']
    """
    figure_class, canvas_class = _matplotlib()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, title, kind, x, series in _jobs(report):
        height = 3.2 if kind == "numeric" else max(2.0, 0.8 + 0.3 * min(len(x), _MAX_CATEGORIES))
        fig = figure_class(figsize=(6.4, height), layout="constrained")
        drawn = (_histogram(fig, title, x, series) if kind == "numeric" else _categories(fig, title, x, series))
        if drawn:
            path = out / f"{stem}.png"
            _save(fig, canvas_class, path, dpi)
            written.append(path)
    return written
