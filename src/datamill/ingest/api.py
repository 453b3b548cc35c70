"""``read.api``: records from a paged HTTP JSON API, one document record per API record.

Each page is fetched through the shared client (retries with backoff and jitter on connect
errors, timeouts, 429 and 5xx, ``Retry-After``, a rate limit, a byte cap); the list at
``records`` (a dotted path such as ``data.items``) becomes rows in the document schema
(``datamill.ingest._documents``), so API records concatenate with documents:

| column | value |
| --- | --- |
| ``id`` | the record's ``id_field`` when it is a string or integer, else ``document_id(page URL, "page=<n>:<i>")`` |
| ``text`` | ``text_field``, or ``text_template`` filled from the record, or the record as JSON (a string as it is) |
| ``source`` | the page's URL, secrets hidden (``***``) |
| ``page`` | the page number, from 1 |
| ``mime`` | ``application/json`` |
| ``sha256`` | hash of the page's response body |
| ``meta`` | the record, as a JSON object (a record that is not an object is ``{"value": ...}``) |

Paging (``paging.kind``): ``none``; ``next_link`` (a URL in the body at ``next_field``, else
the ``Link: <...>; rel="next"`` header); ``offset`` (``offset``/``limit`` parameters, ends on
a short page); ``page`` (a page-number parameter, ends on an empty or short page); ``cursor``
(a body field sent back as a parameter, ends when it is missing or empty).

When a page fails for good, paging stops for every kind: the page is quarantined with its
reason (``http_error``, ``too_large``, ``not_json``, ``missing_records``, ``redirect_loop``,
``too_many_redirects``, ``bad_next_link``, ``paging_loop``) and the records already read are
kept. Going on past a hole would, for offset and page kinds, keep hammering a failing server
and, for the others, is impossible (the next page's address is in the failed one).

Secrets: ``url``, ``params``, ``headers`` and ``body`` may hold ``${VAR}``, read from the
environment when the step runs. The config (the cache key, the run record) keeps ``${VAR}``;
every value read that way is shown as ``***`` in ``source``, errors, the quarantine and httpx's
log lines. A literal value for a credential-like header or parameter (``Authorization``,
``api_key``, ``token``...) is a config error.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from itertools import count
from typing import Annotated, Any, Literal

import httpx
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from datamill.core.columns import ID, PAGE, SOURCE
from datamill.core.env import env_names, expand_env, is_secret_name
from datamill.core.errors import ConfigError
from datamill.ingest._documents import document_batch, document_id
from datamill.ingest._http import (
    Fetched,
    FetchError,
    HttpClient,
    HttpOptions,
    Redactor,
    check_env_syntax,
    describe_status,
    origin,
)
from datamill.pipeline.registry import register
from datamill.pipeline.step import Source, StepConfig, StepContext

__all__ = [
    "ApiReader",
    "ApiReaderConfig",
    "CursorPaging",
    "NextLinkPaging",
    "NoPaging",
    "OffsetPaging",
    "PagePaging",
    "literal_secrets",
    "render_template",
    "value_at",
]

MIME = "application/json"
# Rows gathered before a batch is yielded: pages are often small, shards should not be.
_BATCH_ROWS = 4096
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_PARAM_NAME = r"^[^\s=&#]+$"


def value_at(data: Any, path: str | None) -> Any:
    """The value at a dotted ``path`` (``data.items``; a number indexes a list); ``KeyError`` if absent.

    An empty path is ``data`` itself.

    >>> value_at({"data": {"items": [1, 2]}}, "data.items")
    [1, 2]
    >>> value_at({"rows": [{"a": 5}]}, "rows.0.a")
    5
    >>> value_at({"a": 1}, "b")
    Traceback (most recent call last):
    ...
    KeyError: 'b'
    """
    if not path:
        return data
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            raise KeyError(part)
    return current


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render_template(template: str, record: Any) -> str:
    """Fill ``{dotted.path}`` placeholders from ``record``; ``{{`` and ``}}`` are literal braces.

    Strings go in as they are, other values as JSON; a missing field is a ``KeyError``.
    Only field lookups are done: no attribute access, no formatting code.

    >>> render_template("{title}\\n\\n{body.text} {{ok}}", {"title": "T", "body": {"text": "B"}})
    'T\\n\\nB {ok}'
    """

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return _as_text(value_at(record, match.group(1).strip()))

    return _PLACEHOLDER.sub(fill, template)


class NoPaging(StepConfig):
    """One request."""

    kind: Literal["none"] = Field("none", description="No paging: one request.")


class NextLinkPaging(StepConfig):
    """Follow the next page's URL until there is none."""

    kind: Literal["next_link"] = Field(description="Follow a next-page URL.")
    next_field: str | None = Field(
        None, description="Dotted path of the next page's URL in the body (e.g. `links.next`); "
        "default: the `Link: <...>; rel=\"next\"` header."
    )


