"""``datamill profile``: per-column statistics of a dataset version.

It runs a recorded pipeline (``read.dataset`` → ``stats.profile``), so the statistics have
lineage back to the version they describe, and a second call on the same version is a cache hit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, pipeline_name, workspace
from datamill.cli.render import console, run_table, table
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["STATS_COLUMNS", "profile", "profile_spec", "stats_row"]


def profile_spec(ref: str, *, columns: list[str] | None = None, top_k: int = 10, slice_by: str | None = None,
                 languages: bool = False) -> dict[str, Any]:
    """The pipeline ``datamill profile`` runs (a dict for ``Pipeline.from_dict``).

    >>> [s["uses"] for s in profile_spec("spam@3")["steps"]]
    ['read.dataset', 'stats.profile']
    """
    config: dict[str, Any] = {"top_k": top_k}
    if columns:
        config["columns"] = list(columns)
    if slice_by:
        config["slice_by"] = slice_by
    if languages:
        config["languages"] = True
    return {"name": pipeline_name("profile", ref), "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
        {"id": "profile", "uses": "stats.profile", "input": "input", "with": config},
    ]}


def _short(value: Any, width: int = 24) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


STATS_COLUMNS = ["column", "kind", "missing", "distinct", "min", "max", "mean", "std", "median", "top"]


def stats_row(column: dict[str, Any]) -> list[str]:
    """One column's headline statistics, as the tables of ``profile`` and ``show`` print them."""
    part = column["numeric"] or column["temporal"] or column["length"] or {}
    prefix = "len " if part is column["length"] and part else ""
    top = column["top"]["items"][:3] if column["top"] else []
    return [
        column["name"], column["kind"], f"{column['missing']:,} ({column['missing_share']:.1%})",
        _short(column["distinct"]), prefix + _short(part.get("min")), _short(part.get("max")),
        _short(part.get("mean")), _short(part.get("std")), _short(part.get("quantiles", {}).get("0.5")),
        ", ".join(f"{_short(t['value'], 16)} ({t['count']:,})" for t in top) or "—",
    ]


def profile(
    ref: Annotated[str, typer.Argument(help="The dataset: name, name@3 or name@<hash>.")],
    columns: Annotated[list[str] | None, typer.Option(
        "--column", "-c", help="Profile only this column (repeat for more).")] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=0, max=1000, help="Most frequent values per column.")] = 10,
    slice_by: Annotated[str | None, typer.Option(
        "--slice-by", help="Also profile each value of this column apart (at most 50 slices).")] = None,
    languages: Annotated[bool, typer.Option(
        "--languages", help="Detect the languages of a sample of each text column (64 texts per batch).")] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Also write the statistics as an offline HTML page.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (shards are profiled apart, then merged).")] = 1,
    rescan: Annotated[bool, typer.Option(
        "--rescan", help="Profile the data again even where the version stored its statistics when written.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Per-column statistics: count, missing, distinct, min/max/mean/std, quantiles, histogram, top values.

    One streaming pass with mergeable sketches (KLL quantiles, HyperLogLog distinct counts,
    frequent items); their error bounds are in the --json report and in docs/validate.md.
    A version `write.dataset` wrote has these statistics in its manifest: with the default
    options they are printed from there, with no scan (`--rescan` profiles it anyway).
    Otherwise the run is recorded, so profiling the same version again is a cache hit.
    Exit codes: 0 done; 2 bad usage; 3 and up, the run failed.
    """
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline
    from datamill.validate import ProfileConfig, StatsOptions, report_from_table

    try:
        ws = workspace()
        spec = profile_spec(ref, columns=columns, top_k=top_k, slice_by=slice_by, languages=languages)
        stored = None
        # write.dataset stores the default statistics: they answer only a request for those.
        if not rescan and ProfileConfig(**spec["steps"][-1]["with"]).options() == StatsOptions():
            stored = ws.open(ref).profile
        if stored is not None:
            stats = stored
            report = {"input": ref, "version": None, "stored": True, **stats, "run": None}
        else:
            result = Pipeline.from_dict(spec).run(ws, workers=workers, reporter=make_reporter(progress)).to_dict()
            step = next(s for s in result["steps"] if s["id"] == "profile")
            stats = report_from_table(ws.open(step["output"]).to_arrow())
            report = {"input": ref, "version": step["output"], "stored": False, **stats, "run": result}
        if html is not None:
            from datamill.report import render_profile_html

            html.write_text(render_profile_html(stats, title=f"Profile of {ref}"), encoding="utf-8")
    except DatamillError as err:
        fail(err, as_json)
    except OSError as err:
        fail(ConfigError(f"cannot write {html}: {err}"), as_json)
    if as_json:
        from datamill.cli.render import print_json

        print_json(report)
        return
    if report["run"] is not None:
        console.print(run_table(report["run"]))
    console.print(table(STATS_COLUMNS, [stats_row(c) for c in report["columns"]]))
    for part in (report.get("slices") or {}).get("values", []):
        console.print(table(STATS_COLUMNS, [stats_row(c) for c in part["columns"]],
                            title=f"{report['slices']['column']} = {part['value']!r}: {part['rows']:,} rows"))
    where = "stored when written (`--rescan` profiles again)" if report["stored"] else report["version"]
    console.print(f"{report['rows']:,} rows · {len(report['columns'])} columns · {where} · "
                  "`--json` has quantiles, histograms and error bounds", markup=False)
    if html is not None:
        console.print(f"HTML report: {html}", markup=False)
