"""read.web: crawling with robots.txt, redirects, timeouts, size caps, sitemaps, content types."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datamill import Pipeline
from datamill.core.errors import ConfigError
from datamill.ingest._documents import DOCUMENT_SCHEMA, document_id
from datamill.ingest.web import WebReader, page_links, sitemap_locations
from datamill.store import Workspace
from datamill.testing import StepResult, run_step
from tests.ingest.http_server import LocalServer, Reply

FAST = {"backoff_s": 0.01, "timeout_s": 5.0, "requests_per_second": 200.0, "mode": "text"}
ROBOTS = "User-agent: *\nDisallow: /private\n\nUser-agent: otherbot\nDisallow: /\n"
ARTICLE = " ".join(
    ["The river rose three metres overnight, flooding the lower town for the first time since records "
     "began in the nineteenth century. Residents were evacuated by boat while volunteers filled sandbags "
     "along the old quay, and the mayor promised a full inquiry into the failure of the flood barrier."] * 3
)


def page(title: str, *links: str, body: str = "", head: str = "") -> Reply:
    anchors = "".join(f'<li><a href="{href}">{href}</a></li>' for href in links)
    return Reply.html(f"<!DOCTYPE html><html lang=\"en\"><head><title>{title}</title>{head}</head><body>"
                      f"<nav><ul>{anchors}</ul></nav><main><article><h1>{title}</h1><p>{body or title + ' text'}"
                      "</p></article></main></body></html>")


@pytest.fixture
def site() -> Iterator[LocalServer]:
    with LocalServer() as server:
        server.routes["/robots.txt"] = Reply(200, ROBOTS.encode(), {"Content-Type": "text/plain"})
        yield server


def read(**options: Any) -> StepResult:
    result = run_step(WebReader(**{**FAST, **options}))
    assert result.ledger.balanced
    return result


def by_source(result: StepResult) -> dict[str, dict[str, Any]]:
    return {row["source"]: row for row in result.output.to_pylist()}


def quarantined(result: StepResult) -> dict[str, str]:
    return {row["source"]: row["reason"] for row in result.quarantine.to_pylist()}


def test_web_reader_crawls_links_obeys_robots_and_accounts_for_every_page(site: LocalServer) -> None:
    with LocalServer() as other:
        other.routes["/"] = page("elsewhere")
        site.routes["/"] = page("Home", "/a", "b", "/private/secret", "/missing", "/loop/1", "/doc.pdf",
                                "/notes.txt", "/a#section", "mailto:x@y.test", other.url("/"))
        site.routes["/a"] = page("Page A", "/", "/a/deeper")
        site.routes["/b"] = page("Page B")
        site.routes["/a/deeper"] = page("Too deep")
        site.routes["/private/secret"] = page("Secret")
        site.routes["/loop/1"] = Reply.redirect("/loop/2")
        site.routes["/loop/2"] = Reply.redirect("/loop/1")
        site.routes["/doc.pdf"] = Reply(200, b"%PDF-1.7 ...", {"Content-Type": "application/pdf"})
        site.routes["/notes.txt"] = Reply(200, "plain notes, café".encode(),
                                          {"Content-Type": "text/plain; charset=utf-8"})

        result = read(start_url=site.url("/"), follow_links=True, max_depth=1)

        pages = by_source(result)
        assert set(pages) == {site.url(p) for p in ("/", "/a", "/b", "/notes.txt")}
        assert pages[site.url("/notes.txt")]["text"] == "plain notes, café"
        assert pages[site.url("/notes.txt")]["mime"] == "text/plain"
        home = pages[site.url("/")]
        assert home["id"] == document_id(site.url("/"))
        assert home["mime"] == "text/html" and home["page"] is None
        meta = json.loads(home["meta"])
        assert (meta["title"], meta["url"], meta["language"], meta["status"], meta["depth"]) == (
            "Home", site.url("/"), "en", 200, 0)
        assert "Home text" in home["text"]
        assert quarantined(result) == {site.url("/missing"): "http_error", site.url("/loop/1"): "redirect_loop",
                                       site.url("/doc.pdf"): "unsupported_type"}
        assert result.ledger.dropped == {"robots_disallowed": 1}
        assert result.ledger.rows_in == 8
        assert site.hits("/private/secret") == [] and site.hits("/a/deeper") == []
        assert other.hits("/") == [] and other.hits("/robots.txt") == []
        assert len(site.hits("/robots.txt")) == 1
        assert result.output.schema == DOCUMENT_SCHEMA
        errors = {row["source"]: row["error"] for row in result.quarantine.to_pylist()}
        assert errors[site.url("/missing")] == f"HTTP 404 Not Found from {site.url('/missing')} after 1 attempt"
        assert "redirects back to " + site.url("/loop/1") in errors[site.url("/loop/1")]
        assert "application/pdf" in errors[site.url("/doc.pdf")]


def test_web_reader_main_mode_keeps_the_article_and_its_metadata(site: LocalServer) -> None:
    site.routes["/news"] = page("Flood in the lower town", "/a", "/b", body=ARTICLE,
                                head='<meta name="author" content="Ann Reporter">')

    result = read(urls=[site.url("/news")], mode="main")

    row = result.output.to_pylist()[0]
    meta = json.loads(row["meta"])
    assert "The river rose three metres overnight" in row["text"]
    assert "/a" not in row["text"]  # the navigation is gone
    assert (meta["mode"], meta["title"], meta["author"], meta["url"]) == (
        "main", "Flood in the lower town", "Ann Reporter", site.url("/news"))


def test_web_reader_quarantines_a_slow_page_after_the_retries(site: LocalServer) -> None:
    site.routes["/slow"] = Reply(200, b"<p>late</p>", {"Content-Type": "text/html"}, delay_s=2.0)

    result = read(urls=[site.url("/slow")], timeout_s=0.3, max_retries=1)

    assert result.ledger.quarantined == {"http_error": 1}
    assert result.quarantine["error"][0].as_py() == f"{site.url('/slow')}: timed out (timeout_s=0.3), after 2 attempts"
    assert result.metrics["retries"] == 1


def test_web_reader_stops_reading_a_page_over_max_bytes(site: LocalServer) -> None:
    huge = b"<html><body>" + b"<p>word word word</p>" * 250_000 + b"</body></html>"  # about 5 MB
    site.routes["/streamed"] = Reply(200, huge, {"Content-Type": "text/html"}, chunked=True)
    site.routes["/declared"] = Reply(200, huge, {"Content-Type": "text/html"})

    result = read(urls=[site.url("/streamed"), site.url("/declared")], max_bytes=100_000)

    assert quarantined(result) == {site.url("/streamed"): "too_large", site.url("/declared"): "too_large"}
    # The chunked page was read only up to the cap; the declared length was refused unread.
    assert result.metrics["bytes_fetched"] < 300_000
    assert "more than max_bytes=100,000" in result.quarantine["error"][0].as_py()


def test_web_reader_honours_crawl_delay(site: LocalServer) -> None:
    site.routes["/robots.txt"] = Reply(200, b"User-agent: *\nCrawl-delay: 1\n")
    site.routes["/a"] = page("A")
    site.routes["/b"] = page("B")

    result = read(urls=[site.url("/a"), site.url("/b")])

    assert len(result.output) == 2
    # robots.txt, then /a, then /b one crawl delay after /a.
    assert result.metrics["rate_limit_wait_s"] >= 0.5


def test_web_reader_drops_every_page_when_robots_txt_is_down(site: LocalServer) -> None:
    site.routes["/robots.txt"] = Reply(500, b"broken")
    site.routes["/a"] = page("A")

    result = read(urls=[site.url("/a")], max_retries=1)

    assert result.output.num_rows == 0
    assert result.ledger.dropped == {"robots_unavailable": 1}
    assert site.hits("/a") == []


def test_web_reader_reads_everything_when_robots_txt_is_missing(site: LocalServer) -> None:
    del site.routes["/robots.txt"]
    site.routes["/private/x"] = page("X")

    result = read(urls=[site.url("/private/x")])

    assert by_source(result).keys() == {site.url("/private/x")}


def test_web_reader_ignores_robots_when_told_to(site: LocalServer) -> None:
    site.routes["/private/x"] = page("X")

    result = read(urls=[site.url("/private/x")], respect_robots=False)

    assert by_source(result).keys() == {site.url("/private/x")}
    assert site.hits("/robots.txt") == []


def test_web_reader_user_agent_is_matched_by_robots_txt(site: LocalServer) -> None:
    site.routes["/a"] = page("A")

    result = read(urls=[site.url("/a")], user_agent="OtherBot/2.0 (+https://other.test)")

    assert result.ledger.dropped == {"robots_disallowed": 1}


def test_web_reader_checks_robots_at_each_redirect_and_reads_a_page_once(site: LocalServer) -> None:
    site.routes["/go-private"] = Reply.redirect("/private/x")
    site.routes["/go-a"] = Reply.redirect("/a", status=301)
    site.routes["/a"] = page("A")

    result = read(urls=[site.url("/a"), site.url("/go-private"), site.url("/go-a")])

    assert by_source(result).keys() == {site.url("/a")}
    assert result.ledger.dropped == {"robots_disallowed": 1, "duplicate_url": 1}
    assert site.hits("/private/x") == []


def test_web_reader_follows_a_redirect_and_records_both_urls(site: LocalServer) -> None:
    site.routes["/old"] = Reply.redirect("/new", status=308)
    site.routes["/new"] = page("New")

    result = read(urls=[site.url("/old")])

    row = result.output.to_pylist()[0]
    assert (row["source"], row["id"]) == (site.url("/new"), document_id(site.url("/new")))
    assert json.loads(row["meta"])["requested_url"] == site.url("/old")


def test_web_reader_reads_a_sitemap_index_and_a_gzipped_sitemap(site: LocalServer) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    site.routes["/sitemap.xml"] = Reply(200, (
        f'<?xml version="1.0"?><sitemapindex {ns}><sitemap><loc>{site.url("/pages.xml.gz")}</loc></sitemap>'
        f'<sitemap><loc>{site.url("/broken.xml")}</loc></sitemap></sitemapindex>').encode())
    site.routes["/pages.xml.gz"] = Reply(200, gzip.compress((
        f'<urlset {ns}><url><loc>{site.url("/a")}</loc></url><url><loc>{site.url("/b")}</loc></url>'
        f'<url><loc>http://elsewhere.test/x</loc></url></urlset>').encode()))
    site.routes["/broken.xml"] = Reply(200, b"<urlset><url><loc>oops")
    site.routes["/a"] = page("A")
    site.routes["/b"] = page("B")

    result = read(sitemap=site.url("/sitemap.xml"))

    assert by_source(result).keys() == {site.url("/a"), site.url("/b")}
    assert quarantined(result) == {site.url("/broken.xml"): "bad_sitemap"}
    assert result.metrics["links_off_host"] == 1


def test_web_reader_obeys_robots_meta_tags(site: LocalServer) -> None:
    site.routes["/hidden"] = page("Hidden", "/a", head='<meta name="robots" content="noindex">')
    site.routes["/a"] = page("A", "/b", head='<meta name="robots" content="nofollow">')
    site.routes["/b"] = page("B")

    result = read(start_url=site.url("/hidden"), follow_links=True)

    assert by_source(result).keys() == {site.url("/a")}
    assert result.ledger.dropped == {"robots_noindex": 1}
    assert site.hits("/b") == []


def test_web_reader_stops_at_max_pages_and_counts_the_rest(site: LocalServer) -> None:
    site.routes["/"] = page("Home", "/1", "/2", "/3", "/4")
    for n in range(1, 5):
        site.routes[f"/{n}"] = page(f"P{n}")

    result = read(start_url=site.url("/"), follow_links=True, max_pages=3)

    assert len(result.output) == 3
    assert result.metrics["not_fetched_max_pages"] == 2


def test_web_reader_decodes_by_the_http_charset_and_quarantines_binary(site: LocalServer) -> None:
    site.routes["/latin"] = Reply(200, "<p>Crème brûlée à la carte</p>".encode("cp1252"),
                                  {"Content-Type": "text/html; charset=windows-1252"})
    site.routes["/png"] = Reply(200, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, {"Content-Type": "text/html"})
    site.routes["/empty"] = Reply(200, b"", {"Content-Type": "text/html"})

    result = read(urls=[site.url("/latin"), site.url("/png"), site.url("/empty")])

    assert by_source(result)[site.url("/latin")]["text"] == "Crème brûlée à la carte"
    assert quarantined(result) == {site.url("/png"): "binary_file"}
    assert result.ledger.dropped == {"empty_page": 1}


@pytest.mark.parametrize(("options", "message"), [
    ({}, r"nothing to fetch: give `urls`, `start_url` or `sitemap`"),
    ({"urls": ["file:///etc/passwd"]}, r"'file:///etc/passwd' must start with http:// or https://"),
    ({"urls": ["https://a.test"], "max_depth": -1}, r"`max_depth` input should be greater than or equal to 0"),
    ({"start_url": "https://bob:pw@a.test/"}, r"'a.test/' holds a user name or password; remove it"),
])
def test_web_reader_config_errors_say_what_to_fix(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WebReader(**options)


def test_web_reader_and_api_reader_outputs_concatenate_in_a_pipeline(site: LocalServer, ws: Workspace,
                                                                      tmp_path: Path) -> None:
    site.routes["/a"] = page("A")
    site.routes["/missing-api"] = Reply(404, b"{}")
    site.routes["/api"] = Reply.json([{"id": "r1", "text": "a record"}])
    pipeline = Pipeline.from_dict({"name": "web", "steps": [
        {"id": "pages", "uses": "read.web", "with": {**FAST, "urls": [site.url("/a"), site.url("/missing")]}},
        {"id": "records", "uses": "read.api", "with": {"url": site.url("/api"), "text_field": "text"}},
        {"id": "both", "uses": "concat", "input": ["pages", "records"]}],
        "outputs": {"corpus": "both"}}, base_dir=tmp_path)

    done = pipeline.run(ws)

    assert done.step("pages").quarantined == {"http_error": 1}
    corpus = ws.open("corpus").to_arrow()
    assert sorted(corpus["text"].to_pylist()) == ["A\n\nA text", "a record"]


@given(st.text(max_size=200), st.sampled_from(["http://a.test/x/", "https://b.test"]))
def test_page_links_returns_only_absolute_web_urls(html: str, base: str) -> None:
    found = page_links(html + '<a href="/y#z">y</a>', base)

    assert all(link.startswith(("http://", "https://")) and "#" not in link for link in found.links)
    assert len(set(found.links)) == len(found.links)


@given(st.binary(max_size=300))
def test_sitemap_locations_parses_or_refuses_with_a_value_error(data: bytes) -> None:
    try:
        kind, locations = sitemap_locations(data)
    except ValueError as err:
        assert str(err)
    else:
        assert kind in ("urlset", "sitemapindex") and isinstance(locations, list)


def test_sitemap_locations_refuses_an_entity_bomb() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8))
            + b"]><urlset><url><loc>&i;</loc></url></urlset>")

    with pytest.raises(ValueError, match="not well-formed XML"):
        sitemap_locations(bomb)
