"""``datamill label …``: labelling functions, their analysis, aggregation and rater agreement.

``apply``, ``aggregate`` and ``errors`` run recorded pipelines (``read.dataset`` →
``label.apply``, ``label.aggregate`` or ``label.errors``), so the votes, the labels and the
flagged label errors are versions with lineage back to the data and the LF file, and a second
call is a cache hit. ``analyze`` and ``agreement`` read a version
and report; they write nothing.

``agreement`` reads *long* ratings — one row per (item, rater, label), the form an annotation
tool or a crowd platform exports, where raters come and go — or, with ``--votes-column``, the
votes column ``label apply`` wrote (each LF a rater).

Exit codes: 0 done; 2 bad usage, config or data (a missing column, an unknown dataset);
3 a runtime failure.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from datamill.cli.common import JsonFlag, fail, pipeline_name, workspace
from datamill.cli.render import console, print_json, run_table, table
from datamill.core.errors import ConfigError, DatamillError, SchemaError

__all__ = ["aggregate", "agreement", "analyze", "apply", "errors", "label_app"]

label_app = typer.Typer(help="Labelling functions, LF analysis, label aggregation, rater agreement and "
                             "label errors.",
                        no_args_is_help=True, rich_markup_mode=None)

ProgressFlag = Annotated[bool, typer.Option(help="Show progress on stderr.")]
VotesColumn = Annotated[str, typer.Option("--votes-column", help="The column of votes `label apply` added.")]


def _base(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-.]+", "-", ref.split("@", 1)[0]).strip("-") or "dataset"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def apply_spec(ref: str, lfs: str, *, out: str | None, votes_column: str = "votes",
               labels: list[str] | None = None) -> dict[str, Any]:
    """The pipeline ``datamill label apply`` runs (a dict for ``Pipeline.from_dict``)."""
    config: dict[str, Any] = {"lfs": lfs, "output_column": votes_column}
    if labels:
        config["labels"] = labels
    return {"name": pipeline_name("label-apply", ref), "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
        {"id": "votes", "uses": "label.apply", "input": "input", "with": config},
    ], "outputs": {out or f"{_base(ref)}.votes": "votes"}}


def aggregate_spec(ref: str, *, method: str, out: str | None, votes_column: str = "votes",
                   gold_column: str | None = None, keep_uncovered: bool = False) -> dict[str, Any]:
    """The pipeline ``datamill label aggregate`` runs."""
    config: dict[str, Any] = {"method": method, "votes_column": votes_column, "keep_uncovered": keep_uncovered}
    if gold_column:
        config["gold_column"] = gold_column
    return {"name": pipeline_name("label-aggregate", ref), "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
        {"id": "labels", "uses": "label.aggregate", "input": "input", "with": config},
    ], "outputs": {out or f"{_base(ref)}.labels": "labels"}}


def _run(spec: dict[str, Any], workers: int, progress: bool) -> tuple[Any, dict[str, Any]]:
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    ws = workspace()
    result = Pipeline.from_dict(spec).run(ws, workers=workers, reporter=make_reporter(progress)).to_dict()
    return ws, result


def _lf_rows(report: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for lf in report["lfs"]:
        rows.append([lf["lf"], ", ".join(lf["polarity"]) or "—", f"{lf['votes']:,}", _pct(lf["coverage"]),
                     _pct(lf["overlaps"]), _pct(lf["conflicts"]),
                     "—" if lf["accuracy"] is None else f"{lf['accuracy']:.3f} ({lf['correct']}/"
                     f"{lf['correct'] + lf['incorrect']})"])
    return rows


def _print_lf_report(report: dict[str, Any]) -> None:
    console.print(table(["lf", "polarity", "votes", "coverage", "overlaps", "conflicts", "accuracy"],
                        _lf_rows(report)))
    gold = f" · accuracy on {report['gold_items']:,} gold items" if "gold_items" in report else ""
    console.print(f"{report['items']:,} items · {report['sources']} LFs · covered {_pct(report['coverage'])} · "
                  f"overlap {_pct(report['overlap'])} · conflict {_pct(report['conflict'])}{gold}", markup=False)


@label_app.command("apply")
def apply(
    lfs: Annotated[Path, typer.Argument(help="A Python file defining labelling functions.")],
    ref: Annotated[str, typer.Argument(help="The dataset to label: name, name@3 or name@<hash>.")],
    out: Annotated[str | None, typer.Option("--out", help="Name of the output (default NAME.votes).")] = None,
    labels: Annotated[str | None, typer.Option(help="Class names, comma-separated, when the LF file has no "
                                                    "LABELS.")] = None,
    votes_column: VotesColumn = "votes",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (each imports the LF file).")] = 1,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Run the LFs of a file over a dataset and keep their votes as a new version.

    Rows on which an LF raises are quarantined (`datamill show NAME --quarantine`), never
    counted as abstains. The --json report has the run, the output and the LF summary.
    """
    import numpy as np

    from datamill.label import LabelMatrix
    from datamill.label.analysis import lf_report
    from datamill.label.apply import load_lfs, votes_matrix

    try:
        path = lfs.expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"LF file {str(lfs)!r} does not exist; give a .py file defining labelling functions.")
        spec = apply_spec(ref, str(path), out=out, votes_column=votes_column,
                          labels=[c.strip() for c in labels.split(",")] if labels else None)
        started = time.perf_counter()
        ws, result = _run(spec, workers, progress)
        output = next(iter(result["outputs"].values()))
        dataset = ws.open(output)
        if votes_column in dataset.schema.names:
            votes = votes_matrix(dataset.to_arrow([votes_column]), votes_column)
        else:  # an empty input: no batch ever carried the votes column
            lfset = load_lfs(path)
            votes = LabelMatrix.from_dense(np.zeros((0, len(lfset.lfs)), np.int64), class_names=lfset.labels,
                                           source_names=lfset.names)
        step = next(s for s in result["steps"] if s["id"] == "votes")
        report = {"input": ref, "output": output, "lfs_file": str(path), "seconds": time.perf_counter() - started,
                  "quarantined": sum(step["quarantined"].values()), **lf_report(votes), "run": result}
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    console.print(run_table(result))
    _print_lf_report(report)
    tail = f" · {report['quarantined']:,} row(s) quarantined: datamill show {output} --quarantine" \
        if report["quarantined"] else ""
    console.print(f"{output} written{tail}", markup=False)


