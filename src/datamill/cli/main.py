"""The ``datamill`` command. Thin: parse, call the library, print.

Exit codes: 0 done; 1 the command ran and its verdict failed; 2 bad usage or config;
3 and up runtime failures.
"""

from __future__ import annotations

import json
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from datamill.__about__ import __version__
from datamill.cli.common import JsonFlag, fail, workspace
from datamill.cli.render import console, err_console, human_bytes, print_json, run_table, table
from datamill.core.errors import ConfigError, DatamillError

app = typer.Typer(
    name="datamill",
    help="Raw data to validated, versioned, training-ready data, with a record of how.\n\n"
    "Exit codes: 0 done · 1 a check failed · 2 bad usage or config · 3 runtime failure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
runs_app = typer.Typer(help="Pipeline runs: the experiment record.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")

STORE_HELP = "Object store URL (default .datamill/objects); any fsspec URL, e.g. s3://bucket/prefix."
DB_HELP = ("Metadata DB URL (default SQLite .datamill/meta.db), e.g. postgresql+psycopg://user@host/db; "
           "${VAR} in it is read from the environment.")
QUARANTINE_HELP = "List the rows quarantined by the steps upstream of this version."
# Commands in their own modules use the same three helpers.
_fail = fail
_workspace = workspace


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to make the workspace.")] = Path("."),
    store: Annotated[str | None, typer.Option(help=STORE_HELP)] = None,
    db: Annotated[str | None, typer.Option(help=DB_HELP)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a workspace: an object store and a metadata database."""
    from datamill.store import Workspace, describe

    try:
        ws = Workspace.init(directory, store=store, db=db)
    except DatamillError as err:
        _fail(err, as_json)
    info = describe(ws)
    if as_json:
        print_json(info)
    else:
        console.print(f"workspace {info['home']}\n  store {info['store']}\n  db    {info['db']}",
                      markup=False)


def _print_run(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    console.print(run_table(result))
    written = [f"{ref}" for ref in result["outputs"].values()]
    quarantined = sum(sum(s["quarantined"].values()) for s in result["steps"])
    tail = f"{', '.join(written)} written" if written else "no named outputs"
    if quarantined:
        steps = [s["id"] for s in result["steps"] if s["quarantined"]]
        tail += (f" · {quarantined:,} row{'s' if quarantined != 1 else ''} quarantined: "
                 f"datamill show {result['pipeline']}.{steps[0]}.quarantine")
    console.print(tail, markup=False)


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file.")],
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (Ray: tasks in flight / 2).")] = 1,
    resume: Annotated[bool, typer.Option(help="Reuse the finished partitions of an interrupted run.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress on stderr.")] = True,
    executor: Annotated[str, typer.Option(
        help="Where tasks run: 'local' (a process pool) or 'ray' (needs `pip install 'datamill[ray]'`).")] = "local",
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to connect to (e.g. 127.0.0.1:6379, ray://head:10001); default: "
             "RAY_ADDRESS, else a local Ray is started.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Run a pipeline; unchanged steps come from the cache, and each re-run says why.

    With ``--executor ray`` the same steps run as Ray tasks and give the same output versions;
    every Ray worker must see the workspace's object store (see docs/ray.md).
    """
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    try:
        ws = _workspace()
        pipe = Pipeline.from_yaml(pipeline)
        result = pipe.run(ws, workers=workers, resume=resume, reporter=make_reporter(progress),
                          executor=executor, address=address)
    except DatamillError as err:
        partial = getattr(err, "run_result", None)
        if as_json and partial is not None:
            print_json(partial.to_dict())
            err_console.print(f"{type(err).__name__}: {err}", markup=False)
            raise typer.Exit(err.exit_code) from err
        _fail(err, as_json)
    _print_run(result.to_dict(), as_json)


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(
        help="Files, directories, globs, zip archives or web pages (http/https URLs); or one database "
             "URL with --query or --table.")],
    to: Annotated[str, typer.Option("--to", help="Dataset name to write.")],
    workers: Annotated[int, typer.Option(min=1)] = 1,
    id_column: Annotated[str | None, typer.Option(help="Use this input column as the record id.")] = None,
    query: Annotated[str | None, typer.Option(
        help="SQL query to read from the database URL (e.g. 'sqlite:///shop.db').")] = None,
    table: Annotated[str | None, typer.Option(help="Database table to read from the database URL.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Read files (zip members included), web pages or a database query into a new dataset version.

    Files go to the reader of their type; http(s) URLs to ``read.web`` (robots.txt obeyed). A
    database URL (``${VAR}`` in it is read from the environment) is read by ``read.sql`` with
    ``--query`` or ``--table``.
    """
    from datamill.ingest import reader_for
    from datamill.ingest.archives import CorruptArchiveError, is_nested_archive, is_zip, zip_members
    from datamill.ingest.sql import is_database_url
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline

    try:
        groups: dict[str, list[str]] = {}
        unread: list[str] = []

        def add_archive(archive: Path, target: str) -> None:
            # Each member goes to the reader of its type; the archive (or its folder) is
            # what that reader is given, and it looks inside itself.
            try:
                members = zip_members(str(archive))
            except CorruptArchiveError as err:
                unread.append(f"{archive} ({err})")
                return
            for member in members:
                if is_nested_archive(member):
                    unread.append(f"{archive}!{member} (an archive inside an archive)")
                    continue
                try:
                    uses = reader_for(member)
                except ConfigError:
                    unread.append(f"{archive}!{member}")
                    continue
                if target not in groups.setdefault(uses, []):
                    groups[uses].append(target)

        steps: list[dict[str, Any]] = []
        database = len(paths) == 1 and is_database_url(paths[0])
        if query is not None or table is not None or database:
            if len(paths) != 1 or not database:
                raise ConfigError(
                    f"--query and --table read a database: give one database URL such as "
                    f"'sqlite:///shop.db' or 'postgresql+psycopg://user:${{PGPASSWORD}}@host/db', "
                    f"got {len(paths)} path(s)."
                )
            if (query is None) == (table is None):
                raise ConfigError("reading a database URL needs one of --query 'select ...' or "
                                  "--table NAME.")
            options: dict[str, Any] = {"url": paths[0]}
            options.update({"query": query} if query is not None else {"table": table})
            if id_column:
                options["id_column"] = id_column
            steps.append({"id": "read", "uses": "read.sql", "with": options})
        for path in [] if steps else paths:
            target = str(Path(path).resolve()) if "://" not in path else path
            if path.lower().startswith(("http://", "https://")):
                groups.setdefault("read.web", []).append(path)
            elif Path(path).is_dir():
                # A folder goes to every reader that has files in it; each reader lists its
                # own extensions there. Files no reader knows are named, not silently skipped.
                found = sorted(p for p in Path(path).rglob("*")
                               if p.is_file() and not any(x.startswith(".") for x in p.parts))
                if not found:
                    raise ConfigError(f"directory {path!r} has no files")
                for file in found:
                    if is_zip(str(file)):
                        add_archive(file, target)
                        continue
                    try:
                        uses = reader_for(str(file))
                    except ConfigError:
                        unread.append(str(file))
                        continue
                    if target not in groups.setdefault(uses, []):
                        groups[uses].append(target)
            elif is_zip(path) and "://" not in path:
                add_archive(Path(path), target)
            else:
                groups.setdefault(reader_for(path), []).append(target)
        if unread:
            err_console.print(f"not read ({len(unread)} file(s) that no reader takes): "
                              + ", ".join(unread[:10]) + (" …" if len(unread) > 10 else ""),
                              markup=False)
        if not steps and not groups:
            raise ConfigError(f"none of {', '.join(paths)} holds a file any reader knows")
        for uses, group in sorted(groups.items()):
            options = {"urls": group} if uses == "read.web" else {"paths": group}
            if id_column and uses != "read.web":
                options["id_column"] = id_column
            step_id = "read" if len(groups) == 1 else uses.replace(".", "_")
            steps.append({"id": step_id, "uses": uses, "with": options})
        last = steps[0]["id"]
        if len(steps) > 1:
            steps.append({"id": "concat", "uses": "concat", "input": [s["id"] for s in steps]})
            last = "concat"
        steps.append({"id": "write", "uses": "write.dataset", "input": last})
        pipe = Pipeline.from_dict({"name": f"ingest.{to}", "steps": steps, "outputs": {to: "write"}},
                                  base_dir=Path.cwd())
        result = pipe.run(_workspace(), workers=workers, reporter=make_reporter(True))
    except DatamillError as err:
        _fail(err, as_json)
    _print_run(result.to_dict(), as_json)


@app.command()
def datasets(
    all_: Annotated[bool, typer.Option("--all", help="Also list step outputs and quarantines.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List datasets with their latest version."""
    try:
        rows = _workspace().catalog.datasets(include_internal=all_)
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json({"datasets": [
            {"name": r["name"], "seq": r["seq"], "ref": f"{r['name']}@{r['seq']}",
             "version": r["id"], "kind": r["kind"], "rows": r["num_rows"],
             "bytes": r["num_bytes"], "shards": r["num_shards"],
             "columns": json.loads(r["columns"])} for r in rows]})
        return
    if not rows:
        console.print("no datasets yet: `datamill run PIPELINE.yaml` or `datamill ingest FILE --to NAME`",
                      markup=False)
        return
    console.print(table(
        ["dataset", "latest", "version", "rows", "size", "columns"],
        [[r["name"], f"@{r['seq']}", r["id"][:12], f"{r['num_rows']:,}", human_bytes(r["num_bytes"]),
          ", ".join(json.loads(r["columns"]))] for r in rows]))


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="name, name@N, name@<hash> or @<hash>")],
    quarantine: Annotated[bool, typer.Option("--quarantine", help=QUARANTINE_HELP)] = False,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Describe a version: schema, roles, size, shards, summary, the run that made it, and its
    statistics: those `write.dataset` stored as it wrote the version, else those `datamill
    profile` (or a `stats.profile` step) computed later."""
    from datamill.track import lineage
    from datamill.validate import stored_profile

    try:
        ws = _workspace()
        ds = ws.open(ref)
        producer = ws.catalog.producer(ds.id)
        doc: dict[str, Any] = {
            "ref": f"{ds.name}@{ds.seq}" if ds.name else ds.ref, "version": ds.id,
            "rows": ds.num_rows, "bytes": ds.num_bytes, "shards": len(ds.shards),
            "schema": [{"name": f.name, "type": str(f.type), "role": ds.roles.get(f.name)}
                       for f in ds.schema],
            "summary": ds.summary,
            "produced_by": None if producer is None else {
                "run_id": producer["run_id"], "step": producer["step_id"], "uses": producer["uses"]},
            "history": [{"seq": h["seq"], "version": h["id"], "rows": h["num_rows"]}
                        for h in (ws.catalog.history(ds.name) if ds.name else [])],
            "profile": stored_profile(ws, ds.id),
        }
        if quarantine:
            graph = lineage(ws, ref)
            items = []
            for node in graph["nodes"].values():
                if node["kind"] != "step":
                    continue
                ex_rows = [e for e in ws.catalog.run(node["run_id"])["steps"]
                           if e["step_id"] == node["step"] and e["quarantine_version"]]
                for ex in ex_rows:
                    qds = ws.open(f"@{ex['quarantine_version']}")
                    rows = qds.to_arrow().slice(0, limit).to_pylist()
                    items.append({"step": node["step"], "version": qds.id, "rows": qds.num_rows,
                                  "first": rows})
            doc["quarantine"] = items
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json(doc)
        return
    console.print(f"{doc['ref']}  version {ds.id}", markup=False)
    console.print(f"{ds.num_rows:,} rows · {human_bytes(ds.num_bytes)} · {len(ds.shards)} shard(s)",
                  markup=False)
    if producer:
        console.print(f"made by step {producer['step_id']} ({producer['uses']}) in run "
                      f"{producer['run_id']}", markup=False)
    console.print(table(["column", "type", "role", "nulls", "min", "max"], [
        [c["name"], c["type"], c["role"], ds.summary.get(c["name"], {}).get("nulls"),
         _short(ds.summary.get(c["name"], {}).get("min")),
         _short(ds.summary.get(c["name"], {}).get("max"))] for c in doc["schema"]]))
    if doc["profile"] is not None:
        from datamill.cli.profile import STATS_COLUMNS, stats_row

        origin = "stored when written" if ds.profile is not None else "from `datamill profile`"
        console.print(f"\nstatistics ({origin}; --json has quantiles and histograms):", markup=False)
        console.print(table(STATS_COLUMNS, [stats_row(c) for c in doc["profile"]["columns"]]))
    else:
        console.print(f"no statistics yet (written with `profile: false`, or before datamill stored them): "
                      f"`datamill profile {doc['ref']}` computes them once", markup=False)
    for item in doc.get("quarantine", []):
        console.print(f"\nquarantine of step {item['step']}: {item['rows']:,} rows", markup=False)
        console.print(table(["id", "reason", "error", "source", "line"], [
            [r["id"], r["reason"], _short(r["error"], 80), r["source"], r["line"]]
            for r in item["first"]]))
    if quarantine and not doc.get("quarantine"):
        console.print("no quarantined rows upstream of this version", markup=False)


def _short(value: Any, width: int = 40) -> Any:
    if value is None:
        return None
    text = str(value).replace("\n", "⏎")
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
def head(
    ref: Annotated[str, typer.Argument(help="Dataset reference.")],
    n: Annotated[int, typer.Option("-n", "--rows", min=0, help="How many rows.")] = 10,
    columns: Annotated[list[str] | None, typer.Option("--column", "-c", help="Only these columns.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The first rows of a version."""
    import pyarrow as pa

    try:
        ds = _workspace().open(ref)
        batches = []
        got = 0
        for batch in ds.batches(columns=columns, batch_size=max(n, 1)):
            if got >= n:
                break
            batches.append(batch.slice(0, n - got))
            got += batches[-1].num_rows
        schema = batches[0].schema if batches else ds.schema
        rows = pa.Table.from_batches(batches, schema=schema).to_pylist() if batches else []
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json({"rows": rows})
        return
    names = list(rows[0]) if rows else ds.schema.names
    console.print(table(names, [[_short(r[c]) for c in names] for r in rows]))


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Older version.")],
    b: Annotated[str, typer.Argument(help="Newer version.")],
    as_json: JsonFlag = False,
) -> None:
    """Rows added, removed and changed (by id), schema and summary changes."""
    from datamill.store.diff import diff_versions

    try:
        ws = _workspace()
        result = diff_versions(ws.open(a), ws.open(b))
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json(result)
        return
    r = result["rows"]
    console.print(f"{result['a']} → {result['b']}: {r['a']:,} → {r['b']:,} rows; "
                  f"+{r['added']:,} added, -{r['removed']:,} removed, ~{r['changed']:,} changed",
                  markup=False)
    for kind in ("added", "removed", "changed"):
        if result["examples"][kind]:
            console.print(f"  {kind}: {', '.join(map(str, result['examples'][kind]))}", markup=False)
    schema = result["schema"]
    for kind in ("added", "removed"):
        for column, typ in schema[kind].items():
            console.print(f"  column {kind}: {column} ({typ})", markup=False)
    for column, change in schema["type_changed"].items():
        console.print(f"  type changed: {column} {change['a']} → {change['b']}", markup=False)
    for column, change in result["summary"].items():
        console.print(f"  summary {column}: {change['a']} → {change['b']}", markup=False)


