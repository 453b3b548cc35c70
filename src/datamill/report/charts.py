"""Small inline SVG charts: reference-vs-current histograms, grouped category bars, sparklines.

Every chart is a self-contained ``<svg>`` string with no script, no external reference and no
font file: text uses the page's font and ``currentColor``, so it reads on any background. All
text that comes from data (column names, category values, date edges) goes through
`html.escape`; numbers are formatted here. Colours are the Okabe–Ito palette, which stays
distinguishable under the common colour-vision deficiencies, and the two series also differ in
position (side by side), so colour is never the only cue.

>>> format_number(1234), format_number(3_400_000), format_number(0.000123), format_number(-12.5)
('1.2k', '3.4M', '0.000123', '-12.5')
>>> svg = histogram_svg([0, 1, 2], [5, 5], [1, 9], label="fare")
>>> svg.startswith("<svg") and "reference" in svg and "current" in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

__all__ = [
    "CURRENT_COLOUR",
    "REFERENCE_COLOUR",
    "BinAxis",
    "categorical_svg",
    "format_number",
    "histogram_svg",
    "nice_ticks",
    "number",
    "parse_time",
    "shares",
    "sparkline_svg",
    "truncate",
]

# Okabe & Ito (2008): blue and orange are told apart by every common colour-vision type.
REFERENCE_COLOUR = "#0072B2"
CURRENT_COLOUR = "#E69F00"
_GRID = "#d0d0d0"
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def number(value: Any) -> float | None:
    """A finite float from a JSON value (numbers, or text such as ``"1.5"``); None otherwise.

    Reports carry NaN and infinities as text (``"nan"``, ``"inf"``), which are not drawable.

    >>> number(3), number("2.5"), number("nan"), number(None), number(True)
    (3.0, 2.5, None, None, None)
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def format_number(value: Any, digits: int = 2) -> str:
    """A short human number: ``1.2k``, ``3.4M``, ``0.0123``; non-numbers as text (``NaN``, ``—``).

    >>> format_number(999), format_number(1000), format_number(12_345_678), format_number(0.5)
    ('999', '1k', '12M', '0.5')
    >>> format_number("nan"), format_number(None), format_number("-inf")
    ('NaN', '—', '-∞')
    """
    if value is None:
        return "—"
    x = number(value)
    if x is None:
        text = str(value).strip().lower()
        return {"nan": "NaN", "inf": "∞", "+inf": "∞", "infinity": "∞", "-inf": "-∞", "-infinity": "-∞"}.get(
            text, str(value))
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    a = abs(x)
    for scale, suffix in _SUFFIXES:
        if a >= scale * 0.9995:
            scaled = a / scale
            text = f"{scaled:.{digits}g}" if scaled < 10 ** digits else f"{scaled:.0f}"
            if "e" in text:  # beyond 1000T: scientific is clearer than "1e+03T"
                return f"{sign}{a:.{digits}g}"
            return f"{sign}{text}{suffix}"
    if a >= 1:
        return f"{sign}{a:.{max(digits, 3)}g}"
    return f"{sign}{a:.3g}"


def truncate(text: str, width: int = 24) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (the view; keep the full text for a tooltip).

    >>> truncate("Taxi Affiliation Services", 12)
    'Taxi Affili…'
    """
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def parse_time(value: Any) -> datetime | None:
    """An ISO date/time (as the profile writes temporal edges) as a UTC-naive datetime, else None.

    >>> parse_time("2013-01-01T00:30:00"), parse_time(12)
    (datetime.datetime(2013, 1, 1, 0, 30), None)
    """
    if not isinstance(value, str):
        return None
    try:
        out = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if out.tzinfo is not None:
        out = out.astimezone(UTC).replace(tzinfo=None)
    return out


def shares(counts: Sequence[Any]) -> list[float]:
    """Counts as shares of their total, so samples of unequal size compare (all zeros if empty).

    >>> shares([1, 3]), shares([0, 0]), shares(["nan", 2])
    ([0.25, 0.75], [0.0, 0.0], [0.0, 1.0])
    """
    values = [max(number(c) or 0.0, 0.0) for c in counts]
    total = sum(values)
    return [v / total if total else 0.0 for v in values]


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 × 10^k apart) inside ``[low, high]``.

    >>> nice_ticks(0, 1), nice_ticks(3.2, 97)
    ([0.0, 0.25, 0.5, 0.75, 1.0], [20.0, 40.0, 60.0, 80.0])
    """
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))

    def ticks_of(step: float) -> int:
        return math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1

    # The round step whose tick count is nearest ``count + 1``; the larger step on a tie.
    steps = [m * p for p in (power / 10, power, power * 10) for m in (1, 2, 2.5, 5)]
    step = min(reversed(steps), key=lambda s: abs(ticks_of(s) - (count + 1)))
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= high + step * 1e-9 and k < 50:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _or_nan(x: float | None) -> float:
    return float("nan") if x is None else x