@label_app.command("analyze")
def analyze(
    ref: Annotated[str, typer.Argument(help="A version with a votes column (from `label apply`).")],
    gold_column: Annotated[str | None, typer.Option("--gold-column", help="True labels, null where unknown: "
                                                    "adds each LF's accuracy.")] = None,
    votes_column: VotesColumn = "votes",
    as_json: JsonFlag = False,
) -> None:
    """Coverage, overlaps, conflicts, polarity, accuracy (with gold) and correlation of each LF."""
    from datamill.label.analysis import lf_report
    from datamill.label.apply import votes_matrix
    from datamill.label.steps import gold_indices

    try:
        dataset = workspace().open(ref)
        columns = [votes_column] + ([gold_column] if gold_column else [])
        missing = [c for c in columns if c not in dataset.schema.names]
        if missing:
            raise SchemaError(f"{dataset.ref} has no column {', '.join(map(repr, missing))}; it has "
                              f"{', '.join(dataset.schema.names)}.")
        data = dataset.to_arrow(columns)
        votes = votes_matrix(data, votes_column)
        gold = None
        if gold_column:
            gold = gold_indices(data.column(gold_column).combine_chunks(), votes.class_names, max(votes.n_classes, 2))
        report = {"input": dataset.ref, **lf_report(votes, gold)}
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    _print_lf_report(report)