@app.command()
def lineage(
    ref: Annotated[str, typer.Argument(help="Dataset reference.")],
    format_: Annotated[str, typer.Option("--format", help="text, dot or json.")] = "text",
    as_json: JsonFlag = False,
) -> None:
    """The upstream graph of a version: steps, runs, input versions, source files and hashes."""
    from datamill.track import lineage as build
    from datamill.track import lineage_dot, lineage_text

    if format_ not in ("text", "dot", "json"):
        _fail(ConfigError(f"--format must be text, dot or json, got {format_!r}"), as_json)
    try:
        graph = build(_workspace(), ref)
    except DatamillError as err:
        _fail(err, as_json)
    if as_json or format_ == "json":
        print_json(graph)
    elif format_ == "dot":
        sys.stdout.write(lineage_dot(graph) + "\n")
    else:
        sys.stdout.write(lineage_text(graph) + "\n")


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(min=1)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonFlag = False,
) -> None:
    """Recent runs, newest first."""
    import datetime as dt

    try:
        rows = _workspace().catalog.runs(limit=limit, offset=offset)
    except DatamillError as err:
        _fail(err, as_json)
    docs = [{"run_id": r["id"], "pipeline": r["pipeline"], "status": r["status"],
             "started_at": r["started_at"],
             "seconds": None if r["ended_at"] is None else round(r["ended_at"] - r["started_at"], 3),
             "outputs": json.loads(r["outputs"] or "{}")} for r in rows]
    if as_json:
        print_json({"runs": docs})
        return
    console.print(table(["run", "pipeline", "status", "started", "time", "outputs"], [
        [d["run_id"], d["pipeline"], d["status"],
         dt.datetime.fromtimestamp(d["started_at"]).strftime("%Y-%m-%d %H:%M:%S"),
         "—" if d["seconds"] is None else f"{d['seconds']:.1f} s",
         ", ".join(d["outputs"].values())] for d in docs]))


