"""``datamill dedup``: remove exact and near duplicates from a stored dataset, and show why.

It runs a recorded pipeline (``read.dataset`` → ``dedup.exact`` → ``dedup.minhash``), so the
output is a version with lineage, a second call on the same version is a cache hit, and the
rows removed are listed, each with the id it duplicates, in ``<pipeline>.<step>.removed``.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from datamill.cli.common import JsonFlag, fail, pipeline_name, workspace
from datamill.cli.render import console, human_bytes, print_json, run_table, table
from datamill.core.errors import ConfigError, DatamillError

__all__ = ["dedup", "dedup_report"]

_EXAMPLES = 3
_SHOWN_CHARS = 160


def _shown(text: str | None) -> str:
    """The start of a text on one line, for examples side by side."""
    return " ".join((text or "").split())[:_SHOWN_CHARS]


def dedup_spec(ref: str, *, exact: bool, near: float | None, text_column: str, out: str | None,
               keep: str, lines: bool = False, decontaminate: list[str] | None = None) -> dict[str, Any]:
    """The pipeline ``datamill dedup`` runs (a dict for ``Pipeline.from_dict``)."""
    name = pipeline_name("dedup", ref)
    steps: list[dict[str, Any]] = [{"id": "input", "uses": "read.dataset", "with": {"ref": ref}}]
    last = "input"
    if exact:
        steps.append({"id": "exact", "uses": "dedup.exact", "input": last,
                      "with": {"text_column": text_column, "keep": keep}})
        last = "exact"
    if near is not None:
        steps.append({"id": "near", "uses": "dedup.minhash", "input": last,
                      "with": {"text_column": text_column, "threshold": near, "keep": keep}})
        last = "near"
    if lines:
        steps.append({"id": "lines", "uses": "dedup.lines", "input": last, "with": {"text_column": text_column}})
        last = "lines"
    if decontaminate:
        steps.append({"id": "decontaminate", "uses": "dedup.decontaminate", "input": last,
                      "with": {"text_column": text_column, "eval": decontaminate}})
        last = "decontaminate"
    output = out or f"{ref.split('@', 1)[0]}.dedup"
    return {"name": name, "steps": steps, "outputs": {output: last}}


def dedup_report(ws: Any, result: dict[str, Any], ref: str, text_column: str,
                 spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Clusters, sizes, what was saved and examples side by side, from a run's side tables."""
    import pyarrow as pa
    import pyarrow.compute as pc

    removed: list[pa.Table] = []
    for step in result["steps"]:
        if step.get("explained"):
            part = ws.open(step["explained"]).to_arrow().select(["id", "duplicate_of", "reason"])
            removed.append(part.cast(pa.schema([pa.field(name, pa.string()) for name in part.column_names])))
    side = pa.concat_tables(removed) if removed else pa.table({"id": pa.array([], pa.string()),
                                                              "duplicate_of": pa.array([], pa.string()),
                                                              "reason": pa.array([], pa.string())})
    # A row removed by the near step may duplicate a row the exact step kept, or chain:
    # follow duplicate_of to the row that survived both.
    parent = dict(zip(side["id"].to_pylist(), side["duplicate_of"].to_pylist(), strict=True))

    def survivor(row_id: str) -> str:
        seen = 0
        while row_id in parent and seen < 64:
            row_id, seen = parent[row_id], seen + 1
        return row_id

    clusters: dict[str, list[str]] = {}
    for row_id in parent:
        clusters.setdefault(survivor(row_id), []).append(row_id)
    sizes: dict[int, int] = {}
    for members in clusters.values():
        sizes[len(members) + 1] = sizes.get(len(members) + 1, 0) + 1
    largest = sorted(clusters.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:_EXAMPLES]
    wanted = {row_id for s, members in largest for row_id in (s, members[0])}
    texts: dict[str, str] = {}
    saved_bytes = saved_words = 0
    if parent:
        dataset = ws.open(ref)
        ids = pa.array(list(parent), pa.string())
        want = pa.array(sorted(wanted), pa.string())
        for batch in dataset.batches(["id", text_column]):
            column = batch.column(1)
            mask = pc.is_in(batch.column(0), value_set=ids)
            dropped = column.filter(mask)
            saved_bytes += int(pc.sum(pc.binary_length(dropped)).as_py() or 0)
            saved_words += int(pc.sum(pc.list_value_length(pc.utf8_split_whitespace(dropped))).as_py() or 0)
            shown = batch.filter(pc.is_in(batch.column(0), value_set=want))
            texts.update(zip(shown.column(0).to_pylist(), shown.column(1).to_pylist(), strict=True))
    examples = [{"cluster_size": len(members) + 1,
                 "survivor": {"id": s, "text": _shown(texts.get(s))},
                 "duplicate": {"id": members[0], "text": _shown(texts.get(members[0]))}}
                for s, members in largest]
    by_reason: dict[str, int] = {}
    for step in result["steps"]:
        for reason, count in step["dropped"].items():
            by_reason[reason] = by_reason.get(reason, 0) + count
    first, final = result["steps"][0], result["steps"][-1]
    return {
        "input": ref, "output": next(iter(result["outputs"].values()), None),
        "rows_in": first["rows_out"], "rows_out": final["rows_out"], "removed": by_reason,
        "clusters": {"count": len(clusters), "sizes": {str(k): v for k, v in sorted(sizes.items())}},
        "saved": {"rows": len(parent), "bytes": saved_bytes, "words": saved_words},
        "examples": examples, "explained": [s["explained"] for s in result["steps"] if s.get("explained")],
        "lines": _lines_report(result), "contamination": _contamination_report(ws, result, text_column, spec or {}),
        "run": result,
    }


