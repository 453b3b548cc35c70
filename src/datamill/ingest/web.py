"""``read.web``: fetch web pages (a list, a sitemap, or a crawl), obeying robots.txt.

Each page becomes one record in the document schema (``datamill.ingest._documents``): ``id``
is ``document_id(final URL)``, ``source`` the final URL (after redirects), ``page`` null,
``mime`` ``text/html`` or ``text/plain``, ``sha256`` the hash of the body, and ``meta`` holds
what ``read.html`` reports (title, author, date, language, sitename, encoding, bytes, mode)
plus ``url``, ``status``, ``content_type``, ``depth``, ``fetched_at`` and, after a redirect,
``requested_url``. HTML goes through ``read.html``'s extraction (``mode: main`` or ``text``);
plain text is decoded and passed through.

Seeds are ``urls``, ``start_url`` and the pages listed by ``sitemap`` (a sitemap index is
followed one level down). With ``follow_links``, links of each page are followed breadth first
up to ``max_depth`` (seeds are depth 0), on the seeds' origins only when ``same_host``. At most
``max_pages`` pages are fetched (metric ``not_fetched_max_pages`` counts the rest).

robots.txt (``respect_robots``, the default) is fetched once per origin: a URL it disallows is
dropped as ``robots_disallowed``, checked again at every redirect hop; a host whose robots.txt
cannot be fetched (5xx, network) is off limits (RFC 9309): ``robots_unavailable``. Its
``Crawl-delay`` raises the host's request interval. ``<meta name="robots">`` and
``X-Robots-Tag``: ``noindex`` drops the page (``robots_noindex``), ``nofollow`` (and
``rel="nofollow"`` links) are not followed. The stdlib parser matches path prefixes only
(no ``*`` or ``$`` patterns).

Quarantined (one row per page, the URL in ``source``): ``http_error`` (a 4xx, or a 5xx, timeout
or connection error after the retries), ``too_large`` (over ``max_bytes``, read as a stream),
``redirect_loop``, ``too_many_redirects``, ``unsupported_type`` (PDF, images...),
``binary_file`` (bytes that decode as no text), ``bad_sitemap``. Dropped: ``robots_*`` above,
``duplicate_url`` (a redirect to a page already read), ``empty_page``.

All pages are read in one partition: politeness (one request at a time per host, the crawl
delay) and de-duplication need one place that sees every request.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
import zlib
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, Literal, NamedTuple
from urllib.parse import urljoin

import httpx
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from datamill.core.columns import ID, SOURCE
from datamill.ingest._documents import document_batch, document_id
from datamill.ingest._http import (
    Fetched,
    FetchError,
    HttpClient,
    HttpOptions,
    RobotsCache,
    describe_status,
    normalize_url,
    origin,
)
from datamill.ingest.html import declared_charset, extract_html
from datamill.ingest.text import decode_bytes
from datamill.pipeline.registry import register
from datamill.pipeline.step import Source, StepContext

__all__ = ["PageLinks", "WebReader", "WebReaderConfig", "page_links", "sitemap_locations"]

MiB = 1024 * 1024
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain"})
# Rows per batch: pages are large, a few hundred make a reasonable row group.
_BATCH_ROWS = 256
# Sitemaps fetched at most (an index and the sitemaps it lists).
_MAX_SITEMAPS = 50
_ROBOTS_REASONS = frozenset({"robots_disallowed", "robots_unavailable"})


class PageLinks(NamedTuple):
    """The links of a page and what its ``<meta name="robots">`` says."""

    links: list[str]
    noindex: bool
    nofollow: bool


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None
        self.robots: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag in ("a", "area") and values.get("href"):
            if "nofollow" not in values.get("rel", "").lower().split():
                self.hrefs.append(values["href"])
        elif tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "meta" and values.get("name", "").lower() in ("robots", "datamill"):
            self.robots.append(values.get("content", "").lower())


def page_links(html: str, url: str) -> PageLinks:
    """The absolute http(s) links of a page (no fragments, each once), and its robots meta.

    Relative links resolve against ``<base href>`` when the page has one, else ``url``.

    >>> found = page_links('<a href="b#x">B</a><a href="mailto:x@y">m</a><a href="/c" rel="nofollow">c</a>',
    ...                    "http://site.test/a/")
    >>> found.links, found.noindex
    (['http://site.test/a/b'], False)
    """
    parser = _LinkParser()
    parser.feed(html)
    parser.close()
    base = url
    if parser.base:
        try:
            base = urljoin(url, parser.base.strip())
        except ValueError:
            base = url
    links: dict[str, None] = {}
    for href in parser.hrefs:
        try:
            absolute = normalize_url(urljoin(base, href.strip()))
        except (httpx.InvalidURL, ValueError, TypeError):
            continue
        if absolute.startswith(("http://", "https://")):
            links[absolute] = None
    words = {w.strip() for content in parser.robots for w in content.split(",")}
    return PageLinks(list(links), bool(words & {"noindex", "none"}), bool(words & {"nofollow", "none"}))


def sitemap_locations(xml: bytes) -> tuple[Literal["urlset", "sitemapindex"], list[str]]:
    """The ``<loc>`` URLs of a sitemap (``urlset``) or a sitemap index; ``ValueError`` if neither.

    The stdlib parser (expat 2.4+) refuses entity-expansion bombs and never fetches external
    entities.

    >>> sitemap_locations(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    ...                   b'<url><loc> http://a.test/x </loc></url></urlset>')
    ('urlset', ['http://a.test/x'])
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise ValueError(f"not well-formed XML: {err}") from err
    kind = root.tag.rsplit("}", 1)[-1]
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"the root element is <{kind}>, not <urlset> or <sitemapindex>")
    locs = [(el.text or "").strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "loc"]
    return ("urlset" if kind == "urlset" else "sitemapindex"), [loc for loc in locs if loc]