@runs_app.command("show")
def runs_show(run_id: Annotated[str, typer.Argument(help="Run id, a unique prefix of one, or `latest`.")],
              as_json: JsonFlag = False) -> None:
    """One run: spec, environment, and every step with its ledger."""
    from datamill.track import run_details

    try:
        doc = run_details(_workspace(), run_id)
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json(doc)
        return
    env = doc["environment"]
    git = env.get("git")
    console.print(f"run {doc['run_id']} · pipeline {doc['pipeline']} · {doc['status']}", markup=False)
    console.print(f"datamill {env.get('datamill')} · python {env.get('python')} · host {env.get('host')}"
                  + (f" · git {git['commit'][:12]}{' (dirty)' if git['dirty'] else ''}" if git else ""),
                  markup=False)
    if doc["error"]:
        console.print(f"error: {doc['error']}", markup=False)
    console.print(run_table({"steps": doc["steps"]}))


@runs_app.command("compare")
def runs_compare(a: Annotated[str, typer.Argument()], b: Annotated[str, typer.Argument()],
                 as_json: JsonFlag = False) -> None:
    """Two runs side by side: spec changes, inputs, outputs, ledgers and metrics."""
    from datamill.track import compare_runs

    try:
        doc = compare_runs(_workspace(), a, b)
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json(doc)
        return
    console.print(f"A {doc['a']['run_id']} ({doc['a']['status']})  vs  B {doc['b']['run_id']} "
                  f"({doc['b']['status']})", markup=False)
    if doc["spec_changes"]:
        console.print(table(["spec", "A", "B"], [[k, json.dumps(v["a"]), json.dumps(v["b"])]
                                                 for k, v in doc["spec_changes"].items()]))
    else:
        console.print("same spec", markup=False)
    console.print(table(["step", "status A", "status B", "rows out A", "rows out B", "same output"], [
        [k, v["status"]["a"], v["status"]["b"], v["rows_out"]["a"], v["rows_out"]["b"],
         "yes" if v["same_output"] else "no"] for k, v in doc["steps"].items()]))