class OffsetPaging(StepConfig):
    """``offset``/``limit`` parameters; a page shorter than ``page_size`` is the last."""

    kind: Literal["offset"] = Field(description="Offset and limit parameters.")
    offset_param: str = Field("offset", pattern=_PARAM_NAME, description="Parameter holding the offset.")
    limit_param: str = Field("limit", pattern=_PARAM_NAME, description="Parameter holding the page size.")
    page_size: int = Field(100, ge=1, description="Records asked per page. Not above the server's "
                           "maximum: a shorter page ends the paging.")
    start: int = Field(0, ge=0, description="Offset of the first page.")


class PagePaging(StepConfig):
    """A page-number parameter; an empty page (or one shorter than ``page_size``) is the last."""

    kind: Literal["page"] = Field(description="A page-number parameter.")
    page_param: str = Field("page", pattern=_PARAM_NAME, description="Parameter holding the page number.")
    start: int = Field(1, ge=0, description="Number of the first page.")
    size_param: str | None = Field(None, pattern=_PARAM_NAME,
                                   description="Parameter holding the page size, if the API takes one.")
    page_size: int | None = Field(None, ge=1, description="Records per page; a shorter page ends the "
                                  "paging. Default: only an empty page ends it.")

    @model_validator(mode="after")
    def _size_needs_param(self) -> PagePaging:
        if self.size_param is not None and self.page_size is None:
            raise ValueError("`size_param` needs `page_size`, the value to send")
        return self


class CursorPaging(StepConfig):
    """A cursor from each response sent back as a parameter, until it is missing or empty."""

    kind: Literal["cursor"] = Field(description="A cursor taken from the response.")
    cursor_field: str = Field(min_length=1, description="Dotted path of the next cursor in the body "
                              "(e.g. `meta.next_cursor`).")
    cursor_param: str = Field("cursor", pattern=_PARAM_NAME, description="Parameter that sends it back.")


Paging = Annotated[NoPaging | NextLinkPaging | OffsetPaging | PagePaging | CursorPaging,
                   Field(discriminator="kind")]


def _literal_secret(where: str, name: str) -> str:
    return (f"{where} `{name}` holds a literal credential, and the config is stored in run records. Put it "
            "in an environment variable and write `${VAR}` instead (e.g. `Bearer ${API_TOKEN}`)")


def literal_secrets(values: Mapping[str, Any]) -> list[str]:
    """Problems with credentials written into a ``read.api`` config rather than read from ``${VAR}``.

    >>> literal_secrets({"headers": {"Authorization": "Bearer ${TOKEN}"}, "params": {"page": 1}})
    []
    >>> len(literal_secrets({"params": {"api_key": "abc123"}}))
    1
    """
    found = []
    pairs: list[tuple[str, str, Any]] = []
    for where, key in (("header", "headers"), ("parameter", "params")):
        group = values.get(key)
        if isinstance(group, Mapping):
            pairs += [(where, str(name), item) for name, item in group.items()]
    url = values.get("url")
    if isinstance(url, str):
        with contextlib.suppress(httpx.InvalidURL, TypeError, ValueError):
            pairs += [("the url's query parameter", name, item) for name, item in httpx.URL(url).params.multi_items()]
    for where, name, item in pairs:
        if isinstance(item, str) and item and is_secret_name(name) and not env_names(item):
            found.append(_literal_secret(where, name))
    return found