def _http_url(value: str, where: str) -> str:
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError(f"{where} {value!r} must start with http:// or https://")
    try:
        normalized = normalize_url(value)
        userinfo = httpx.URL(normalized).userinfo
    except (httpx.InvalidURL, ValueError) as err:
        raise ValueError(f"{where} {value!r} is not a valid URL: {err}") from err
    if userinfo:
        # The URL becomes `source` and `meta.url`: a password in it would be stored with the data.
        raise ValueError(f"{where} {value.split('@', 1)[-1]!r} holds a user name or password; remove it")
    return normalized


class WebReaderConfig(HttpOptions):
    """Options of ``read.web``."""

    urls: list[str] = Field(default_factory=list, description="Pages to fetch (http or https).")
    start_url: str | None = Field(None, description="A page to start from, typically with "
                                  "`follow_links: true`.")
    sitemap: str | None = Field(None, description="A sitemap (or sitemap index) URL whose pages are fetched.")
    follow_links: bool = Field(False, description="Follow the links of each page, breadth first.")
    same_host: bool = Field(True, description="Follow links, and take sitemap entries, only on the "
                            "origins (scheme, host, port) of the seeds.")
    max_depth: int = Field(2, ge=0, description="Most link hops from a seed (seeds are depth 0).")
    max_pages: int = Field(1000, ge=1, description="Most pages fetched in all, seeds included.")
    respect_robots: bool = Field(True, description="Obey robots.txt, its Crawl-delay, and robots "
                                 "meta tags. Turn off only for sites you own.")
    mode: Literal["main", "text"] = Field("main", description="HTML: `main` keeps the main content "
                                          "(trafilatura), `text` all visible text (as read.html).")
    main_max_bytes: int = Field(1 * MiB, ge=0, description="In `main` mode, pages larger than this are "
                                "read in `text` mode (trafilatura is slow on huge pages).")
    max_bytes: int = Field(16 * MiB, ge=1, description="Pages larger than this are quarantined as "
                           "too_large; the body is streamed, so no more than this is held.")
    requests_per_second: float | None = Field(1.0, gt=0, description="Most requests per second to one "
                                              "host (robots.txt's Crawl-delay can slow it further).")

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_http_url(url, "URL") for url in value))

    @field_validator("start_url", "sitemap")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "URL")

    @model_validator(mode="after")
    def _something_to_fetch(self) -> WebReaderConfig:
        if not self.urls and self.start_url is None and self.sitemap is None:
            raise ValueError("nothing to fetch: give `urls`, `start_url` or `sitemap`")
        return self