@app.command()
def steps(as_json: JsonFlag = False) -> None:
    """List the built-in steps and their options."""
    from datamill.pipeline import registered_steps

    docs = []
    for name, cls in registered_steps().items():
        docs.append({"name": name, "kind": cls.kind,
                     "doc": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
                     "options": {k: (f.description or "") for k, f in cls.config_class.model_fields.items()}})
    if as_json:
        print_json({"steps": docs})
        return
    console.print(table(["step", "kind", "what it does", "options"],
                        [[d["name"], d["kind"], d["doc"], ", ".join(d["options"])] for d in docs]))


DEMOS = {
    "youtube_spam": "YouTube spam comments (CC BY 4.0): CSVs with broken rows, renamed, cleaned, filtered",
    "llm_corpus": "an LLM corpus from public-domain books: PDF, HTML, DOCX and text with broken files, "
                  "repaired, language-tagged, quality-filtered and chunked",
    "tabular_monitoring": "Chicago taxi trips and Minneapolis metro traffic: schema, training/serving skew, "
                          "drift between years, monitors; HTML reports",
}


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to put the demo workspace.")] = Path("datamill-demo"),
    workers: Annotated[int, typer.Option(min=1)] = 2,
    as_json: JsonFlag = False,
) -> None:
    """Run the bundled pipelines on bundled data: YouTube spam comments, an LLM corpus, and tables to monitor."""
    from datamill.pipeline.progress import make_reporter
    from datamill.pipeline.runner import Pipeline
    from datamill.store import Workspace

    target = directory.resolve()
    results: dict[str, dict[str, Any]] = {}
    stream: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None
    try:
        target.mkdir(parents=True, exist_ok=True)
        ws = Workspace.init(target)
        for name in DEMOS:
            folder = target / name
            example = resources.files("datamill") / "examples" / name
            with resources.as_file(example) as src:
                for item in Path(src).rglob("*"):
                    if item.is_file() and "__pycache__" not in item.parts:
                        dest = folder / item.relative_to(src)
                        dest.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(item, dest)
            if not as_json:
                console.print(f"\n{name}: {DEMOS[name]}", markup=False)
            result = Pipeline.from_yaml(folder / "pipeline.yaml").run(
                ws, workers=workers, reporter=make_reporter(not as_json))
            results[name] = result.to_dict()
            if not as_json:
                _print_run(results[name], False)
                if name == "llm_corpus":
                    from datamill.track.filter_report import filter_report as build_filter_report

                    console.print("\nWhat the filters removed (`datamill filter-report latest`):", markup=False)
                    render_filter_report(build_filter_report(ws, result.run_id, examples=1))
            if name == "llm_corpus":
                stream = _demo_stream_check(ws, as_json)
            if name == "tabular_monitoring":
                from datamill.cli.validate import demo_validation

                validation = demo_validation(ws, folder, quiet=as_json)
    except DatamillError as err:
        _fail(err, as_json)
    status = "succeeded" if all(r["status"] == "succeeded" for r in results.values()) else "failed"
    if as_json:
        print_json({"status": status, "workspace": str(target), "runs": results, "stream_check": stream,
                    "validation": validation})
        return
    console.print(f"\nThe demo workspace is {target}. Look around:\n"
                  f"  cd {target}\n"
                  "  datamill datasets\n"
                  "  datamill head spam_comments -n 5\n"
                  "  datamill show spam_comments --quarantine\n"
                  "  datamill lineage corpus\n"
                  "  datamill filter-report latest\n"
                  "  datamill head corpus_chunks -n 3\n"
                  "  datamill stream-check corpus_tokens --world-size 4 --workers 2\n"
                  "  datamill show corpus --quarantine\n"
                  "  datamill validate taxi_serving --reference taxi_train --mode skew --html skew.html\n"
                  "  datamill monitor metro_hourly --sla 30d --time-column date_time\n"
                  "  datamill runs list", markup=False)


