"""Reports people read: a self-contained HTML page with inline SVG charts, and PNG charts.

`render_html` turns a validation report (``datamill validate --json``) into one offline page;
`render_profile_html` does the same for a profile (``datamill profile --json``); `write_pngs`
exports each chart as a PNG with matplotlib (the ``plots`` extra). See docs/reports.md.

>>> "<svg" in render_html({"verdict": "pass", "drift": [{"column": "x", "kind": "numeric",
...     "chart": {"type": "numeric", "edges": [0, 1, 2], "reference": [1, 1], "current": [0, 2]}}]})
True
"""

from datamill.report.html import render_html, render_profile_html, write_html
from datamill.report.png import write_pngs

__all__ = ["render_html", "render_profile_html", "write_html", "write_pngs"]
