"""The Klaviyo REST client: revision header, JSON:API paging, pacing, retries, typed errors.

One :class:`KlaviyoClient` talks to one account. It never writes anywhere; the sync decides what
to do with what it returns. The revision is pinned here (:data:`REVISION`) and nowhere else.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
import simdjson

from klaviyo_analytics.klaviyo.auth import Auth
from klaviyo_analytics.klaviyo.errors import (
    BadResponseError,
    KlaviyoApiError,
    KlaviyoTransientError,
    RateLimitedError,
)
from klaviyo_analytics.klaviyo.models import (
    Account,
    Campaign,
    CampaignMessage,
    Metric,
    NamedEntity,
    Page,
    RawEventPage,
    ReportRow,
    Resource,
    SeriesReport,
    parse_datetime,
    parse_series_report,
    parse_values_report,
)
from klaviyo_analytics.klaviyo.ratelimit import Pacer, endpoint_key, parse_leading_int
from klaviyo_analytics.observability import KLAVIYO_CALLS, KLAVIYO_RATE_LIMITED

#: The one place the API revision is pinned (the revision of the bundled OpenAPI spec).
REVISION = "2026-07-15"

#: Channels of ``GET /api/campaigns`` (one request per channel is required, klaviyo-api.md §4.4).
CAMPAIGN_CHANNELS = ("email", "sms", "mobile_push")

T = TypeVar("T")

_RETRY_STATUSES = frozenset({500, 502, 503, 504, 520, 522, 524})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the client's retries.

    Attributes:
        max_attempts: attempts per request, first one included.
        base_delay: first backoff delay in seconds (doubles per attempt, full jitter).
        max_delay: cap of one backoff delay.
        max_total: give up when a request has been retried for this many seconds.
        timeout: per-attempt HTTP timeout in seconds.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 300.0
    timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (exponential, jittered into [½d, d])."""
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return float(delay * (0.5 + random.random() / 2))  # jitter, not crypto


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process (httpx's default trust store; contexts are safe to share):
    building one loads the CA bundle, ~70-110 ms of CPU measured, which httpx otherwise repeats
    for every client, i.e. for every store on every sync."""
    return httpx.create_ssl_context()


def new_http_client(timeout: float) -> httpx.Client:
    """The httpx client of one store's Klaviyo client (a few keep-alive connections)."""
    return httpx.Client(
        timeout=timeout,
        limits=httpx.Limits(max_connections=8, max_keepalive_connections=8),
        verify=_tls_context(),
    )


class KlaviyoClient:
    """A client for one Klaviyo account.

    Args:
        base_url: ``https://a.klaviyo.com`` or the simulator's URL.
        auth: API-key or OAuth authentication.
        pacer: per-endpoint pacing (shared across clients of the same account if desired).
        retry: retry bounds.
        http: an httpx client to reuse (one is created otherwise).
        sleep: sleep function (tests may speed it up).
    """

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.pacer = pacer or Pacer()
        self.retry = retry or RetryPolicy()
        self._own_http = http is None
        self.http = http or new_http_client(self.retry.timeout)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._clock_offset: float | None = None
        #: Successful requests per (method, path template).
        self.calls: Counter[tuple[str, str]] = Counter()
        #: Attempts that failed and were retried, per (method, path template).
        self.retries: Counter[tuple[str, str]] = Counter()

    def close(self) -> None:
        """Close the HTTP connections (if this client opened them)."""
        if self._own_http:
            self.http.close()

    def __enter__(self) -> KlaviyoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- time ---------------------------------------------------------------------------
    def server_now(self) -> datetime:
        """Klaviyo's idea of "now" (from the last ``Date`` header), else the local clock.

        Filters in the future silently return nothing, so watermarks are capped at this time,
        not at our own clock.
        """
        offset = self._clock_offset or 0.0
        return datetime.now(UTC) + timedelta(seconds=offset)

    def _observe_date(self, headers: httpx.Headers) -> None:
        value = headers.get("date")
        if not value:
            return
        try:
            server = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            server = server.replace(tzinfo=UTC)
        offset = (server - datetime.now(UTC)).total_seconds()
        # The header has one-second resolution: keep offsets under a second as zero drift.
        self._clock_offset = 0.0 if abs(offset) < 2 else offset

    # -- transport ----------------------------------------------------------------------
    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request with pacing and retries; return the decoded JSON body.

        Args:
            method: ``GET`` or ``POST``.
            path_or_url: ``/api/...`` or an absolute URL (a ``links.next``).
            params: query parameters.
            body: JSON body for POST.

        Returns:
            The decoded JSON document.

        Raises:
            see :meth:`send`.
        """
        return self.send(method, path_or_url, orjson.loads, params=params, body=body)

    def send(
        self,
        method: str,
        path_or_url: str,
        decode: Callable[[bytes], T],
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> T:
        """Send one request with pacing and retries; return ``decode(body)``.

        Args:
            method: ``GET`` or ``POST``.
            path_or_url: ``/api/...`` or an absolute URL (a ``links.next``).
            decode: turns a 2xx body into the result; a ``ValueError`` from it (bad JSON, a
                wrong document) counts as a bad response and is retried like a 5xx.
            params: query parameters.
            body: JSON body for POST.

        Returns:
            The decoded body.

        Raises:
            RateLimitedError: 429s outlasted the retry budget.
            KlaviyoTransientError: 5xx/timeouts/connection drops outlasted the retry budget.
            BadResponseError: the body stayed unparseable after retries.
            ReauthRequiredError: the credentials were refused for good.
            KlaviyoApiError: any other 4xx.
        """
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        path = urlsplit(url).path
        key = endpoint_key(method, path)
        policy = self.retry
        started = time.monotonic()
        content = orjson.dumps(body) if body is not None else None
        attempt = 0
        refreshed = 0
        while True:
            attempt += 1
            auth_header = self.auth.header()
            headers = {
                "Authorization": auth_header,
                "revision": REVISION,
                "accept": "application/vnd.api+json",
            }
            if content is not None:
                headers["content-type"] = "application/vnd.api+json"
            self.pacer.acquire(method, path)
            failure: KlaviyoTransientError
            try:
                resp = self.http.request(
                    method, url, params=params, content=content, headers=headers
                )
            except httpx.TimeoutException as exc:
                failure = KlaviyoTransientError(method, path, None, attempt, f"timeout ({exc!r})")
            except httpx.TransportError as exc:
                failure = KlaviyoTransientError(method, path, None, attempt, f"connection: {exc!r}")
            else:
                self._observe_date(resp.headers)
                self.pacer.observe(method, path, resp.headers)
                status = resp.status_code
                endpoint = f"{key[0]} {key[1]}"
                KLAVIYO_CALLS.labels(endpoint=endpoint, status=str(status)).inc()
                if status == 429:
                    KLAVIYO_RATE_LIMITED.labels(endpoint=endpoint).inc()
                if status == 401 and refreshed < 3:
                    # An expired/revoked token: refresh once per 401 (raises if it cannot).
                    refreshed += 1
                    attempt -= 1
                    self.auth.unauthorized(auth_header)
                    continue
                if status == 401:
                    self.auth.unauthorized(auth_header)
                if 200 <= status < 300:
                    try:
                        doc = decode(resp.content)
                    except ValueError as exc:  # orjson.JSONDecodeError and simdjson's too
                        failure = BadResponseError(
                            method, path, status, attempt, f"bad JSON: {exc}"
                        )
                    else:
                        self.calls[key] += 1
                        return doc
                elif status == 429:
                    retry_after = float(parse_leading_int(resp.headers.get("retry-after")) or 1)
                    elapsed = time.monotonic() - started
                    if attempt >= policy.max_attempts or elapsed + retry_after > policy.max_total:
                        raise RateLimitedError(method, path, attempt, retry_after)
                    self.retries[key] += 1
                    self.pacer.hold(method, path, retry_after)
                    self._sleep(retry_after * (1 + random.random() / 10))  # noqa: S311
                    continue
                elif status in _RETRY_STATUSES:
                    failure = KlaviyoTransientError(method, path, status, attempt, resp.text[:200])
                else:
                    raise KlaviyoApiError(method, path, status, _errors_of(resp.content))
            delay = policy.backoff(attempt)
            if (
                attempt >= policy.max_attempts
                or time.monotonic() - started + delay > policy.max_total
            ):
                raise failure
            self.retries[key] += 1
            self._sleep(delay)

    def paginate(self, path: str, params: Mapping[str, str]) -> Iterator[Page]:
        """Pages of a collection, following ``links.next`` until it is missing or null.

        Args:
            path: the collection path, e.g. ``/api/metrics``.
            params: query parameters of the first page (the cursor links carry them after).

        Yields:
            Each page in order.
        """
        doc = self.request("GET", path, params=params)
        while True:
            page = Page.parse(doc, "GET", path)
            yield page
            if page.next_url is None:
                return
            doc = self.request("GET", page.next_url)

    # -- endpoints ----------------------------------------------------------------------
    def get_account(self) -> Account:
        """The account behind the credentials (for its timezone)."""
        params = {"fields[account]": "timezone,preferred_currency"}
        for page in self.paginate("/api/accounts", params):
            if page.data:
                return Account.from_resource(page.data[0])
        raise BadResponseError("GET", "/api/accounts", 200, 1, "no account in the response")

    def iter_metrics(self) -> Iterator[Metric]:
        """Every metric of the account."""
        params = {"fields[metric]": "name,integration,updated"}
        for page in self.paginate("/api/metrics", params):
            for res in page.data:
                yield Metric.from_resource(res)

    @staticmethod
    def _event_params(
        metric_id: str,
        since: datetime,
        until: datetime,
        page_size: int,
    ) -> dict[str, str]:
        """Query of ``GET /api/events``: one metric, ``[since, until)``, oldest first, with the
        events' profiles (their e-mail)."""
        flt = (
            f'and(equals(metric_id,"{metric_id}"),'
            f"greater-or-equal(datetime,{_iso(since)}),less-than(datetime,{_iso(until)}))"
        )
        return {
            "filter": flt,
            "sort": "datetime",
            "page[size]": str(page_size),
            "fields[event]": "datetime,timestamp,event_properties",
            "include": "profile",
            "fields[profile]": "email",
        }

    def iter_raw_event_pages(
        self,
        metric_id: str,
        since: datetime,
        until: datetime,
        *,
        page_size: int = 1000,
        rows: Callable[[simdjson.Object], int] | None = None,
    ) -> Iterator[RawEventPage]:
        """Events of one metric with ``since <= datetime < until``, oldest first, page by page,
        with their profiles (``include=profile``), each page kept as the bytes Klaviyo sent.

        Each page is validated and its cursor and event times read with simdjson; the events
        are never turned into Python objects (the warehouse parses them, ``sync/pages.py``).
        ``rows`` counts the warehouse rows of one event (see :meth:`RawEventPage.scan`).
        """
        parser = simdjson.Parser()

        def scan(content: bytes) -> RawEventPage:
            return RawEventPage.scan(content, parser, rows)

        url: str | None = "/api/events"
        params: Mapping[str, str] | None = self._event_params(metric_id, since, until, page_size)
        while url is not None:
            page = self.send("GET", url, scan, params=params)
            yield page
            url, params = page.next_url, None

    def iter_campaigns(self, channel: str) -> Iterator[Campaign]:
        """Campaigns of one channel with their messages and tag names.

        Args:
            channel: ``email``, ``sms`` or ``mobile_push``.
        """
        params = {
            "filter": f"equals(messages.channel,'{channel}')",
            "include": "campaign-messages,tags",
            "fields[campaign]": "name,status,send_time,scheduled_at",
            "fields[campaign-message]": "definition",
            "fields[tag]": "name",
        }
        for page in self.paginate("/api/campaigns", params):
            for res in page.data:
                yield _campaign(res, page.included, channel)

    def iter_flows(self) -> Iterator[NamedEntity]:
        """Every flow (id and name)."""
        params = {"fields[flow]": "name", "page[size]": "50"}
        for page in self.paginate("/api/flows", params):
            for res in page.data:
                yield NamedEntity(res.id, str(res.attributes.get("name") or ""))

    def iter_flow_messages(self, flow_id: str) -> Iterator[NamedEntity]:
        """The messages of one flow, walking its actions (no account-wide list exists)."""
        actions = self.paginate(
            f"/api/flows/{flow_id}/flow-actions", {"fields[flow-action]": "definition"}
        )
        action_ids = [res.id for page in actions for res in page.data]
        for action_id in action_ids:
            params = {"fields[flow-message]": "definition,channel"}
            for page in self.paginate(f"/api/flow-actions/{action_id}/flow-messages", params):
                for res in page.data:
                    definition = res.attributes.get("definition")
                    name = definition.get("name") if isinstance(definition, dict) else None
                    name = name or res.attributes.get("name") or ""
                    channel = res.attributes.get("channel")
                    yield NamedEntity(res.id, str(name), flow_id, str(channel) if channel else None)

    def iter_forms(self) -> Iterator[NamedEntity]:
        """Every form (id and name)."""
        params = {"fields[form]": "name", "page[size]": "100"}
        for page in self.paginate("/api/forms", params):
            for res in page.data:
                yield NamedEntity(res.id, str(res.attributes.get("name") or ""))

    def iter_segments(self) -> Iterator[NamedEntity]:
        """Every segment (id and name)."""
        params = {"fields[segment]": "name", "page[size]": "10"}
        for page in self.paginate("/api/segments", params):
            for res in page.data:
                yield NamedEntity(res.id, str(res.attributes.get("name") or ""))

    def values_report(
        self,
        kind: str,
        statistics: Iterable[str],
        start: datetime,
        end: datetime,
        *,
        conversion_metric_id: str | None = None,
        group_by: Iterable[str] | None = None,
    ) -> list[ReportRow]:
        """``POST /api/<kind>-values-reports`` for a custom timeframe.

        Args:
            kind: ``campaign``, ``flow``, ``form`` or ``segment``.
            statistics: statistic names (klaviyo-api.md §5.2).
            start: timeframe start (Klaviyo applies the account timezone to the wall time).
            end: timeframe end (at most one year after ``start``).
            conversion_metric_id: required for campaign and flow reports.
            group_by: grouping attributes.

        Returns:
            One row per grouping.
        """
        path = f"/api/{kind}-values-reports"
        doc = self.request(
            "POST",
            path,
            body=_report_body(
                f"{kind}-values-report",
                statistics,
                start,
                end,
                None,
                conversion_metric_id,
                group_by,
            ),
        )
        return parse_values_report(doc, path)

    def series_report(
        self,
        kind: str,
        statistics: Iterable[str],
        start: datetime,
        end: datetime,
        *,
        interval: str = "daily",
        conversion_metric_id: str | None = None,
        group_by: Iterable[str] | None = None,
    ) -> SeriesReport:
        """``POST /api/<kind>-series-reports`` (daily timeframes are capped at 60 days).

        Args:
            kind: ``flow``, ``form`` or ``segment``.
            statistics: statistic names.
            start: timeframe start (account-local wall time).
            end: timeframe end.
            interval: ``daily`` (≤ 60 days), ``weekly``, ``monthly`` or ``hourly``.
            conversion_metric_id: required for flow reports.
            group_by: grouping attributes (not allowed for segments).

        Returns:
            The series report.
        """
        path = f"/api/{kind}-series-reports"
        doc = self.request(
            "POST",
            path,
            body=_report_body(
                f"{kind}-series-report",
                statistics,
                start,
                end,
                interval,
                conversion_metric_id,
                group_by,
            ),
        )
        return parse_series_report(doc, path)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _local_iso(when: datetime) -> str:
    # Reporting timeframes are read as account-local wall time and Klaviyo ignores the offset,
    # but the spec types them ``date-time`` (RFC 3339), which requires one: send the local wall
    # time with a nominal +00:00, as the spec's own examples do.
    return when.replace(tzinfo=None).isoformat(timespec="seconds") + "+00:00"


def _report_body(
    rtype: str,
    statistics: Iterable[str],
    start: datetime,
    end: datetime,
    interval: str | None,
    conversion_metric_id: str | None,
    group_by: Iterable[str] | None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "statistics": list(statistics),
        "timeframe": {"start": _local_iso(start), "end": _local_iso(end)},
    }
    if interval:
        attrs["interval"] = interval
    if conversion_metric_id:
        attrs["conversion_metric_id"] = conversion_metric_id
    if group_by:
        attrs["group_by"] = list(group_by)
    return {"data": {"type": rtype, "attributes": attrs}}


def _errors_of(content: bytes) -> list[dict[str, object]]:
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return [{"code": "unparseable", "detail": content[:200].decode("utf-8", "replace")}]
    errors = body.get("errors") if isinstance(body, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _campaign(
    res: Resource, included: Mapping[tuple[str, str], Resource], channel: str
) -> Campaign:
    attrs = res.attributes
    messages: list[CampaignMessage] = []
    for mid in res.related_ids("campaign-messages"):
        msg = included.get(("campaign-message", mid))
        definition = msg.attributes.get("definition") if msg else None
        definition = definition if isinstance(definition, dict) else {}
        content = definition.get("content")
        content = content if isinstance(content, dict) else {}
        messages.append(
            CampaignMessage(
                mid,
                str(definition.get("channel") or channel),
                str(definition.get("label") or ""),
                str(content.get("subject") or ""),
            )
        )
    tags = [
        str(t.attributes.get("name") or "")
        for tid in res.related_ids("tags")
        if (t := included.get(("tag", tid))) is not None
    ]
    send_time = parse_datetime(attrs.get("send_time")) or parse_datetime(attrs.get("scheduled_at"))
    return Campaign(
        res.id,
        str(attrs.get("name") or ""),
        str(attrs.get("status") or ""),
        channel,
        send_time,
        messages,
        tags,
    )
