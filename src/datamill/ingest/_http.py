"""The HTTP client the web readers share: retries, backoff, rate limit, user agent, robots.txt.

``read.api`` and ``read.web`` fetch through `HttpClient`, which adds to httpx:

- retries with exponential backoff and jitter on connect errors, timeouts, 429 and 5xx
  (``Retry-After`` is honoured, up to ``max_backoff_s``);
- a per-host rate limit (``requests_per_second``), with a floor a robots.txt ``Crawl-delay``
  can raise;
- bodies streamed under a byte cap, and one deadline for the whole response;
- redirects followed by hand, so each hop is rate limited, checked (robots.txt) and a loop
  is named as such;
- secrets (every value read from the environment through ``${VAR}``) scrubbed from its
  errors and from httpx's own log lines.

`RobotsCache` reads each host's robots.txt once (RFC 9309, parsed by the stdlib's
``urllib.robotparser``). Private to ``datamill.ingest``.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx
from pydantic import Field, field_validator

from datamill.__about__ import __version__
from datamill.core.env import ENV_VAR, is_secret_name
from datamill.pipeline.step import StepConfig, StepContext

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchError",
    "Fetched",
    "HttpClient",
    "HttpOptions",
    "RateLimiter",
    "Redactor",
    "RobotsCache",
    "check_env_syntax",
    "describe_status",
    "normalize_url",
    "origin",
    "retry_after_seconds",
]

MiB = 1024 * 1024
DEFAULT_USER_AGENT = f"datamill/{__version__} (+https://pypi.org/project/datamill/)"
# RFC 9309 §2.5: crawlers must parse at least 500 KiB of a robots.txt; we parse exactly that.
ROBOTS_MAX_BYTES = 500 * 1024
# RFC 9309 §2.3.1.2: follow at least five redirects for robots.txt.
ROBOTS_MAX_REDIRECTS = 5
# An error response's body is kept only as a hint in the quarantine.
_ERROR_BODY_BYTES = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MASK = "***"
# httpx logs each request's URL at INFO; these loggers get a scrubbing filter while a client runs.
_HTTP_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2",
                 "httpcore.proxy")


def check_env_syntax(text: str, where: str) -> str:
    """``text`` if every ``${`` in it starts a well-formed ``${VAR}``; else a ValueError."""
    if "${" in ENV_VAR.sub("", text):
        raise ValueError(f"{where} has a `${{` that is not a `${{NAME}}` reference (letters, digits, "
                         "underscores); write `${TOKEN}`")
    return text


class Redactor:
    """Hides secrets in text and URLs shown to people (errors, logs, quarantine, ``source``).

    >>> r = Redactor({"s3cr3t"})
    >>> r.url("https://u:pw@api.test/x?api_key=abcd&page=2&q=s3cr3t")
    'https://***@api.test/x?api_key=***&page=2&q=***'
    >>> r.text("token s3cr3t refused")
    'token *** refused'
    """

    def __init__(self, secrets: set[str] | None = None) -> None:
        # Longest first: a secret that contains another is hidden whole.
        self.secrets = sorted(secrets or (), key=len, reverse=True)

    def text(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self.secrets:
            text = text.replace(secret, _MASK)
        return text

    def url(self, url: str | httpx.URL) -> str:
        """The URL without user info, secret-named query values and secret values."""
        raw = str(url)
        try:
            parts = urlsplit(raw)
        except ValueError:
            return self.text(raw)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = _MASK + "@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, _MASK if is_secret_name(k) else v) for k, v in pairs], safe="*/:,")
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


class _ScrubLogs(logging.Filter):
    """Rewrites httpx/httpcore log records without the secrets (they log request URLs)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor.secrets:
            record.msg = self.redactor.text(record.getMessage())
            record.args = None
        return True


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` of a URL: the unit of same-host checks, robots.txt and rate limits.

    >>> origin("HTTPS://Example.org:443/a?b"), origin("http://[::1]:8080/x")
    ('https://example.org', 'http://[::1]:8080')
    """
    parsed = httpx.URL(str(url))
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = parsed.port
    shown = f":{port}" if port is not None and port != _DEFAULT_PORTS.get(parsed.scheme) else ""
    return f"{parsed.scheme}://{host}{shown}"


def normalize_url(url: str | httpx.URL) -> str:
    """The URL without its fragment and default port, scheme and host in lower case.

    >>> normalize_url("HTTP://Example.org:80/a/../b?x=1#top")
    'http://example.org/b?x=1'
    """
    parsed = httpx.URL(str(url)).copy_with(fragment=None)
    if parsed.port is not None and parsed.port == _DEFAULT_PORTS.get(parsed.scheme):
        parsed = parsed.copy_with(port=None)
    return str(parsed)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date.

    >>> retry_after_seconds("3"), retry_after_seconds(" 1.5 "), retry_after_seconds("soon")
    (3.0, 1.5, None)
    >>> retry_after_seconds("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0)
    60.0
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer


class HttpOptions(StepConfig):
    """Options of every step that fetches over HTTP."""

    timeout_s: float = Field(30.0, gt=0, description="Most seconds for one request: connecting, "
                             "waiting and reading the whole body. A request that takes longer is retried.")
    max_retries: int = Field(3, ge=0, le=20, description="Retries after a connect error, a timeout, "
                             "HTTP 429 or 5xx (besides 501); the request then counts as failed.")
    backoff_s: float = Field(0.5, ge=0, description="Wait before the first retry; it doubles on each "
                             "retry, with random jitter (x0.5 to x1).")
    max_backoff_s: float = Field(60.0, ge=0, description="Longest wait between two tries. A "
                                 "`Retry-After` asking for longer ends the retries.")
    requests_per_second: float | None = Field(None, gt=0, description="Most requests per second to "
                                              "one host, retries and redirects included; None: no limit.")
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1, description="The `User-Agent` header; "
                            "robots.txt rules are matched against its first word.")
    max_bytes: int = Field(32 * MiB, ge=1, description="Responses larger than this are quarantined as "
                           "too_large; the body is streamed, so no more than this is held.")
    max_redirects: int = Field(10, ge=0, description="Most redirects followed for one request.")
    snapshot: str | None = Field(None, description="Any label (a date, a version) naming a fixed copy: "
                                 "with it, a re-run with an unchanged config reuses the last result (change "
                                 "it to fetch again); without it, every run fetches again.")

    @field_validator("user_agent")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("the user agent must be one line")
        return value


class FetchError(Exception):
    """A request that failed for good: ``reason`` is the quarantine code, the message is redacted."""

    def __init__(self, reason: str, message: str, *, url: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.url = url
        self.attempts = attempts


@dataclass
class Fetched:
    """A finished response: the final URL (after redirects), status, headers and body."""

    url: httpx.URL
    status: int
    reason_phrase: str
    headers: httpx.Headers
    body: bytes
    attempts: int
    links: dict[str, str] = field(default_factory=dict)
    redirects: int = 0
    truncated: bool = False
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @cached_property
    def sha256(self) -> str:
        """Hash of the (decoded) body."""
        return hashlib.sha256(self.body).hexdigest()

    @property
    def mime(self) -> str | None:
        """The media type of ``Content-Type``, lower case, without parameters."""
        value = self.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        return value or None

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of ``Content-Type``, if any."""
        match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", self.headers.get("content-type", ""),
                          re.IGNORECASE)
        return match.group(1).lower() if match else None


class RateLimiter:
    """Spaces requests to each host: at most ``per_second``, and no faster than its floor.

    >>> limiter = RateLimiter(None)
    >>> limiter.wait("http://a"), limiter.interval("http://a")
    (0.0, 0.0)
    >>> limiter.set_floor("http://a", 2.0); limiter.interval("http://a")
    2.0
    """

    def __init__(self, per_second: float | None) -> None:
        self._interval = 1.0 / per_second if per_second else 0.0
        self._floors: dict[str, float] = {}
        self._next: dict[str, float] = {}

    def set_floor(self, host: str, seconds: float) -> None:
        """Never send two requests to ``host`` closer than ``seconds`` apart (a crawl delay)."""
        self._floors[host] = max(0.0, seconds)

    def interval(self, host: str) -> float:
        """Seconds between two requests to ``host``."""
        return max(self._interval, self._floors.get(host, 0.0))

    def wait(self, host: str) -> float:
        """Sleep until a request to ``host`` is allowed; return the seconds slept."""
        now = time.monotonic()
        start = max(now, self._next.get(host, now))
        self._next[host] = start + self.interval(host)
        if start > now:
            time.sleep(start - now)
        return start - now


class _Deadline(Exception):
    """The whole response took longer than ``timeout_s``."""


class _TooLarge(Exception):
    """The body is larger than the cap."""


class HttpClient:
    """An httpx client with retries, backoff, a rate limit, a byte cap and secret scrubbing.

    Use it as a context manager; metrics go to ``ctx``: ``requests`` (tries), ``retries``,
    ``retry_wait_s``, ``rate_limit_wait_s`` and ``bytes_fetched``.
    """

    def __init__(self, options: HttpOptions, ctx: StepContext, redactor: Redactor | None = None) -> None:
        self.options = options
        self.ctx = ctx
        self.redactor = redactor or Redactor()
        self.limiter = RateLimiter(options.requests_per_second)
        # Jitter only spreads retries in time; it never changes what is read.
        self._random = random.Random()
        self._client = httpx.Client(
            timeout=httpx.Timeout(options.timeout_s),
            headers={"User-Agent": options.user_agent},
            follow_redirects=False,
        )
        self._filter = _ScrubLogs(self.redactor)

    def __enter__(self) -> HttpClient:
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)

    def fetch(
        self,
        url: str | httpx.URL,
        *,
        method: str = "GET",
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        max_bytes: int | None = None,
        truncate: bool = False,
        max_redirects: int | None = None,
        check_redirect: Callable[[httpx.URL], str | None] | None = None,
    ) -> Fetched:
        """Fetch ``url``, retrying and following redirects; return the final response.

        Any final status is returned (check ``ok``); failures without a usable response raise
        `FetchError` with reason ``http_error``, ``too_large``, ``redirect_loop``,
        ``too_many_redirects``, or what ``check_redirect`` returned for a hop it refuses.
        ``headers`` are only sent to the first URL's origin. Past ``max_bytes`` the body is cut
        when ``truncate`` is set, else the request fails as ``too_large``.
        """
        try:
            current = httpx.URL(str(url))
            if params:
                current = current.copy_merge_params(dict(params))
        except (httpx.InvalidURL, TypeError, ValueError) as err:
            raise FetchError("http_error", self.redactor.text(f"invalid URL: {err}"),
                             url=self.redactor.url(str(url))) from err
        home = origin(current)
        seen = {str(current)}
        limit = self.options.max_redirects if max_redirects is None else max_redirects
        attempts = 0
        hops = 0
        while True:
            sent = dict(headers or {}) if origin(current) == home else {}
            fetched = self._with_retries(method, current, sent, json_body,
                                         max_bytes or self.options.max_bytes, truncate)
            attempts += fetched.attempts
            location = fetched.headers.get("location")
            if fetched.status not in _REDIRECTS or not location:
                fetched.attempts, fetched.redirects = attempts, hops
                return fetched
            shown = self.redactor.url(current)
            try:
                target = current.join(location).copy_with(fragment=None)
            except (httpx.InvalidURL, ValueError) as err:
                raise FetchError("http_error", self.redactor.text(f"{shown} redirects to an invalid URL: {err}"),
                                 url=shown, attempts=attempts) from err
            if target.scheme not in ("http", "https"):
                raise FetchError("http_error", f"{shown} redirects to a {target.scheme!r} URL",
                                 url=shown, attempts=attempts)
            if str(target) in seen:
                raise FetchError("redirect_loop", f"{shown} redirects back to {self.redactor.url(target)}, "
                                 f"a URL already visited after {hops + 1} redirects", url=shown,
                                 attempts=attempts)
            if hops >= limit:
                raise FetchError("too_many_redirects", f"{shown} still redirects after {hops} redirects "
                                 f"(max_redirects={limit})", url=shown, attempts=attempts)
            if check_redirect is not None:
                refused = check_redirect(target)
                if refused is not None:
                    raise FetchError(refused, f"{shown} redirects to {self.redactor.url(target)}: {refused}",
                                     url=self.redactor.url(target), attempts=attempts)
            if fetched.status == 303 or (fetched.status in (301, 302) and method == "POST"):
                method, json_body = "GET", None
            seen.add(str(target))
            current = target
            hops += 1

    def _with_retries(self, method: str, url: httpx.URL, headers: dict[str, str], json_body: Any,
                      max_bytes: int, truncate: bool) -> Fetched:
        options = self.options
        shown = self.redactor.url(url)
        host = origin(url)
        for attempt in range(options.max_retries + 1):
            self.ctx.metric("rate_limit_wait_s", self.limiter.wait(host))
            self.ctx.metric("requests", 1)
            last = attempt == options.max_retries
            try:
                fetched = self._once(method, url, headers, json_body, max_bytes, truncate)
            except _TooLarge:
                raise FetchError("too_large", f"{shown} sent more than max_bytes={max_bytes:,} bytes",
                                 url=shown, attempts=attempt + 1) from None
            except (httpx.TimeoutException, _Deadline) as err:
                problem = f"timed out (timeout_s={options.timeout_s:g})"
                if last:
                    raise self._gave_up(shown, problem, attempt + 1) from err
                self._pause(attempt, None)
                continue
            except (httpx.NetworkError, httpx.RemoteProtocolError) as err:
                problem = f"{type(err).__name__}: {self.redactor.text(str(err)) or 'no detail'}"
                if last:
                    raise self._gave_up(shown, problem, attempt + 1) from err
                self._pause(attempt, None)
                continue
            except httpx.HTTPError as err:  # not worth retrying: a bad scheme, a malformed request
                raise FetchError("http_error", self.redactor.text(f"{shown}: {type(err).__name__}: {err}"),
                                 url=shown, attempts=attempt + 1) from err
            fetched.attempts = attempt + 1
            retryable = fetched.status == 429 or (500 <= fetched.status < 600 and fetched.status != 501)
            if not retryable or last:
                return fetched
            asked = retry_after_seconds(fetched.headers.get("retry-after"))
            if asked is not None and asked > options.max_backoff_s:
                fetched.note = (f"the server asked to retry after {asked:g} s (Retry-After), more than "
                                f"max_backoff_s={options.max_backoff_s:g}")
                return fetched
            self._pause(attempt, asked)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _gave_up(self, shown: str, problem: str, attempts: int) -> FetchError:
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        return FetchError("http_error", f"{shown}: {problem}, after {tries}", url=shown, attempts=attempts)

    def _pause(self, attempt: int, asked: float | None) -> None:
        options = self.options
        delay = min(options.max_backoff_s, options.backoff_s * 2**attempt) * self._random.uniform(0.5, 1.0)
        if asked is not None:
            delay = max(delay, asked)
        self.ctx.metric("retries", 1)
        self.ctx.metric("retry_wait_s", delay)
        time.sleep(delay)

    def _once(self, method: str, url: httpx.URL, headers: dict[str, str], json_body: Any,
              max_bytes: int, truncate: bool) -> Fetched:
        deadline = time.monotonic() + self.options.timeout_s
        with self._client.stream(method, url, headers=headers, json=json_body) as response:
            status = response.status_code
            retryable = status == 429 or 500 <= status < 600
            body = b""
            cut = False
            if status not in _REDIRECTS and not retryable:
                ok = 200 <= status < 300
                cap = max_bytes if ok else min(max_bytes, _ERROR_BODY_BYTES)
                body, cut = self._read(response, cap, deadline, fail=ok and not truncate)
            links = {str(rel): str(link["url"]) for rel, link in response.links.items() if link.get("url")}
            return Fetched(url=url, status=status, reason_phrase=response.reason_phrase,
                           headers=response.headers, body=body, attempts=1, links=links, truncated=cut)

    def _read(self, response: httpx.Response, cap: int, deadline: float, *, fail: bool) -> tuple[bytes, bool]:
        declared = response.headers.get("content-length", "")
        if fail and declared.isdigit() and int(declared) > cap:
            raise _TooLarge
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if time.monotonic() > deadline:
                raise _Deadline
            size += len(chunk)
            self.ctx.metric("bytes_fetched", len(chunk))
            if size > cap:
                if fail:
                    raise _TooLarge
                chunks.append(chunk[: len(chunk) - (size - cap)])
                return b"".join(chunks), True
            chunks.append(chunk)
        return b"".join(chunks), False


def describe_status(fetched: Fetched, redactor: Redactor) -> str:
    """An error message for a non-2xx response: status, URL without secrets, attempts."""
    tries = "1 attempt" if fetched.attempts == 1 else f"{fetched.attempts} attempts"
    message = f"HTTP {fetched.status} {fetched.reason_phrase} from {redactor.url(fetched.url)} after {tries}"
    return f"{message}; {fetched.note}" if fetched.note else message


class RobotsCache:
    """Each host's robots.txt, fetched once, and what it says about a URL.

    RFC 9309: a robots.txt that answers 4xx allows everything; one that cannot be fetched
    (5xx, network errors after the retries) disallows everything, so those URLs are dropped as
    ``robots_unavailable``. A ``Crawl-delay`` or ``Request-rate`` for our user agent becomes the
    host's floor in the rate limiter.
    """

    def __init__(self, client: HttpClient) -> None:
        self.client = client
        self._parsers: dict[str, RobotFileParser | None] = {}

    def verdict(self, url: str | httpx.URL) -> str | None:
        """None when ``url`` may be fetched, else ``robots_disallowed`` or ``robots_unavailable``."""
        host = origin(url)
        if host not in self._parsers:
            self._parsers[host] = self._load(host)
        parser = self._parsers[host]
        if parser is None:
            return "robots_unavailable"
        return None if parser.can_fetch(self.client.options.user_agent, str(url)) else "robots_disallowed"

    def _load(self, host: str) -> RobotFileParser | None:
        self.client.ctx.metric("robots_fetched", 1)
        parser = RobotFileParser(f"{host}/robots.txt")
        try:
            fetched = self.client.fetch(f"{host}/robots.txt", max_bytes=ROBOTS_MAX_BYTES, truncate=True,
                                        max_redirects=ROBOTS_MAX_REDIRECTS)
        except FetchError:
            return None
        if 400 <= fetched.status < 500:
            parser.parse([])  # no rules: everything is allowed
            return parser
        if not fetched.ok:
            return None
        parser.parse(fetched.body.decode("utf-8", "replace").splitlines())
        agent = self.client.options.user_agent
        delay = parser.crawl_delay(agent)
        rate = parser.request_rate(agent)
        floor = float(delay) if delay is not None else 0.0
        if rate is not None and rate.requests > 0:
            floor = max(floor, rate.seconds / rate.requests)
        if floor:
            self.client.limiter.set_floor(host, floor)
        return parser