def _f(x: float) -> str:
    """A compact SVG coordinate."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _pct(x: float) -> str:
    return f"{x:.1%}" if x < 0.995 else f"{x:.0%}"


def _time_label(moment: datetime, span_seconds: float) -> str:
    if span_seconds < 2 * 86400:
        return moment.strftime("%H:%M") if span_seconds >= 3600 else moment.strftime("%H:%M:%S")
    if span_seconds < 3 * 365 * 86400:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m")


class BinAxis:
    """Where histogram bins sit across a plot (0 to 1), and the x tick labels of their edges.

    Numeric or ISO date/time edges of near-equal width are placed at their true positions with
    round ticks; unequal bins (quantile bins) get equal slots with their edges as ticks.

    >>> [(round(x, 2), label) for x, label in BinAxis([0, 1, 10, 100]).ticks()]
    [(0.0, '0'), (0.33, '1'), (0.67, '10'), (1.0, '100')]
    """

    def __init__(self, edges: Sequence[Any]) -> None:
        times = [parse_time(e) for e in edges]
        self.temporal = bool(edges) and all(t is not None for t in times)
        if self.temporal:
            self.values = [t.replace(tzinfo=UTC).timestamp() if t else 0.0 for t in times]
        else:
            self.values = [_or_nan(number(e)) for e in edges]
        finite = [v for v in self.values if math.isfinite(v)]
        self.low = min(finite) if finite else 0.0
        self.high = max(finite) if finite else 1.0
        self.ok = len(finite) == len(self.values) and self.high > self.low
        self.raw = list(edges)
        widths = [b - a for a, b in zip(self.values, self.values[1:], strict=False)] if self.ok else []
        # Quantile bins (as PSI uses) can be 1,000x apart in width: drawn at their true positions
        # the wide tail bin swamps the chart, so unequal bins get equal slots and labelled edges.
        self.uniform = bool(widths) and min(widths) > 0 and max(widths) / min(widths) < 1.5

    def position(self, i: int) -> float:
        """Where edge ``i`` sits across the plot, from 0 to 1."""
        n = max(len(self.raw) - 1, 1)
        if self.uniform:
            return (self.values[i] - self.low) / (self.high - self.low)
        return i / n

    def ticks(self) -> list[tuple[float, str]]:
        """(position from 0 to 1, label) pairs for the x axis."""
        if not self.ok:
            return []
        span = self.high - self.low
        def label(v: float) -> str:
            if self.temporal:
                return _time_label(datetime.fromtimestamp(v, UTC).replace(tzinfo=None), span)
            return format_number(v)

        if self.uniform:
            values = ([self.low + span * k / 3 for k in range(4)] if self.temporal
                      else nice_ticks(self.low, self.high, 4))
            return [((v - self.low) / span, label(v)) for v in values]
        n = len(self.raw) - 1
        picks = sorted({round(n * k / 4) for k in range(5)})
        return [(i / n, label(self.values[i])) for i in picks]

    def bin_label(self, i: int) -> str:
        a, b = self.raw[i], self.raw[i + 1]
        if self.temporal:
            return f"{a} – {b}"
        return f"[{format_number(a, 4)}, {format_number(b, 4)})"


def _legend(x: float, y: float) -> str:
    return (f'<g font-size="10" fill="currentColor">'
            f'<rect x="{_f(x)}" y="{_f(y - 8)}" width="9" height="9" fill="{REFERENCE_COLOUR}"/>'
            f'<text x="{_f(x + 12)}" y="{_f(y)}">reference</text>'
            f'<rect x="{_f(x + 70)}" y="{_f(y - 8)}" width="9" height="9" fill="{CURRENT_COLOUR}"/>'
            f'<text x="{_f(x + 82)}" y="{_f(y)}">current</text></g>')


def _open(width: float, height: float, label: str) -> str:
    label = truncate(label, 300)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{_f(width)}" height="{_f(height)}" '
            f'viewBox="0 0 {_f(width)} {_f(height)}" role="img" aria-label="{escape(label)}" '
            f'font-family="system-ui, sans-serif" font-size="10"><title>{escape(label)}</title>')


def histogram_svg(
    edges: Sequence[Any],
    reference: Sequence[Any],
    current: Sequence[Any] | None = None,
    *,
    label: str = "histogram",
    width: int = 340,
    height: int = 150,
) -> str:
    """Reference and current counts over the same bins, as side-by-side bars of *shares*.

    ``edges`` are ``len(counts) + 1`` numbers or ISO date/times (then the axis shows dates).
    With ``current`` None it draws one series (a profile's histogram). Hovering a bin shows its
    range, both shares and both counts.

    >>> "2013-01" in histogram_svg(["2013-01-01T00:00:00", "2014-06-01T00:00:00", "2016-01-01T00:00:00"], [1, 2])
    True
    """
    n = min(len(reference), max(len(edges) - 1, 0))
    series = [("reference", REFERENCE_COLOUR, reference)]
    if current is not None:
        n = min(n, len(current))
        series.append(("current", CURRENT_COLOUR, current))
    axis = BinAxis(list(edges[: n + 1]))
    left, right, top, bottom = 40.0, 8.0, 18.0 if current is not None else 8.0, 22.0
    plot_w, plot_h = width - left - right, height - top - bottom
    out = [_open(width, height, label)]
    if current is not None:
        out.append(_legend(left, 11))
    if n == 0:
        out.append(f'<text x="{_f(width / 2)}" y="{_f(height / 2)}" text-anchor="middle" '
                   f'fill="currentColor">no values</text></svg>')
        return "".join(out)
    data = [(name, colour, shares(list(counts[:n])), list(counts[:n])) for name, colour, counts in series]
    peak = max(max(s) for _, _, s, _ in data) or 1.0
    y_ticks = [t for t in nice_ticks(0, peak, 3) if t <= peak * 1.0001]
    scale_top = max(peak, y_ticks[-1] if y_ticks else peak)
    def y_of(share: float) -> float:
        return top + plot_h * (1 - share / scale_top)

    # Gridlines and y labels (shares).
    for t in y_ticks:
        y = y_of(t)
        out.append(f'<line x1="{_f(left)}" x2="{_f(left + plot_w)}" y1="{_f(y)}" y2="{_f(y)}" '
                   f'stroke="{_GRID}" stroke-width="0.5"/>')
        out.append(f'<text x="{_f(left - 4)}" y="{_f(y + 3)}" text-anchor="end" fill="currentColor">'
                   f'{t * 100:.3g}%</text>')
    def x_of(fraction: float) -> float:
        return left + plot_w * fraction

    for i in range(n):
        x0, x1 = x_of(axis.position(i)), x_of(axis.position(i + 1))
        gap = min(1.0, (x1 - x0) * 0.1)
        bar_w = max((x1 - x0 - gap) / len(data), 0.3)
        tip = [axis.bin_label(i) if axis.raw else f"bin {i + 1}"]
        for name, _, s, c in data:
            count = number(c[i])
            tip.append(f"{name}: {_pct(s[i])} ({format_number(count, 3) if count is not None else '—'})")
        out.append(f'<g><title>{escape(" · ".join(tip))}</title>'
                   f'<rect x="{_f(x0)}" y="{_f(top)}" width="{_f(max(x1 - x0, 0.3))}" height="{_f(plot_h)}" '
                   f'fill="transparent"/>')
        for k, (_, colour, s, _) in enumerate(data):
            y = y_of(s[i])
            out.append(f'<rect x="{_f(x0 + gap / 2 + k * bar_w)}" y="{_f(y)}" width="{_f(bar_w)}" '
                       f'height="{_f(top + plot_h - y)}" fill="{colour}"/>')
        out.append("</g>")
    # Axes and x ticks.
    base = top + plot_h
    out.append(f'<line x1="{_f(left)}" x2="{_f(left + plot_w)}" y1="{_f(base)}" y2="{_f(base)}" '
               f'stroke="currentColor" stroke-width="0.8"/>')
    for value, text in axis.ticks():
        x = x_of(value)
        anchor = "start" if x - left < 12 else "end" if left + plot_w - x < 12 else "middle"
        out.append(f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(base)}" y2="{_f(base + 3)}" stroke="currentColor"/>'
                   f'<text x="{_f(x)}" y="{_f(base + 13)}" text-anchor="{anchor}" fill="currentColor">'
                   f'{escape(text)}</text>')
    out.append("</svg>")
    return "".join(out)


def categorical_svg(
    categories: Sequence[Any],
    reference: Sequence[Any],
    current: Sequence[Any] | None = None,
    *,
    label: str = "categories",
    width: int = 340,
    limit: int = 10,
    label_width: int = 18,
) -> str:
    """Grouped horizontal bars of each category's share in reference and current.

    Categories are ordered by their largest share and cut to ``limit`` (the rest are summed into
    one line); labels are truncated to ``label_width`` characters, with the full value in the
    hover text.

    >>> svg = categorical_svg(["a", "<b>"], [3, 1], [1, 3])
    >>> "&lt;b&gt;" in svg and "<b>" not in svg
    True
    """
    n = min(len(categories), len(reference), len(current) if current is not None else len(reference))
    series = [("reference", REFERENCE_COLOUR, shares(list(reference[:n])), list(reference[:n]))]
    if current is not None:
        series.append(("current", CURRENT_COLOUR, shares(list(current[:n])), list(current[:n])))
    order = sorted(range(n), key=lambda i: -max(s[i] for _, _, s, _ in series))
    shown, rest = order[:limit], order[limit:]
    bar_h = 6.0 if current is not None else 9.0
    row_h = bar_h * len(series) + 6
    left = 6.0 * min(label_width, 24) + 8
    right, top = (40.0, 4.0) if current is None else (76.0, 18.0)  # room for "12.3% → 45.6%" and the legend
    rows = len(shown) + (1 if rest else 0)
    height = top + row_h * max(rows, 1) + 4
    plot_w = width - left - right
    out = [_open(width, height, label)]
    if current is not None:
        out.append(_legend(left, 11))
    if n == 0:
        out.append(f'<text x="{_f(width / 2)}" y="{_f(height / 2 + 3)}" text-anchor="middle" '
                   f'fill="currentColor">no values</text></svg>')
        return "".join(out)
    peak = max(max(s) for _, _, s, _ in series) or 1.0
    lines: list[tuple[str, str, list[float], list[str]]] = []
    for i in shown:
        text = "(null)" if categories[i] is None else str(categories[i])
        text = text if text != "" else "(empty)"
        lines.append((truncate(text, label_width), truncate(text, 500), [s[i] for _, _, s, _ in series],
                      [format_number(c[i], 3) for _, _, _, c in series]))
    if rest:
        rest_shares = [sum(s[i] for i in rest) for _, _, s, _ in series]
        lines.append((f"+{len(rest)} more", f"{len(rest)} more categories", rest_shares,
                      [format_number(sum(number(c[i]) or 0 for i in rest), 3) for _, _, _, c in series]))
        peak = max(peak, *rest_shares)
    for row, (short, full, values, counts) in enumerate(lines):
        y = top + row * row_h
        tip = full + ": " + " · ".join(f"{name} {_pct(v)} ({c})" for (name, _, _, _), v, c
                                         in zip(series, values, counts, strict=True))
        out.append(f'<g><title>{escape(tip)}</title>'
                   f'<rect x="0" y="{_f(y)}" width="{_f(width)}" height="{_f(row_h)}" fill="transparent"/>'
                   f'<text x="{_f(left - 4)}" y="{_f(y + row_h / 2 + 3)}" text-anchor="end" '
                   f'fill="currentColor">{escape(short)}</text>')
        for k, ((_, colour, _, _), v) in enumerate(zip(series, values, strict=True)):
            w = plot_w * v / peak
            out.append(f'<rect x="{_f(left)}" y="{_f(y + 3 + k * bar_h)}" width="{_f(max(w, 0.5))}" '
                       f'height="{_f(bar_h - 1)}" fill="{colour}"/>')
        change = " → ".join(_pct(v) for v in values)
        out.append(f'<text x="{_f(left + plot_w * max(values) / peak + 3)}" y="{_f(y + row_h / 2 + 3)}" '
                   f'fill="currentColor" font-size="9">{escape(change)}</text></g>')
    out.append(f'<line x1="{_f(left)}" x2="{_f(left)}" y1="{_f(top)}" y2="{_f(top + row_h * rows)}" '
               f'stroke="currentColor" stroke-width="0.8"/></svg>')
    return "".join(out)


def sparkline_svg(edges: Sequence[Any], counts: Sequence[Any], *, label: str = "histogram",
                  width: int = 120, height: int = 28) -> str:
    """A tiny histogram for a statistics table: bars only, the range and counts on hover.

    >>> sparkline_svg([0, 5, 10], [3, 7]).count("<rect")
    4
    """
    n = min(len(counts), max(len(edges) - 1, 0))
    out = [_open(width, height, label)]
    values = [max(number(c) or 0.0, 0.0) for c in counts[:n]]
    peak = max(values, default=0.0) or 1.0
    axis = BinAxis(list(edges[: n + 1]))
    total = sum(values) or 1.0
    bar_w = width / max(n, 1)
    for i, v in enumerate(values):
        h = (height - 2) * v / peak
        tip = f"{axis.bin_label(i)}: {format_number(v, 3)} ({_pct(v / total)})"
        out.append(f'<g><title>{escape(tip)}</title>'
                   f'<rect x="{_f(i * bar_w)}" y="0" width="{_f(bar_w)}" height="{_f(height)}" fill="transparent"/>'
                   f'<rect x="{_f(i * bar_w + 0.3)}" y="{_f(height - 1 - h)}" width="{_f(max(bar_w - 0.6, 0.3))}" '
                   f'height="{_f(max(h, 0.0))}" fill="{REFERENCE_COLOUR}"/></g>')
    out.append(f'<line x1="0" x2="{_f(width)}" y1="{_f(height - 0.5)}" y2="{_f(height - 0.5)}" '
               f'stroke="currentColor" stroke-width="0.5"/></svg>')
    return "".join(out)
