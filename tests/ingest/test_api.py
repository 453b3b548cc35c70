"""read.api: paging kinds, retries and Retry-After, failures quarantined, secrets never shown."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datamill import Pipeline
from datamill.__about__ import __version__
from datamill.core.errors import ConfigError
from datamill.ingest._documents import DOCUMENT_SCHEMA, document_batch
from datamill.ingest.api import ApiReader, render_template, value_at
from datamill.store import Workspace
from datamill.testing import StepResult, run_step
from tests.ingest.http_server import LocalServer, Reply, Seen

FAST = {"backoff_s": 0.01, "max_backoff_s": 5.0, "timeout_s": 5.0}
ITEMS = [{"id": i, "title": f"item {i}", "body": f"text of item {i}"} for i in range(1, 8)]


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def read(**options: Any) -> StepResult:
    result = run_step(ApiReader(**{**FAST, **options}))
    assert result.ledger.balanced
    return result


def ids(result: StepResult) -> list[str]:
    return [str(i) for i in result.output["id"].to_pylist()]


def test_api_reader_turns_records_into_the_document_schema(server: LocalServer) -> None:
    body = {"data": {"items": ITEMS[:2]}}
    server.routes["/items"] = Reply.json(body)

    result = read(url=server.url("/items"), records="data.items", text_field="body")

    assert result.output.schema == DOCUMENT_SCHEMA
    rows = result.output.to_pylist()
    assert [r["id"] for r in rows] == ["1", "2"]
    assert [r["text"] for r in rows] == ["text of item 1", "text of item 2"]
    assert {r["source"] for r in rows} == {server.url("/items")}
    assert {r["page"] for r in rows} == {1}
    assert {r["mime"] for r in rows} == {"application/json"}
    assert {r["sha256"] for r in rows} == {hashlib.sha256(json.dumps(body).encode()).hexdigest()}
    assert json.loads(rows[0]["meta"]) == ITEMS[0]
    assert result.ledger.rows_in == result.ledger.rows_out == 2
    assert server.hits("/items")[0].headers["user-agent"].startswith(f"datamill/{__version__} (+https://")


def test_api_reader_concatenates_with_documents(server: LocalServer) -> None:
    server.routes["/items"] = Reply.json(ITEMS[:1])
    document = document_batch([{"id": "d", "text": "a document", "source": "a.txt", "mime": "text/plain"}])

    api = read(url=server.url("/items"), text_template="{title}: {body}")

    both = pa.concat_tables([api.output, pa.Table.from_batches([document])])
    assert both["text"].to_pylist() == ["item 1: text of item 1", "a document"]


def test_api_reader_without_text_options_keeps_the_record_as_json(server: LocalServer) -> None:
    server.routes["/items"] = Reply.json([{"name": "x"}, "a bare string", 3])

    result = read(url=server.url("/items"))

    assert result.output["text"].to_pylist() == ['{"name": "x"}', "a bare string", "3"]
    assert json.loads(result.output["meta"][1].as_py()) == {"value": "a bare string"}
    assert len(set(ids(result))) == 3  # no id field: a hash of URL, page and position


def test_api_reader_follows_a_next_link_in_the_body(server: LocalServer) -> None:
    def page(seen: Seen) -> Reply:
        n = int(seen.query.get("p", "1"))
        nxt = f"/items?p={n + 1}" if n < 3 else None
        return Reply.json({"items": ITEMS[(n - 1) * 2 : n * 2], "links": {"next": nxt}})

    server.routes["/items"] = page

    result = read(url=server.url("/items"), records="items", paging={"kind": "next_link", "next_field": "links.next"})

    assert ids(result) == ["1", "2", "3", "4", "5", "6"]
    assert result.output["page"].to_pylist() == [1, 1, 2, 2, 3, 3]
    assert result.output["source"].to_pylist()[-1] == server.url("/items?p=3")
    assert result.metrics["pages"] == 3


def test_api_reader_follows_the_link_header(server: LocalServer) -> None:
    def page(seen: Seen) -> Reply:
        n = int(seen.query.get("page", "1"))
        headers = {"Link": f'<{server.url(f"/items?page={n + 1}")}>; rel="next"'} if n < 2 else {}
        return Reply.json(ITEMS[(n - 1) * 3 : n * 3], **headers)

    server.routes["/items"] = page

    result = read(url=server.url("/items"), paging={"kind": "next_link"})

    assert ids(result) == ["1", "2", "3", "4", "5", "6"]


def test_api_reader_pages_by_offset_until_a_short_page(server: LocalServer) -> None:
    def page(seen: Seen) -> Reply:
        offset, limit = int(seen.query["offset"]), int(seen.query["limit"])
        return Reply.json({"results": ITEMS[offset : offset + limit]})

    server.routes["/items"] = page

    result = read(url=server.url("/items"), records="results", paging={"kind": "offset", "page_size": 3})

    assert ids(result) == [str(i["id"]) for i in ITEMS]
    assert [s.query["offset"] for s in server.hits("/items")] == ["0", "3", "6"]


def test_api_reader_pages_by_number_until_an_empty_page(server: LocalServer) -> None:
    def page(seen: Seen) -> Reply:
        n = int(seen.query["page"])
        assert seen.query["per_page"] == "4"
        return Reply.json({"data": ITEMS[(n - 1) * 4 : n * 4] if n <= 2 else []})

    server.routes["/items"] = page

    result = read(url=server.url("/items"), records="data",
                  paging={"kind": "page", "size_param": "per_page", "page_size": 4})

    assert ids(result) == [str(i["id"]) for i in ITEMS]
    assert [s.query["page"] for s in server.hits("/items")] == ["1", "2"]  # page 2 was short


def test_api_reader_sends_the_cursor_back_until_it_is_empty(server: LocalServer) -> None:
    cursors = {"": ("c1", ITEMS[:2]), "c1": ("c2", ITEMS[2:4]), "c2": (None, ITEMS[4:5])}

    def page(seen: Seen) -> Reply:
        nxt, items = cursors[seen.query.get("after", "")]
        return Reply.json({"items": items, "meta": {"next": nxt}})

    server.routes["/items"] = page

    result = read(url=server.url("/items"), records="items",
                  paging={"kind": "cursor", "cursor_field": "meta.next", "cursor_param": "after"})

    assert ids(result) == ["1", "2", "3", "4", "5"]
    assert [s.query.get("after") for s in server.hits("/items")] == [None, "c1", "c2"]


def test_api_reader_posts_a_json_body(server: LocalServer) -> None:
    server.routes["/search"] = lambda seen: Reply.json({"hits": [{"id": "a", "q": json.loads(seen.body)["q"]}]})

    result = read(url=server.url("/search"), method="POST", body={"q": "rivers"}, records="hits", text_field="q")

    assert result.output["text"].to_pylist() == ["rivers"]
    assert server.hits("/search")[0].method == "POST"


def test_api_reader_retries_500s_and_gets_every_record(server: LocalServer) -> None:
    calls = {"n": 0}

    def flaky(seen: Seen) -> Reply:
        calls["n"] += 1
        if calls["n"] in (2, 3):  # page 2 fails twice, then works
            return Reply(500, b"oops")
        return Reply.json({"items": ITEMS[:3] if seen.query["offset"] == "0" else ITEMS[3:4]})

    server.routes["/items"] = flaky

    result = read(url=server.url("/items"), records="items", paging={"kind": "offset", "page_size": 3})

    assert ids(result) == ["1", "2", "3", "4"]
    assert result.metrics["retries"] == 2
    assert result.metrics["requests"] == 4
    assert result.quarantine.num_rows == 0


def test_api_reader_quarantines_a_page_that_never_succeeds(server: LocalServer) -> None:
    def failing(seen: Seen) -> Reply:
        return Reply.json({"items": ITEMS[:2]}) if seen.query["page"] == "1" else Reply(503, b"down")

    server.routes["/items"] = failing

    result = read(url=server.url("/items"), records="items", max_retries=2,
                  paging={"kind": "page", "page_size": 2})

    assert ids(result) == ["1", "2"]  # what was read before the failure is kept
    assert result.ledger.quarantined == {"http_error": 1}
    row = result.quarantine.to_pylist()[0]
    assert row["reason"] == "http_error"
    assert row["error"] == f"HTTP 503 Service Unavailable from {server.url('/items?page=2')} after 3 attempts"
    assert row["source"] == server.url("/items?page=2")
    assert json.loads(row["row"])["page"] == 2
    assert len(server.hits("/items")) == 4
    assert result.metrics["pages_failed"] == 1


def test_api_reader_quarantines_an_unreachable_server_with_the_cause() -> None:
    result = read(url="http://127.0.0.1:1/items", max_retries=1)

    assert result.output.num_rows == 0
    assert result.output.schema == DOCUMENT_SCHEMA
    assert result.ledger.quarantined == {"http_error": 1}
    error = result.quarantine["error"][0].as_py()
    assert "ConnectError" in error and "after 2 attempts" in error and "127.0.0.1:1/items" in error


def test_api_reader_honours_retry_after_on_429(server: LocalServer) -> None:
    calls = {"n": 0}

    def limited(seen: Seen) -> Reply:
        calls["n"] += 1
        return Reply(429, b"slow down", {"Retry-After": "1"}) if calls["n"] == 1 else Reply.json(ITEMS[:1])

    server.routes["/items"] = limited

    result = read(url=server.url("/items"))

    assert ids(result) == ["1"]
    assert result.metrics["retries"] == 1
    assert result.metrics["retry_wait_s"] >= 1.0


def test_api_reader_gives_up_when_retry_after_exceeds_the_cap(server: LocalServer) -> None:
    server.routes["/items"] = Reply(429, b"", {"Retry-After": "3600"})

    result = read(url=server.url("/items"), max_backoff_s=2)

    assert len(server.hits("/items")) == 1
    error = result.quarantine["error"][0].as_py()
    assert "HTTP 429" in error and "retry after 3600 s" in error and "max_backoff_s=2" in error


def test_api_reader_never_shows_secrets(server: LocalServer, ws: Workspace, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    token, key = "tok-9f8e7d6c5b4a", "key-0a1b2c3d4e5f"
    monkeypatch.setenv("DM_TEST_TOKEN", token)
    monkeypatch.setenv("DM_TEST_KEY", key)

    def guarded(seen: Seen) -> Reply:
        if seen.headers.get("authorization") != f"Bearer {token}" or seen.query.get("api_key") != key:
            return Reply(401, b"bad credentials")
        if seen.query.get("page") == "1":
            # The server echoes the key in its next link and in an error body.
            return Reply.json({"items": ITEMS[:2], "next": f"/items?page=2&api_key={key}"})
        return Reply(500, f"internal error for key {key} and token {token}".encode())

    server.routes["/items"] = guarded
    pipeline = Pipeline.from_dict({"name": "secrets", "steps": [{
        "id": "api", "uses": "read.api", "with": {
            **FAST, "url": server.url("/items"), "records": "items", "max_retries": 1,
            "headers": {"Authorization": "Bearer ${DM_TEST_TOKEN}"},
            "params": {"api_key": "${DM_TEST_KEY}", "page": 1},
            "paging": {"kind": "next_link", "next_field": "next"}}}],
        "outputs": {"items": "api"}}, base_dir=tmp_path)

    with caplog.at_level(logging.DEBUG):
        done = pipeline.run(ws)

    report = done.step("api")
    assert report.rows_out == 2 and report.quarantined == {"http_error": 1}
    quarantine = ws.open("secrets.api.quarantine").to_arrow()
    shown = json.dumps([quarantine.to_pylist(), ws.open("items").to_arrow().to_pylist(), report.metrics])
    assert "api_key=***" in shown
    assert "HTTP Request: GET" in caplog.text and "api_key=***" in caplog.text  # logged, scrubbed
    for secret in (token, key):
        assert secret not in shown
        assert secret not in caplog.text
        for path in ws.root.rglob("*"):  # run records, metadata DB, shards, checkpoints
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    assert len(server.hits("/items")) == 3  # the credentials were sent


def test_api_reader_refuses_a_literal_credential_without_repeating_it() -> None:
    with pytest.raises(ConfigError, match=r"header `Authorization` holds a literal credential.*\$\{VAR\}") as err:
        ApiReader(url="https://api.test/x", headers={"Authorization": "Bearer abc123"})
    assert "abc123" not in str(err.value)
    with pytest.raises(ConfigError, match=r"parameter `api_key`") as err:
        ApiReader(url="https://api.test/x?api_key=zz99zz")
    assert "zz99zz" not in str(err.value)


def test_api_reader_names_a_missing_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DM_TEST_UNSET", raising=False)
    step = ApiReader(url="https://api.test/x", headers={"Authorization": "Bearer ${DM_TEST_UNSET}"})

    with pytest.raises(ConfigError, match=r"header `Authorization` uses `\$\{DM_TEST_UNSET\}`.*export DM_TEST_UNSET"):
        step.partitions()


@pytest.mark.parametrize(("options", "message"), [
    ({"url": "ftp://x/y"}, r"`url` must start with http"),
    ({"url": "https://x/y", "body": {"q": 1}}, r"`body` is sent with POST only"),
    ({"url": "https://x/y", "text_field": "a", "text_template": "{a}"}, r"not both"),
    ({"url": "https://x/y", "paging": {"kind": "pages"}}, r"paging"),
    ({"url": "https://x/y", "headers": {"X-A": "${BROKEN"}}, r"not a `\$\{NAME\}` reference"),
    ({"url": "https://x/y", "backoff": 1}, r"no option `backoff`. Did you mean `backoff_s`"),
])
def test_api_reader_config_errors_say_what_to_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ApiReader(**options)


def test_api_reader_quarantines_a_body_that_is_not_json(server: LocalServer) -> None:
    server.routes["/items"] = Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})

    result = read(url=server.url("/items"))

    assert result.ledger.quarantined == {"not_json": 1}
    assert "not JSON (text/html" in result.quarantine["error"][0].as_py()
    assert "<html>maintenance" in result.quarantine["error"][0].as_py()


def test_api_reader_quarantines_json_without_the_records_path(server: LocalServer) -> None:
    server.routes["/items"] = Reply.json({"error": "quota", "detail": {}})

    result = read(url=server.url("/items"), records="data.items")

    assert result.ledger.quarantined == {"missing_records": 1}
    assert "no `data.items` (missing `data`; top level: `error`, `detail`)" in result.quarantine["error"][0].as_py()


def test_api_reader_quarantines_deeply_nested_json(server: LocalServer) -> None:
    server.routes["/items"] = Reply(200, b"[" * 100_000 + b"]" * 100_000)

    result = read(url=server.url("/items"))

    assert result.ledger.quarantined == {"not_json": 1}
    assert "nested too deeply" in result.quarantine["error"][0].as_py()


def test_api_reader_quarantines_a_page_over_max_bytes(server: LocalServer) -> None:
    server.routes["/items"] = Reply(200, json.dumps([{"t": "x" * 5000}]).encode(), chunked=True)

    result = read(url=server.url("/items"), max_bytes=1000)

    assert result.ledger.quarantined == {"too_large": 1}
    assert "more than max_bytes=1,000" in result.quarantine["error"][0].as_py()


def test_api_reader_caps_pages_and_records_and_counts_the_rest(server: LocalServer) -> None:
    server.routes["/items"] = lambda seen: Reply.json(ITEMS[(int(seen.query["page"]) - 1) * 3:][:3])

    by_records = read(url=server.url("/items"), paging={"kind": "page"}, max_records=4)
    by_pages = read(url=server.url("/items"), paging={"kind": "page"}, max_pages=2)

    assert ids(by_records) == ["1", "2", "3", "4"]
    assert by_records.ledger.dropped == {"over_max_records": 2}
    assert ids(by_pages) == ["1", "2", "3", "4", "5", "6"]
    assert by_pages.metrics["max_pages_reached"] == 1


def test_api_reader_drops_repeated_ids_and_stops_a_server_that_ignores_paging(server: LocalServer) -> None:
    server.routes["/items"] = Reply.json([ITEMS[0], ITEMS[1], ITEMS[0]])

    result = read(url=server.url("/items"), paging={"kind": "page"})

    assert ids(result) == ["1", "2"]
    assert result.ledger.dropped == {"duplicate_id": 1}
    assert result.ledger.quarantined == {"paging_loop": 1}
    assert "same body as page 1" in result.quarantine["error"][0].as_py()


def test_api_reader_stops_at_a_next_link_to_another_origin(server: LocalServer) -> None:
    with LocalServer() as other:
        other.routes["/steal"] = Reply.json([])
        server.routes["/items"] = Reply.json({"items": ITEMS[:1], "next": other.url("/steal")})

        result = read(url=server.url("/items"), records="items", paging={"kind": "next_link", "next_field": "next"})

        assert ids(result) == ["1"]
        assert result.ledger.quarantined == {"bad_next_link": 1}
        assert other.hits("/steal") == []


def test_api_reader_quarantines_records_missing_their_text(server: LocalServer) -> None:
    server.routes["/items"] = Reply.json([{"id": 1, "body": "ok"}, {"id": 2}, {"id": 3, "body": None}])

    result = read(url=server.url("/items"), text_field="body")

    assert ids(result) == ["1"]
    assert result.ledger.quarantined == {"missing_text": 2}
    assert result.quarantine["error"].to_pylist()[0] == "record 1 of page 1 has no `body` (for body)"


def test_api_reader_spaces_requests_by_the_rate_limit(server: LocalServer) -> None:
    server.routes["/items"] = lambda seen: Reply.json(ITEMS[int(seen.query["page"]) - 1 :][:1]
                                                      if seen.query["page"] in ("1", "2") else [])

    result = read(url=server.url("/items"), paging={"kind": "page"}, requests_per_second=5)

    assert len(server.hits("/items")) == 3 and ids(result) == ["1", "2"]
    # Three requests at most five a second: the limiter held back the second and third.
    assert result.metrics["rate_limit_wait_s"] > 0.2


def test_value_at_and_render_template_read_dotted_paths() -> None:
    record = {"a": {"b": [10, {"c": "deep"}]}, "n": None}

    assert value_at(record, "a.b.1.c") == "deep"
    assert value_at(record, "a.b.-1") == {"c": "deep"}
    assert value_at(record, "") is record
    assert render_template("{a.b.0} {n} {{x}}", record) == "10 null {x}"
    with pytest.raises(KeyError):
        render_template("{a.__class__}", record)


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40))
def test_render_template_leaves_text_without_placeholders_alone(text: str) -> None:
    assert render_template(text, {}) == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(JSON | st.dictionaries(st.sampled_from(["id", "body"]), JSON, max_size=2), max_size=12))
def test_api_reader_accounts_for_every_record(shared_server: LocalServer, records: list[Any]) -> None:
    shared_server.routes["/any"] = Reply.json({"items": records})

    result = read(url=shared_server.url("/any"), records="items", text_field="body", max_retries=0)

    ledger = result.ledger
    assert ledger.rows_in == len(records)
    assert ledger.rows_out == result.output.num_rows
    assert len(set(ids(result))) == result.output.num_rows


def test_api_reader_rerun_is_cached_until_the_snapshot_changes(server: LocalServer, ws: Workspace,
                                                               tmp_path: Path) -> None:
    server.routes["/items"] = Reply.json(ITEMS[:2])

    def run(snapshot: str) -> str:
        step = {"id": "api", "uses": "read.api", "with": {**FAST, "url": server.url("/items"), "snapshot": snapshot}}
        done = Pipeline.from_dict({"name": "snap", "steps": [step], "outputs": {"items": "api"}},
                                  base_dir=tmp_path).run(ws)
        return done.step("api").status

    assert [run("2026-01-01"), run("2026-01-01"), run("2026-01-02")] == ["ran", "cached", "ran"]
    assert len(server.hits("/items")) == 2


def test_api_reader_without_a_snapshot_is_live_and_fetches_on_every_run(server: LocalServer, ws: Workspace,
                                                                       tmp_path: Path) -> None:
    server.routes["/items"] = Reply.json(ITEMS[:2])
    spec = {"name": "live", "steps": [
        {"id": "api", "uses": "read.api", "with": {**FAST, "url": server.url("/items")}},
        {"id": "pick", "uses": "select", "input": "api", "with": {"columns": ["id", "text"]}}],
        "outputs": {"items": "pick"}}

    first = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)
    again = Pipeline.from_dict(spec, base_dir=tmp_path).run(ws)

    assert len(server.hits("/items")) == 2
    assert again.step("api").status == "ran" and "live source" in again.step("api").reason
    # The same records give the same version, so what follows comes from the cache.
    assert again.step("pick").status == "cached"
    assert first.outputs == again.outputs