def _lines_report(result: dict[str, Any]) -> dict[str, Any] | None:
    step = next((s for s in result["steps"] if s["id"] == "lines"), None)
    if step is None:
        return None
    metrics = step["metrics"]
    counts = {name: int(metrics.get(name, 0)) for name in ("units_removed", "chars_removed", "docs_changed")}
    return {**counts, "explained": step.get("explained")}


def _contamination_report(ws: Any, result: dict[str, Any], text_column: str,
                          spec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Per evaluation set: documents that shared an n-gram with it, their share, examples."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from datamill.dedup.decontaminate import Decontaminate, contamination_report

    steps = result["steps"]
    at = next((i for i, s in enumerate(steps) if s["id"] == "decontaminate"), None)
    if at is None:
        return None
    step, before = steps[at], steps[at - 1]
    config = next(s for s in spec["steps"] if s["id"] == "decontaminate")["with"]
    kept = ws.open(step["output"]).to_arrow(["id"]).column("id").combine_chunks()
    removed: list[pa.Table] = []
    for batch in ws.open(before["output"]).batches(["id", text_column]):
        gone = batch.filter(pc.invert(pc.is_in(batch.column(0), value_set=kept)))
        if gone.num_rows:
            removed.append(pa.Table.from_batches([gone]))
        if sum(t.num_rows for t in removed) >= 200:  # enough to find examples in
            break
    docs = pa.concat_tables(removed) if removed else None
    leaks = contamination_report(Decontaminate(config), step["metrics"], step["rows_in"],
                                 docs if docs is not None else ())
    return [leak.to_dict() for leak in leaks]


def dedup(
    ref: Annotated[str, typer.Argument(help="The dataset to deduplicate: name, name@3 or name@<hash>.")],
    exact: Annotated[bool, typer.Option("--exact", help="Remove exact copies (normalised text).")] = False,
    near: Annotated[float | None, typer.Option(
        "--near", min=0.01, max=0.99, help="Remove near copies whose word 5-gram Jaccard is at least this.")] = None,
    text_column: Annotated[str, typer.Option("--text-column", help="The column of text.")] = "text",
    keep: Annotated[str, typer.Option(help="Survivor of a cluster: first (smallest id) or longest.")] = "first",
    out: Annotated[str | None, typer.Option("--out", help="Name of the output dataset (default NAME.dedup).")] = None,
    lines: Annotated[bool, typer.Option(
        "--lines", help="Also remove three-sentence spans repeated across documents (C4's rule).")] = False,
    decontaminate: Annotated[list[str] | None, typer.Option(
        "--decontaminate", help="An evaluation set (dataset ref or file) whose 13-grams training rows must not "
        "share; repeat the option for several.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Remove exact and near-duplicate rows; show clusters, sizes, what was saved, and examples.

    With neither --exact nor --near, both run (near at 0.8). --lines also removes repeated
    three-sentence spans, --decontaminate rows sharing a 13-gram with an evaluation set. The output
    keeps the surviving rows' ids; every removed row is listed with the id it duplicates in the
    `.removed` tables.
    """
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    try:
        if keep not in ("first", "longest"):
            raise ConfigError(f"--keep must be `first` or `longest`, got {keep!r}; for `best` by a score "
                              "column, write the dedup steps in a pipeline file.")
        if not exact and near is None:
            exact, near = True, 0.8
        ws = workspace()
        spec = dedup_spec(ref, exact=exact, near=near, text_column=text_column, out=out, keep=keep,
                          lines=lines, decontaminate=[str(e) for e in decontaminate or []])
        result = Pipeline.from_dict(spec).run(ws, workers=workers, reporter=make_reporter(progress)).to_dict()
        report = dedup_report(ws, result, ref, text_column, spec)
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    _render(report)


def _render(report: dict[str, Any]) -> None:
    console.print(run_table(report["run"]))
    saved = report["saved"]
    rows_in = report["rows_in"] or 1
    console.print(
        f"{report['rows_in']:,} rows → {report['rows_out']:,} in {report['output']} · removed "
        f"{saved['rows']:,} ({saved['rows'] / rows_in:.1%}), {human_bytes(saved['bytes'])}, "
        f"{saved['words']:,} words · {report['clusters']['count']:,} clusters", markup=False)
    if report["clusters"]["sizes"]:
        console.print(table(["cluster size", "clusters"],
                            [[size, f"{count:,}"] for size, count in report["clusters"]["sizes"].items()]))
    if report["examples"]:
        console.print(table(["size", "kept", "removed"], [
            [str(ex["cluster_size"]), f"{ex['survivor']['id']}: {ex['survivor']['text']}",
             f"{ex['duplicate']['id']}: {ex['duplicate']['text']}"] for ex in report["examples"]],
            title="largest clusters"))
    if report["lines"]:
        found = report["lines"]
        console.print(f"repeated spans: {found['units_removed']:,} sentences removed from {found['docs_changed']:,} "
                      f"documents ({found['chars_removed']:,} characters)", markup=False)
    for leak in report["contamination"] or []:
        console.print(f"contamination: {leak['documents']:,} documents ({leak['share']:.2%}) share a "
                      f"13-gram with {leak['eval']}", markup=False)
        for example in leak["examples"]:
            console.print(f"    {example['id']}: “{_shown(example['ngram'])}”", markup=False)
    for ref in report["explained"]:
        console.print(f"every removed row and the one it duplicates: datamill head {ref}", markup=False)