@label_app.command("aggregate")
def aggregate(
    ref: Annotated[str, typer.Argument(help="A version with a votes column (from `label apply`).")],
    method: Annotated[str, typer.Option(help="mv (majority vote), ds (Dawid–Skene) or model (the label "
                                             "model).")] = "model",
    gold_column: Annotated[str | None, typer.Option("--gold-column", help="True labels: report accuracy on the "
                                                    "items that have one.")] = None,
    out: Annotated[str | None, typer.Option("--out", help="Name of the output (default NAME.labels).")] = None,
    keep_uncovered: Annotated[bool, typer.Option("--keep-uncovered", help="Keep rows no LF voted on (label "
                                                 "null) instead of dropping them.")] = False,
    votes_column: VotesColumn = "votes",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """One label per row (weak_label, weak_label_probs, weak_label_confidence) as a new version.

    With --gold-column, --json has `accuracy`: correct labels over the items that have a gold
    label, an uncovered item counting as wrong; `accuracy_covered` over the covered ones.
    """
    try:
        if method not in ("mv", "ds", "model"):
            raise ConfigError(f"--method must be mv, ds or model, got {method!r}.")
        spec = aggregate_spec(ref, method=method, out=out, votes_column=votes_column, gold_column=gold_column,
                              keep_uncovered=keep_uncovered)
        started = time.perf_counter()
        _, result = _run(spec, workers, progress)
        step = next(s for s in result["steps"] if s["id"] == "labels")
        metrics = step["metrics"]
        items = step["rows_in"]
        covered = int(metrics.get("covered", 0))
        report: dict[str, Any] = {
            "input": ref, "method": method, "output": next(iter(result["outputs"].values())),
            "items": items, "covered": covered, "coverage": covered / items if items else 0.0,
            "labelled": int(metrics.get("labelled", 0)), "dropped": step["dropped"],
            "class_priors": {k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("class_prior.")},
            "seconds": time.perf_counter() - started,
        }
        if gold_column:
            gold_items = int(metrics.get("gold_items", 0))
            gold_covered = int(metrics.get("gold_covered", 0))
            report.update(
                gold_items=gold_items,
                accuracy=metrics.get("gold_correct", 0) / gold_items if gold_items else None,
                accuracy_covered=metrics.get("gold_covered_correct", 0) / gold_covered if gold_covered else None)
        report["run"] = result
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    console.print(run_table(result))
    accuracy = "" if not gold_column else (f" · accuracy {_pct(report['accuracy'])} on {report['gold_items']:,} "
                                           f"gold items ({_pct(report['accuracy_covered'])} of the covered)")
    console.print(f"{method}: {report['labelled']:,} of {items:,} items labelled (covered "
                  f"{_pct(report['coverage'])}){accuracy} → {report['output']}", markup=False)


@label_app.command("agreement")
def agreement(
    ref: Annotated[str, typer.Argument(help="Ratings: one row per (item, rater, label), or a votes column.")],
    item_column: Annotated[str, typer.Option("--item-column", help="Long form: the item rated.")] = "item",
    rater_column: Annotated[str, typer.Option("--rater-column", help="Long form: who rated it.")] = "rater",
    label_column: Annotated[str, typer.Option("--label-column", help="Long form: the label given.")] = "label",
    votes_column: Annotated[str | None, typer.Option("--votes-column", help="Read this votes column instead "
                                                     "(each LF a rater).")] = None,
    level: Annotated[str, typer.Option(help="Krippendorff's level: nominal, ordinal, interval or ratio.")] = "nominal",
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Percent agreement, Fleiss' kappa, Krippendorff's alpha, pairwise Cohen's kappa, each rater's
    agreement with the others, and human-level performance with a bootstrap interval."""
    try:
        dataset = workspace().open(ref)
        matrix, raters, classes = _ratings(dataset, votes_column, item_column, rater_column, label_column)
        report = {"input": dataset.ref, **agreement_report(matrix, raters, classes, level=level, seed=seed)}
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    stats = report["statistics"]
    console.print(table(["statistic", "value"], [[k, "—" if v is None else f"{v:.4f}"] for k, v in stats.items()]))
    console.print(table(["rater", "ratings", "agreement with the others"],
                        [[r["rater"], f"{r['ratings']:,}", "—" if r["accuracy"] is None else f"{r['accuracy']:.3f}"]
                         for r in report["raters"]]))
    hlp = report["human_level_performance"]
    if hlp is not None:
        console.print(f"human-level performance {hlp['accuracy']:.3f} ({hlp['confidence']:.0%} CI "
                      f"{hlp['low']:.3f}–{hlp['high']:.3f}, {hlp['items']:,} items)", markup=False)
    for name, why in report["undefined"].items():
        console.print(f"{name}: {why}", markup=False)


def _ratings(dataset: Any, votes_column: str | None, item_column: str, rater_column: str,
             label_column: str) -> tuple[Any, list[str], list[str] | None]:
    import numpy as np
    import pyarrow as pa

    from datamill.label import LabelMatrix
    from datamill.label.apply import votes_matrix

    names = dataset.schema.names
    if votes_column is not None:
        if votes_column not in names:
            raise SchemaError(f"{dataset.ref} has no column `{votes_column}`; it has {', '.join(names)}.")
        matrix = votes_matrix(dataset.to_arrow([votes_column]), votes_column)
        raters = list(matrix.source_names or [str(s) for s in range(matrix.n_sources)])
        return matrix, raters, list(matrix.class_names) if matrix.class_names else None
    missing = [c for c in (item_column, rater_column, label_column) if c not in names]
    if missing:
        raise SchemaError(f"{dataset.ref} has no column {', '.join(map(repr, missing))}; it has {', '.join(names)}. "
                          "Name the long form's columns with --item-column, --rater-column and --label-column, "
                          "or read a votes column with --votes-column.")
    data = dataset.to_arrow([item_column, rater_column, label_column])
    labels_col = data.column(label_column).combine_chunks()
    keep = labels_col.is_valid()
    data = data.filter(keep)
    items = data.column(item_column).cast(pa.string()).to_pylist()
    raters_raw = data.column(rater_column).cast(pa.string()).to_pylist()
    labels_raw = data.column(label_column).to_pylist()
    item_index: dict[Any, int] = {}
    rater_index: dict[Any, int] = {}
    item_ids = np.array([item_index.setdefault(v, len(item_index)) for v in items], dtype=np.int64)
    rater_ids = np.array([rater_index.setdefault(v, len(rater_index)) for v in raters_raw], dtype=np.int64)
    classes: list[str] | None
    if all(isinstance(v, int) and not isinstance(v, bool) for v in labels_raw):
        label_ids = np.array(labels_raw, dtype=np.int64)
        if label_ids.size and label_ids.min() < 0:
            raise SchemaError(f"`{label_column}` has a negative label ({label_ids.min()}); labels are class "
                              "indices from 0 or class names.")
        classes = None
    else:
        classes = sorted({str(v) for v in labels_raw})
        lookup = {c: i for i, c in enumerate(classes)}
        label_ids = np.array([lookup[str(v)] for v in labels_raw], dtype=np.int64)
    key = item_ids * max(len(rater_index), 1) + rater_ids
    if len(np.unique(key)) != len(key):
        raise SchemaError(f"a rater labels an item more than once in {dataset.ref}; keep one label per "
                          f"({item_column}, {rater_column}), e.g. the latest.")
    matrix = LabelMatrix.from_long(item_ids, rater_ids, label_ids, n_items=len(item_index),
                                   n_sources=len(rater_index),
                                   n_classes=len(classes) if classes is not None else None)
    return matrix, [str(r) for r in rater_index], classes


def agreement_report(matrix: Any, raters: list[str], classes: list[str] | None, *, level: str = "nominal",
                     seed: int = 0) -> dict[str, Any]:
    """The ``label agreement`` report: statistics (None where undefined, with the reason) and raters."""
    import numpy as np

    from datamill.label import (
        Level,
        fleiss_kappa,
        human_level_performance,
        krippendorff_alpha,
        pairwise_cohen_kappa,
        percent_agreement,
        rater_accuracy,
    )

    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ConfigError(f"--level must be nominal, ordinal, interval or ratio, got {level!r}.")
    undefined: dict[str, str] = {}

    def stat(name: str, fn: Any) -> Any:
        try:
            return fn()
        except ConfigError as err:
            undefined[name] = str(err)
            return None

    statistics = {
        "percent_agreement": stat("percent_agreement", lambda: percent_agreement(matrix)),
        "fleiss_kappa": stat("fleiss_kappa", lambda: fleiss_kappa(matrix)),
        "krippendorff_alpha": stat("krippendorff_alpha",
                                   lambda: krippendorff_alpha(matrix, level=cast(Level, level))),
    }
    kappas = stat("pairwise_cohen_kappa", lambda: pairwise_cohen_kappa(matrix))
    accuracy = stat("rater_accuracy", lambda: rater_accuracy(matrix))
    hlp = stat("human_level_performance", lambda: human_level_performance(matrix, seed=seed))
    ratings = np.bincount(matrix.sources.astype(np.int64), minlength=matrix.n_sources)
    return {
        "items": matrix.n_items, "raters": [
            {"rater": name, "ratings": int(ratings[i]),
             "accuracy": None if accuracy is None or np.isnan(accuracy[i]) else float(accuracy[i])}
            for i, name in enumerate(raters)],
        "classes": classes if classes is not None else matrix.n_classes, "level": level,
        "statistics": statistics,
        "pairwise_cohen_kappa": None if kappas is None else
        [[None if np.isnan(v) else float(v) for v in row] for row in kappas],
        "human_level_performance": None if hlp is None else {
            "accuracy": hlp.accuracy, "low": hlp.low, "high": hlp.high, "items": hlp.n_items,
            "confidence": hlp.confidence},
        "undefined": undefined,
    }


def errors_spec(ref: str, *, label_column: str, text_column: str | None = None,
                feature_columns: list[str] | None = None, folds: int = 5, seed: int = 0, out: str | None = None,
                only_issues: bool = False) -> dict[str, Any]:
    """The pipeline ``datamill label errors`` runs."""
    config: dict[str, Any] = {"label_column": label_column, "folds": folds, "seed": seed}
    if text_column:
        config["text_column"] = text_column
    if feature_columns:
        config["feature_columns"] = list(feature_columns)
    if only_issues:
        config["only_issues"] = True
    return {"name": pipeline_name("label-errors", ref), "steps": [
        {"id": "input", "uses": "read.dataset", "with": {"ref": ref}},
        {"id": "errors", "uses": "label.errors", "input": "input", "with": config},
    ], "outputs": {out or f"{_base(ref)}.label-errors": "errors"}}


_CELL_CHARS = 80


def _cell(value: Any) -> str:
    """One line of at most `_CELL_CHARS` characters; control characters (terminal escapes) shown as
    code points, never sent to the terminal."""
    text = " ".join(str(value).split())
    text = "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


@label_app.command("errors")
def errors(
    ref: Annotated[str, typer.Argument(help="The dataset whose labels to check: name, name@3 or name@<hash>.")],
    label_column: Annotated[str, typer.Option("--label-column", help="The given labels (class names or "
                                              "integers; empty or null: none).")],
    text_column: Annotated[str | None, typer.Option("--text-column", help="A text column: the default text "
                                                    "model (TF-IDF + logistic regression) reads it.")] = None,
    feature_column: Annotated[list[str] | None, typer.Option("--feature-column", help="A feature column "
                                                             "(repeat the option): the default tabular model "
                                                             "(gradient-boosted trees) reads them.")] = None,
    folds: Annotated[int, typer.Option(min=2, max=100, help="Stratified cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seeds the folds and the model.")] = 0,
    out: Annotated[str | None, typer.Option("--out", help="Name of the output (default NAME.label-errors).")] = None,
    top: Annotated[int, typer.Option(min=0, help="How many of the flagged items to show.")] = 20,
    gold_column: Annotated[str | None, typer.Option("--gold-column", help="Known true labels: also report the "
                                                    "precision and recall of the flagged items against the "
                                                    "items whose label differs from gold.")] = None,
    only_issues: Annotated[bool, typer.Option("--only-issues", help="Write only the flagged rows (the review "
                                              "queue) instead of every row.")] = False,
    progress: ProgressFlag = True,
    as_json: JsonFlag = False,
) -> None:
    """Find rows whose label is probably wrong (cross-validated model + cleanlab's confident learning).

    Writes the rows with label_quality, label_issue, suggested_label and issue_rank as a new
    version, and prints the top flagged items and the estimated noise per class. The --json
    report has the counts, the estimated noise, the confident joint, the top --top issues, the
    run and the output version (and `gold` with --gold-column).
    """
    from datamill.label import errors as label_errors  # registers label.errors for this run

    try:
        if text_column is None and not feature_column:
            raise ConfigError("say what the model reads: --text-column T, --feature-column F (repeatable) or both.")
        spec = errors_spec(ref, label_column=label_column, text_column=text_column, feature_columns=feature_column,
                           folds=folds, seed=seed, out=out, only_issues=only_issues)
        started = time.perf_counter()
        ws, result = _run(spec, 1, progress)
        output = next(iter(result["outputs"].values()))
        dataset = ws.open(output)
        summary = label_errors.read_summary(dataset.schema)
        extra = [c for c in dict.fromkeys([text_column, *(feature_column or [])]) if c]
        queue = label_errors.review_queue(dataset, label_column=label_column, columns=extra, top=top)
        report: dict[str, Any] = {"input": ref, "output": output, **summary, "top": top, "issue_list": queue,
                                  "seconds": time.perf_counter() - started}
        if gold_column:
            report["gold"] = label_errors.gold_report(dataset, label_column=label_column, gold_column=gold_column)
        report["run"] = result
    except DatamillError as err:
        fail(err, as_json)
    if as_json:
        print_json(report)
        return
    console.print(run_table(result))
    rows = [[item["issue_rank"], _cell(item.get("id")), _cell(item["given_label"]), _cell(item["suggested_label"]),
             f"{item['label_quality']:.3f}", *(_cell(item.get(c)) for c in extra)] for item in queue]
    console.print(table(["rank", "id", "given", "suggested", "quality", *extra], rows,
                        title=f"top {len(rows)} of {summary['issues']:,} likely label errors"))
    noise = ", ".join(f"{_cell(c['class'])} {_pct(c['estimated_noise_rate'])} ({c['issues']:,}/{c['given']:,} "
                      "flagged)" for c in summary["classes"])
    console.print(f"{summary['issues']:,} of {summary['labelled']:,} labelled items flagged "
                  f"({_pct(summary['issue_rate'])}) · {summary['missing_label']:,} without a label · estimated "
                  f"noise {_pct(summary['estimated_noise_rate'])} · per given class: {noise or '—'} → {output}",
                  markup=False)
    if gold_column:
        gold = report["gold"]
        console.print(f"against {gold_column}: {gold['wrong']:,} labels differ from gold; precision "
                      f"{_pct(gold['precision'])}, recall {_pct(gold['recall'])} ({gold['found']:,} of the "
                      f"{gold['flagged']:,} flagged)", markup=False)