class ApiReaderConfig(HttpOptions):
    """Options of ``read.api``."""

    url: str = Field(min_length=1, description="The first page's URL (http or https); may hold `${VAR}`.")
    method: Literal["GET", "POST"] = Field("GET", description="HTTP method of every page request.")
    params: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Query parameters of every request; values may hold `${VAR}`."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="Request headers; values may hold `${VAR}` "
        "(`Authorization: Bearer ${TOKEN}`). Sent only to the first URL's origin."
    )
    body: dict[str, Any] | None = Field(None, description="JSON body of each POST request; strings may "
                                        "hold `${VAR}`.")
    records: str | None = Field(None, description="Dotted path of the list of records in the body "
                                "(e.g. `data.items`); default: the body is the list.")
    paging: Paging = Field(default_factory=NoPaging, description="How to get the next page: `kind` "
                           "none, next_link, offset, page or cursor, with its options.")
    id_field: str | None = Field("id", description="Dotted path of a record's id; a record without one "
                                 "gets a hash of its page URL, page number and position.")
    text_field: str | None = Field(None, description="Dotted path of the record's text.")
    text_template: str | None = Field(None, description="Text made from fields: `{title}\\n\\n{body}`. "
                                      "Default (with no `text_field`): the record as JSON.")
    max_pages: int | None = Field(None, ge=1, description="Most pages to fetch; None: until the last.")
    max_records: int | None = Field(None, ge=1, description="Most records to read; the rest of the last "
                                    "page is dropped as over_max_records.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        check_env_syntax(value, "`url`")
        if not value.lower().startswith(("http://", "https://", "${")):
            raise ValueError("`url` must start with http:// or https://")
        try:
            httpx.URL(value)
        except (httpx.InvalidURL, ValueError) as err:
            raise ValueError(f"`url` is not a valid URL: {err}") from err
        for problem in literal_secrets({"url": value}):
            raise ValueError(problem)
        return value

    @field_validator("params")
    @classmethod
    def _no_literal_secret_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if isinstance(item, str):
                check_env_syntax(item, f"parameter `{name}`")
        for problem in literal_secrets({"params": value}):
            raise ValueError(problem)
        return value

    @field_validator("headers")
    @classmethod
    def _no_literal_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\n" in item or "\r" in item:
                raise ValueError(f"header `{name}` must be one line")
            check_env_syntax(item, f"header `{name}`")
        for problem in literal_secrets({"headers": value}):
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ApiReaderConfig:
        if self.body is not None and self.method != "POST":
            raise ValueError("`body` is sent with POST only; set `method: POST` or move it to `params`")
        if self.text_field is not None and self.text_template is not None:
            raise ValueError("set `text_field` or `text_template`, not both")
        return self


def _expand_json(value: Any, where: str, secrets: set[str]) -> Any:
    if isinstance(value, str):
        return expand_env(value, where=where, secrets=secrets)
    if isinstance(value, list):
        return [_expand_json(v, where, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _expand_json(v, f"{where}.{k}", secrets) for k, v in value.items()}
    return value


@dataclass
class _Request:
    """The config with ``${VAR}`` filled in, and the values that must never be shown."""

    url: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: Any
    secrets: set[str] = field(default_factory=set)


class _Stop(Exception):
    """Paging cannot go on: ``reason`` is the quarantine code of the page."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class _Cursor:
    """Where paging stands between two requests."""

    url: str | httpx.URL
    params: dict[str, Any]
    position: int = 0
    seen: set[str] = field(default_factory=set)


def _shown(cursor: _Cursor, redactor: Redactor) -> str:
    """The URL about to be fetched, as it may be shown."""
    try:
        return redactor.url(httpx.URL(str(cursor.url)).copy_merge_params(cursor.params))
    except (httpx.InvalidURL, TypeError, ValueError):
        return redactor.text(str(cursor.url))


@register("read.api")
class ApiReader(Source[ApiReaderConfig]):
    """Read the records of a paged JSON API, one document record per API record.

    >>> ApiReader(url="https://api.example.org/items", records="data").config.paging.kind
    'none'
    """

    version = 1

    def is_live(self) -> bool:
        """Read on every run: a web server has no file to hash (``snapshot`` names a fixed copy)."""
        return not self.config.snapshot

    def __init__(self, config: ApiReaderConfig | Mapping[str, Any] | None = None, /, **options: Any) -> None:
        if not isinstance(config, StepConfig):
            # Checked before pydantic, whose errors repeat the value they refused: the secret.
            problems = literal_secrets({**(dict(config) if config else {}), **options})
            if problems:
                raise ConfigError("\n".join(f"step {self.label!r}: {p}." for p in problems))
        super().__init__(config, **options)

    def partitions(self) -> list[dict[str, Any]]:
        """One partition: pages are read in order. Missing environment variables fail here."""
        self._request()
        return [{"url": self.config.url}]

    def _request(self) -> _Request:
        config = self.config
        secrets: set[str] = set()
        url = expand_env(config.url, where=f"step {self.label!r}: `url`", secrets=secrets)
        params = {name: expand_env(v, where=f"step {self.label!r}: parameter `{name}`", secrets=secrets)
                  if isinstance(v, str) else v for name, v in config.params.items()}
        headers = {name: expand_env(v, where=f"step {self.label!r}: header `{name}`", secrets=secrets)
                   for name, v in config.headers.items()}
        body = _expand_json(config.body, f"step {self.label!r}: `body`", secrets)
        return _Request(url, params, headers, body, secrets)

    def read(self, partition: dict[str, Any], ctx: StepContext) -> Iterator[pa.RecordBatch]:
        """Fetch page after page; yield their records, quarantine a page that fails."""
        config = self.config
        request = self._request()
        redactor = Redactor(request.secrets)
        paging = config.paging
        first: dict[str, Any] = {}
        if isinstance(paging, OffsetPaging):
            first = {paging.offset_param: paging.start, paging.limit_param: paging.page_size}
        elif isinstance(paging, PagePaging):
            first = {paging.page_param: paging.start}
            if paging.size_param is not None:
                first[paging.size_param] = paging.page_size
        position = paging.start if isinstance(paging, OffsetPaging | PagePaging) else 0
        cursor = _Cursor(request.url, {**request.params, **first}, position)
        home = origin(request.url) if request.url.lower().startswith(("http://", "https://")) else ""
        rows: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        emitted = 0
        yielded = False
        previous_sha: str | None = None
        with HttpClient(config, ctx, redactor) as client:
            for number in count(1):
                if config.max_pages is not None and number > config.max_pages:
                    ctx.metric("max_pages_reached", 1)
                    break
                where = {ID: None, SOURCE: _shown(cursor, redactor), PAGE: number}
                try:
                    fetched = client.fetch(cursor.url, method=config.method, params=cursor.params,
                                           headers=request.headers, json_body=request.body)
                    page_url = redactor.url(fetched.url)
                    where[SOURCE] = page_url
                    data, records = self._records(fetched, redactor)
                    if records and fetched.sha256 == previous_sha:
                        raise _Stop("paging_loop", f"page {number} ({page_url}) has the same body as page "
                                    f"{number - 1}: the server ignores the paging parameters")
                except FetchError as err:
                    self._quarantine_page(ctx, where, err.reason, str(err), err.attempts)
                    break
                except _Stop as err:
                    self._quarantine_page(ctx, where, err.reason, str(err), None)
                    break
                previous_sha = fetched.sha256
                ctx.metric("pages", 1)
                stop = False
                for index, record in enumerate(records):
                    if config.max_records is not None and emitted >= config.max_records:
                        ctx.drop(len(records) - index, reason="over_max_records")
                        stop = True
                        break
                    row = self._row(record, index, number, page_url, fetched.sha256, ctx)
                    if row is None:
                        continue
                    if row[ID] in seen_ids:
                        ctx.drop(1, reason="duplicate_id")
                        continue
                    seen_ids.add(row[ID])
                    rows.append(row)
                    emitted += 1
                if len(rows) >= _BATCH_ROWS:
                    yield document_batch(rows)
                    yielded = True
                    rows = []
                if stop or (config.max_records is not None and emitted >= config.max_records):
                    break
                try:
                    if not self._advance(cursor, fetched, data, len(records), request, home):
                        break
                except _Stop as err:
                    self._quarantine_page(ctx, {**where, PAGE: number + 1}, err.reason, str(err), None)
                    break
        if rows or not yielded:
            # An empty batch still carries the document schema, so an API that is down gives
            # an empty dataset that concatenates with documents.
            yield document_batch(rows)

    def _records(self, fetched: Fetched, redactor: Redactor) -> tuple[Any, list[Any]]:
        page_url = redactor.url(fetched.url)
        if not fetched.ok:
            raise FetchError("http_error", describe_status(fetched, redactor), url=page_url,
                             attempts=fetched.attempts)
        try:
            data = json.loads(fetched.body)
        except RecursionError:
            raise _Stop("not_json", f"{page_url}: the JSON body is nested too deeply to parse") from None
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            head = redactor.text(fetched.body[:120].decode("utf-8", "replace"))
            kind = fetched.mime or "no Content-Type"
            raise _Stop("not_json", f"{page_url}: the body is not JSON ({kind}; {err}); it starts "
                        f"{head!r}") from None
        path = self.config.records
        try:
            found = value_at(data, path)
        except KeyError as err:
            keys = ", ".join(f"`{k}`" for k in list(data)[:10]) if isinstance(data, dict) else type(data).__name__
            raise _Stop("missing_records", f"{page_url}: the body has no `{path}` (missing `{err.args[0]}`; "
                        f"top level: {keys}). Set `records` to the path of the list of records") from None
        if found is None:
            return data, []
        if not isinstance(found, list):
            hint = "" if path else " Set `records` to the path of the list (e.g. `data.items`)."
            raise _Stop("missing_records", f"{page_url}: `{path or '(the body)'}` is a "
                        f"{type(found).__name__}, not a list of records.{hint}")
        return data, found

    def _row(self, record: Any, index: int, number: int, page_url: str, sha256: str,
             ctx: StepContext) -> dict[str, Any] | None:
        config = self.config
        rid: str | None = None
        if config.id_field:
            try:
                value = value_at(record, config.id_field)
            except KeyError:
                value = None
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                rid = str(value)
        if rid is None:
            rid = document_id(page_url, f"page={number}:{index}")
        try:
            if config.text_field is not None:
                value = value_at(record, config.text_field)
                if value is None:
                    raise KeyError(config.text_field)
                text = _as_text(value)
            elif config.text_template is not None:
                text = render_template(config.text_template, record)
            else:
                text = _as_text(record)
            meta = record if isinstance(record, dict) else {"value": record}
            json.dumps(meta)  # fails here, not in the batch, on what JSON cannot hold
        except KeyError as err:
            what = config.text_field or "the template"
            ctx.quarantine([{ID: rid, SOURCE: page_url, PAGE: number, "index": index, "record": record}],
                           reason="missing_text",
                           error=f"record {index} of page {number} has no `{err.args[0]}` (for {what})")
            return None
        except (ValueError, RecursionError) as err:
            ctx.quarantine([{ID: rid, SOURCE: page_url, PAGE: number, "index": index}], reason="bad_record",
                           error=f"record {index} of page {number} cannot be stored as JSON: {err}")
            return None
        return {"id": rid, "text": text, "source": page_url, "page": number, "mime": MIME,
                "sha256": sha256, "meta": meta}

    def _advance(self, cursor: _Cursor, fetched: Fetched, data: Any, got: int, request: _Request,
                 home: str) -> bool:
        """Point ``cursor`` at the next page; False when this page was the last."""
        paging = self.config.paging
        if isinstance(paging, NoPaging):
            return False
        if isinstance(paging, OffsetPaging):
            if got < paging.page_size:
                return False
            cursor.position += got
            cursor.params = {**cursor.params, paging.offset_param: cursor.position}
            return True
        if isinstance(paging, PagePaging):
            if got == 0 or (paging.page_size is not None and got < paging.page_size):
                return False
            cursor.position += 1
            cursor.params = {**cursor.params, paging.page_param: cursor.position}
            return True
        if isinstance(paging, CursorPaging):
            try:
                value = value_at(data, paging.cursor_field)
            except KeyError:
                return False
            if value is None or value == "" or isinstance(value, dict | list):
                return False
            token = _as_text(value)
            if token in cursor.seen:
                raise _Stop("paging_loop", f"the cursor `{paging.cursor_field}` repeats an earlier value; "
                            "the server pages in a loop")
            cursor.seen.add(token)
            cursor.params = {**cursor.params, paging.cursor_param: token}
            return True
        # next_link
        if paging.next_field is not None:
            try:
                link = value_at(data, paging.next_field)
            except KeyError:
                return False
        else:
            link = fetched.links.get("next")
        if not isinstance(link, str) or not link.strip():
            return False
        redactor = Redactor(request.secrets)
        try:
            target = fetched.url.join(link.strip()).copy_with(fragment=None)
        except (httpx.InvalidURL, ValueError) as err:
            raise _Stop("bad_next_link", redactor.text(f"the next link {link!r} is not a URL: {err}")) from None
        shown = redactor.url(target)
        cursor.seen.add(str(fetched.url))
        if target.scheme not in ("http", "https") or origin(target) != home:
            raise _Stop("bad_next_link", f"the next link {shown} leaves {home}; the request headers "
                        "(credentials) are only sent to the first URL's origin, so paging stops there")
        if str(target) in cursor.seen:
            raise _Stop("paging_loop", f"the next link {shown} was already fetched; the server pages in a loop")
        cursor.seen.add(str(target))
        # The next link carries its own query; the configured parameters (say a key) are kept
        # where it does not set them.
        cursor.url = target
        cursor.params = {k: v for k, v in request.params.items() if k not in target.params}
        return True

    @staticmethod
    def _quarantine_page(ctx: StepContext, where: dict[str, Any], reason: str, error: str,
                         attempts: int | None) -> None:
        page = where[PAGE]
        row = {**where, ID: document_id(str(where[SOURCE]), f"page={page}")}
        if attempts is not None:
            row["attempts"] = attempts
        ctx.metric("pages_failed", 1)
        ctx.quarantine([row], reason=reason, error=error)