@register("read.web")
class WebReader(Source[WebReaderConfig]):
    """Fetch web pages, one document record per page, obeying robots.txt.

    >>> WebReader(start_url="https://example.org/", follow_links=True).config.respect_robots
    True
    """

    version = 1

    def is_live(self) -> bool:
        """Read on every run: a web server has no file to hash (``snapshot`` names a fixed copy)."""
        return not self.config.snapshot

    def partitions(self) -> list[dict[str, Any]]:
        """One partition: the whole crawl, so politeness and de-duplication see every request."""
        config = self.config
        seeds = [*config.urls, *([config.start_url] if config.start_url else [])]
        return [{"seeds": len(seeds), "sitemap": config.sitemap}]

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Fetch the seeds (and what they link to); yield a record per page."""
        config = self.config
        seeds = list(dict.fromkeys([*config.urls, *([config.start_url] if config.start_url else [])]))
        hosts = {origin(u) for u in [*seeds, *([config.sitemap] if config.sitemap else [])]}
        frontier: deque[tuple[str, int]] = deque()
        queued: set[str] = set()
        # Links beyond this many waiting URLs could never be fetched: memory stays bounded.
        room = 10 * config.max_pages

        def enqueue(url: str, depth: int) -> None:
            if url in queued:
                return
            if config.same_host and depth and origin(url) not in hosts:
                ctx.metric("links_off_host", 1)
                return
            if len(frontier) >= room:
                ctx.metric("links_not_followed", 1)
                return
            queued.add(url)
            frontier.append((url, depth))

        rows: list[dict[str, Any]] = []
        yielded = False
        with HttpClient(config, ctx) as client:
            robots = RobotsCache(client) if config.respect_robots else None
            for url in seeds:
                enqueue(url, 0)
            if config.sitemap:
                for url in self._sitemap(config.sitemap, client, robots, hosts, ctx):
                    enqueue(url, 0)
            read: set[str] = set()
            fetched_pages = 0
            while frontier:
                url, depth = frontier.popleft()
                if fetched_pages >= config.max_pages:
                    ctx.metric("not_fetched_max_pages", len(frontier) + 1)
                    break
                if url in read:
                    ctx.drop(1, reason="duplicate_url")
                    continue
                verdict = robots.verdict(url) if robots is not None else None
                if verdict is not None:
                    ctx.drop(1, reason=verdict)
                    continue
                fetched_pages += 1
                row, links = self._page(url, depth, client, robots, read, ctx)
                if row is not None:
                    rows.append(row)
                if config.follow_links and depth < config.max_depth:
                    for link in links:
                        enqueue(link, depth + 1)
                if len(rows) >= _BATCH_ROWS:
                    yield document_batch(rows)
                    yielded = True
                    rows = []
        if rows or not yielded:
            yield document_batch(rows)

    def _page(self, url: str, depth: int, client: HttpClient, robots: RobotsCache | None,
              read: set[str], ctx: StepContext) -> tuple[dict[str, Any] | None, list[str]]:
        """Fetch one page: its record (None when dropped or quarantined) and its links."""
        config = self.config
        where = {ID: document_id(url), SOURCE: url, "depth": depth}
        try:
            fetched = client.fetch(url, check_redirect=robots.verdict if robots is not None else None)
        except FetchError as err:
            if err.reason in _ROBOTS_REASONS:
                ctx.drop(1, reason=err.reason)
            else:
                ctx.quarantine([{**where, "attempts": err.attempts}], reason=err.reason, error=str(err))
            return None, []
        final = normalize_url(fetched.url)
        read.add(url)
        if final != url:
            if final in read:
                ctx.drop(1, reason="duplicate_url")
                return None, []
            read.add(final)
            where = {**where, ID: document_id(final), SOURCE: final, "requested_url": url}
        if not fetched.ok:
            ctx.quarantine([{**where, "status": fetched.status}], reason="http_error",
                           error=describe_status(fetched, client.redactor))
            return None, []
        if not fetched.body:
            ctx.drop(1, reason="empty_page")
            return None, []
        mime = fetched.mime or _sniff(fetched.body)
        meta: dict[str, Any] = {"url": final, "status": fetched.status, "content_type": mime, "depth": depth,
                                "fetched_at": datetime.now(UTC).isoformat(timespec="seconds")}
        if final != url:
            meta["requested_url"] = url
        links: list[str] = []
        if mime in _HTML_TYPES:
            # The HTTP charset first, then the page's own <meta charset>.
            decoded = decode_bytes(fetched.body, None, declared=fetched.charset or declared_charset(fetched.body))
            if decoded is None:
                self._binary(ctx, where, fetched, mime)
                return None, []
            html, encoding = decoded
            text, found = extract_html(html, url=final, mode=config.mode, main_max_bytes=config.main_max_bytes,
                                        size=len(fetched.body), ctx=ctx)
            canonical = found.pop("url", None)
            if canonical and canonical != final:
                found["canonical_url"] = canonical
            meta = {**found, "encoding": encoding, **meta}
            parsed = page_links(html, final)
            tag = set(re.split(r"[\s,:]+", fetched.headers.get("x-robots-tag", "").lower()))
            noindex = parsed.noindex or bool(tag & {"noindex", "none"})
            nofollow = parsed.nofollow or bool(tag & {"nofollow", "none"})
            links = [] if config.respect_robots and nofollow else parsed.links
            if config.respect_robots and noindex:
                ctx.drop(1, reason="robots_noindex")
                return None, links
        elif mime in _TEXT_TYPES:
            decoded = decode_bytes(fetched.body, None, declared=fetched.charset)
            if decoded is None:
                self._binary(ctx, where, fetched, mime)
                return None, []
            text, encoding = decoded
            meta |= {"encoding": encoding, "bytes": len(fetched.body), "title": None}
        else:
            ctx.quarantine([{**where, "content_type": mime}], reason="unsupported_type",
                           error=f"{final} is {mime or 'of no stated type'}; read.web keeps HTML and plain "
                           "text. Download such files and read them with their reader (read.pdf...)")
            return None, []
        return {"id": document_id(final), "text": text, "source": final, "page": None,
                "mime": "text/html" if mime in _HTML_TYPES else "text/plain",
                "sha256": hashlib.sha256(fetched.body).hexdigest(), "meta": meta}, links

    @staticmethod
    def _binary(ctx: StepContext, where: dict[str, Any], fetched: Fetched, mime: str | None) -> None:
        ctx.quarantine([{**where, "bytes": len(fetched.body), "head": fetched.body[:32].hex()}],
                       reason="binary_file",
                       error=f"{where[SOURCE]} is labelled {mime} but its bytes decode as no text")

    def _sitemap(self, url: str, client: HttpClient, robots: RobotsCache | None, hosts: set[str],
                 ctx: StepContext) -> list[str]:
        """The page URLs a sitemap (or an index, one level down) lists; a bad sitemap is quarantined."""
        config = self.config
        todo = deque([(url, 0)])
        pages: list[str] = []
        done = 0
        while todo and done < _MAX_SITEMAPS:
            current, level = todo.popleft()
            where = {ID: document_id(current), SOURCE: current}
            verdict = robots.verdict(current) if robots is not None else None
            if verdict is not None:
                ctx.drop(1, reason=verdict)
                continue
            done += 1
            try:
                fetched = client.fetch(current, check_redirect=robots.verdict if robots is not None else None)
            except FetchError as err:
                if err.reason in _ROBOTS_REASONS:
                    ctx.drop(1, reason=err.reason)
                else:
                    ctx.quarantine([where], reason=err.reason, error=str(err))
                continue
            if not fetched.ok:
                ctx.quarantine([where], reason="http_error", error=describe_status(fetched, client.redactor))
                continue
            try:
                body = _gunzip(fetched.body, config.max_bytes)
                kind, locations = sitemap_locations(body)
            except ValueError as err:
                ctx.quarantine([where], reason="bad_sitemap", error=f"{current}: {err}")
                continue
            ctx.metric("sitemaps", 1)
            for location in locations:
                try:
                    found = _http_url(location, "sitemap entry")
                except ValueError:
                    ctx.metric("sitemap_bad_entries", 1)
                    continue
                if config.same_host and origin(found) not in hosts:
                    ctx.metric("links_off_host", 1)
                elif kind == "urlset":
                    pages.append(found)
                elif level == 0:
                    todo.append((found, 1))
                else:
                    ctx.metric("sitemap_too_deep", 1)
        if todo:
            ctx.metric("sitemaps_not_fetched", len(todo))
        return pages


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    """A gzip-compressed sitemap inflated (at most ``max_bytes``); other bytes as they are."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflate.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise ValueError(f"broken gzip data: {err}") from err
    if len(data) > max_bytes:
        raise ValueError(f"it inflates past max_bytes={max_bytes:,}")
    return data


def _sniff(body: bytes) -> str | None:
    """A page served without a Content-Type: HTML when it starts like HTML."""
    head = body[:1024].lstrip().lower()
    return "text/html" if head.startswith((b"<!doctype html", b"<html")) else None