def _demo_stream_check(ws: Any, as_json: bool) -> dict[str, Any] | None:
    """Read the demo's token shards as two training ranks would (needs the [torch] extra)."""
    from datamill.cli.llm import check_stream

    try:
        import torch  # noqa: F401
    except ImportError:
        if not as_json:
            console.print("\nStream check skipped: PyTorch is not installed (make torch, or pip install "
                          "'datamill[torch]').", markup=False)
        return None
    report = check_stream(ws, "corpus_tokens", world_size=2, workers=0, batch_size=8)
    if not as_json:
        console.print(f"\nStream check (`datamill stream-check corpus_tokens --world-size 2`): "
                      f"{report['sequences']:,} sequences of 512 tokens, coverage {report['coverage']:.0%}, "
                      f"duplicates {report['duplicates']}, {report['tokens_per_s'] / 1e6:,.1f} M tokens/s",
                      markup=False)
    return report


@app.command()
def gc(
    older_than: Annotated[float, typer.Option(min=0, help="Only files older than this many hours.")] = 24.0,
    dry_run: Annotated[bool, typer.Option(help="Say what would go, remove nothing.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Remove what killed writers left: unreferenced shards, temp files, orphan manifests."""
    from datamill.store.gc import collect_garbage

    try:
        result = collect_garbage(_workspace(), older_than_s=older_than * 3600, dry_run=dry_run)
    except DatamillError as err:
        _fail(err, as_json)
    if as_json:
        print_json(result)
        return
    counts = result["removed"]
    verb = "would remove" if dry_run else "removed"
    console.print(f"{verb} {counts['shards']} shard(s), {counts['tmp']} temp file(s), "
                  f"{counts['manifests']} orphan manifest(s): {human_bytes(result['bytes'])}",
                  markup=False)


@app.command()
def version() -> None:
    """Print the datamill version."""
    console.print(__version__, markup=False)


# Commands written in modules of their own.
from datamill.cli.dedup import dedup  # noqa: E402
from datamill.cli.export import export  # noqa: E402
from datamill.cli.filter_report import filter_report, render_filter_report  # noqa: E402
from datamill.cli.label import label_app  # noqa: E402
from datamill.cli.llm import stream_check, tokenize, train_tokenizer  # noqa: E402
from datamill.cli.profile import profile  # noqa: E402
from datamill.cli.schema import schema_app  # noqa: E402
from datamill.cli.table_check import table_check  # noqa: E402
from datamill.cli.validate import monitor, validate  # noqa: E402

app.command("filter-report")(filter_report)
app.command("export")(export)
app.command("table-check")(table_check)
app.command("dedup")(dedup)
app.command("tokenize")(tokenize)
app.command("stream-check")(stream_check)
app.command("train-tokenizer")(train_tokenizer)
app.command("profile")(profile)
app.command("monitor")(monitor)
app.command("validate")(validate)
app.add_typer(label_app, name="label")
app.add_typer(schema_app, name="schema")


def main() -> None:
    """Entry point of the ``datamill`` script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted", markup=False)
        sys.exit(130)
    except Exception as err:  # not one of ours: still exit 3, and keep --json one document
        code = err.exit_code if isinstance(err, DatamillError) else 3
        if "--json" in sys.argv[1:]:
            print_json({"error": f"{type(err).__name__}: {err}", "type": type(err).__name__,
                        "exit_code": code})
        err_console.print(f"{type(err).__name__}: {err}", markup=False)
        sys.exit(code)


if __name__ == "__main__":
    main()
