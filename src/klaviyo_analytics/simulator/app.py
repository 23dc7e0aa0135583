"""The simulator's ASGI application: Klaviyo's ``/api`` endpoints and its OAuth server.

A small hand-written ASGI router (no framework overhead on the hot events path). Every ``/api``
request goes through: route → authentication (401) → ``revision`` header (400) → scopes (403) →
rate limits (429) → injected faults → the handler, and is written to the request log.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode

import numpy as np
import orjson

from klaviyo_analytics.simulator.auth import AccountCredentials, AuthState, OAuthError, Principal
from klaviyo_analytics.simulator.catalog import LOCATIONS, customer, profile_number
from klaviyo_analytics.simulator.clock import SimClock
from klaviyo_analytics.simulator.config import REVISION, FaultSpec, SimulatorConfig
from klaviyo_analytics.simulator.errors import ApiError
from klaviyo_analytics.simulator.events import EventSource
from klaviyo_analytics.simulator.faults import FaultInjector
from klaviyo_analytics.simulator.filters import Term, parse_filter, validate_terms
from klaviyo_analytics.simulator.marketing import TAG_NAMES, iso
from klaviyo_analytics.simulator.paging import StreamRange, decode_cursor, encode_cursor, merge_page
from klaviyo_analytics.simulator.ratelimit import RateLimiter
from klaviyo_analytics.simulator.render import EVENT_ATTRIBUTES, FAST_KEYS, PROFILE_ATTRIBUTES
from klaviyo_analytics.simulator.reports import parse_report, run_report
from klaviyo_analytics.simulator.spec import Operation, all_scopes, match
from klaviyo_analytics.simulator.stats import StatsEngine
from klaviyo_analytics.simulator.store import Store, release_free_memory
from klaviyo_analytics.simulator.truth import build_store, stats_engine

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
JSON_API = b"application/vnd.api+json"
EVENT_STREAMS = [
    "placed",
    "ordered",
    "refunded",
    "cancelled",
    "fulfilled",
    "api_placed",
    "api_canceled",
]


class _LogFields(NamedTuple):
    method: str
    path: str
    status: int
    public_id: str


class RequestLogEntry(_LogFields):
    """One request served: unpacks like the historical 4-tuple ``(method, path, status,
    public_id)``; ``at`` (``time.monotonic()`` when answered) and ``query`` (the raw query string)
    are attributes, so code that unpacks four values keeps working.

    Attributes:
        at: monotonic time at which the response was sent.
        query: the full, undecoded query string ("" if none).
    """

    at: float
    query: str

    def __new__(
        cls,
        method: str,
        path: str,
        status: int,
        public_id: str,
        at: float = 0.0,
        query: str = "",
    ) -> RequestLogEntry:
        entry = super().__new__(cls, method, path, status, public_id)
        entry.at = at
        entry.query = query
        return entry

    def __repr__(self) -> str:
        return (
            f"RequestLogEntry(method={self.method!r}, path={self.path!r}, status={self.status}, "
            f"public_id={self.public_id!r}, at={self.at}, query={self.query!r})"
        )


class Account:
    """One simulated account: its store, events, statistics and credentials."""

    def __init__(self, store: Store, creds: AccountCredentials) -> None:
        self.store = store
        self.events = EventSource(store)
        self.stats: StatsEngine = stats_engine(store)
        self.creds = creds


class Request:
    """The parts of an HTTP request the handlers need."""

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.raw_query: str = scope.get("query_string", b"").decode("latin-1")
        self.query: dict[str, str] = dict(parse_qsl(self.raw_query, keep_blank_values=True))
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
        host = self.headers.get("host", "127.0.0.1")
        self.base_url = f"http://{host}"
        self.body = body

    def url(self, query: dict[str, str] | None = None) -> str:
        """Absolute URL of this path with a query (the request's own by default)."""
        q = self.raw_query if query is None else urlencode(query, safe="[],()'\":")
        return f"{self.base_url}{self.path}" + (f"?{q}" if q else "")


class Response:
    """A response to send."""

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = JSON_API,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json(status: int, doc: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(doc), headers=headers)


class SimulatorApp:
    """The ASGI application serving all accounts of a simulator run.

    Args:
        config: the run's configuration.
        clock: the simulator clock.
    """

    def __init__(self, config: SimulatorConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.auth = AuthState(
            clock=clock,
            scopes=frozenset(all_scopes()),
            access_token_lifetime=config.access_token_lifetime,
        )
        self.accounts: dict[str, Account] = {}
        self.credentials: list[AccountCredentials] = []
        for i in range(config.accounts):
            store = build_store(config.seed, i, config.orders, config.start_now)
            creds = self.auth.add_account(config.seed, i, store.info.public_id, store.info.timezone)
            self.accounts[store.info.public_id] = Account(store, creds)
            self.credentials.append(creds)
        self.limiter = RateLimiter(config.time_scale, enabled=config.rate_limits == "realistic")
        self.faults = FaultInjector(config.faults)
        self.request_log: list[RequestLogEntry] = []
        self._log_lock = threading.Lock()
        self._event_pages = 0
        release_free_memory()

    def set_faults(self, faults: FaultSpec) -> None:
        """Replace the fault knobs at runtime."""
        self.faults = FaultInjector(faults)

    # -- ASGI -----------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        req = Request(scope, body)
        account = ""
        delay = 0.0
        try:
            if req.path.startswith("/oauth/"):
                response = self._oauth(req)
            else:
                response, account, delay = self._api(req)
        except ApiError as exc:
            response = _json(exc.status, exc.body(), exc.headers)
        if delay:
            await asyncio.sleep(delay)
        entry = RequestLogEntry(
            req.method, req.path, response.status, account, time.monotonic(), req.raw_query
        )
        with self._log_lock:
            self.request_log.append(entry)
        # Klaviyo's "now" is what its Date header says: serve the simulator clock's time.
        date = format_datetime(self.clock.now(), usegmt=True).encode()
        # With a content-length uvicorn writes the body as it is; without one it would send it
        # chunked, copying the whole (~4 MB) body once more.
        headers = [
            (b"content-type", response.content_type),
            (b"content-length", str(len(response.body)).encode()),
            (b"date", date),
        ]
        headers += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    # -- /api -----------------------------------------------------------------------------------

    def _principal(self, req: Request) -> Principal:
        header = req.headers.get("authorization", "")
        principal = None
        if header.startswith("Klaviyo-API-Key "):
            principal = self.auth.principal_for_key(header[16:].strip())
        elif header.startswith("Bearer "):
            principal = self.auth.principal_for_bearer(header[7:].strip())
        if principal is None:
            detail = (
                "Missing or invalid authorization scheme. Please use Klaviyo-API-Key or Bearer."
                if not header
                else "Incorrect authentication credentials."
            )
            raise ApiError(
                401, "not_authenticated", "Authentication credentials were not provided.", detail
            )
        return principal

    def _api(self, req: Request) -> tuple[Response, str, float]:
        found = match(req.method, req.path)
        if found is None:
            raise ApiError.not_found(f"No route for {req.method} {req.path}")
        op, path_args = found
        principal = self._principal(req)
        try:
            return self._authenticated(req, op, path_args, principal)
        except ApiError as exc:
            return _json(exc.status, exc.body(), exc.headers), principal.account, 0.0

    def _authenticated(
        self, req: Request, op: Operation, path_args: list[str], principal: Principal
    ) -> tuple[Response, str, float]:
        account = self.accounts[principal.account]
        public_id = principal.account
        revision = req.headers.get("revision")
        if not revision:
            raise ApiError.invalid("Missing required header: revision", parameter="revision")
        if revision.split(".")[0] != REVISION:
            raise ApiError.invalid(
                f"Invalid revision {revision!r}; this server serves {REVISION}.",
                parameter="revision",
            )
        missing = [s for s in op.scopes if s not in principal.scopes]
        if missing:
            raise ApiError(
                403,
                "permission_denied",
                "You do not have permission to perform this action.",
                f"This request needs the scopes: {', '.join(missing)}",
            )
        decision = self.limiter.check(principal.quota, op)
        if not decision.allowed:
            raise ApiError(
                429,
                "throttled",
                "Request was throttled.",
                f"Request was throttled. Expected available in {decision.retry_after} seconds.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        fault = self.faults.draw(req.method, req.path, req.raw_query, principal.token is not None)
        if fault.expire_token and principal.token:
            self.auth.expire_access_token(principal.token)
            raise ApiError(
                401,
                "not_authenticated",
                "Authentication credentials were not provided.",
                "Access token expired.",
            )
        if fault.status:
            if fault.status == 429:
                raise ApiError(
                    429,
                    "throttled",
                    "Request was throttled.",
                    "Request was throttled. Expected available in 1 second.",
                    headers={"Retry-After": "1"},
                )
            raise ApiError(
                fault.status, "error", "A server error occurred.", "Simulated server error."
            )
        response = self._dispatch(op, path_args, req, account)
        if decision.limit:
            response.headers.update(
                {
                    "RateLimit-Limit": str(decision.limit),
                    "RateLimit-Remaining": str(decision.remaining),
                    "RateLimit-Reset": str(decision.reset),
                }
            )
        if fault.malformed and response.status == 200:
            response.body = response.body[: max(1, len(response.body) // 2)]
        return response, public_id, fault.delay + self.config.page_delay

    def _dispatch(self, op: Operation, args: list[str], req: Request, acct: Account) -> Response:
        self._check_params(op, req)
        handler = getattr(self, "h_" + op.operation_id)
        result: Response = handler(req, acct, op, *args)
        return result

    def _check_params(self, op: Operation, req: Request) -> None:
        for name, value in req.query.items():
            if name not in op.params and name != "page[cursor]":
                raise ApiError.invalid(f"'{name}' is not a valid query parameter", parameter=name)
            allowed = op.enums.get(name)
            if allowed is not None:
                for item in value.split(","):
                    if item not in allowed:
                        raise ApiError.invalid(
                            f"'{item}' is not a valid value for {name}", parameter=name
                        )
        if op.page_size is not None and "page[size]" in req.query:
            raw = req.query["page[size]"]
            if not raw.isdigit() or not 1 <= int(raw) <= op.page_size[1]:
                raise ApiError.invalid(
                    f"page[size] must be an integer between 1 and {op.page_size[1]}",
                    parameter="page[size]",
                )
        if op.filter_required and not req.query.get("filter"):
            raise ApiError.invalid("filter is required for this endpoint", parameter="filter")

    def _terms(self, op: Operation, req: Request) -> list[Term]:
        text = req.query.get("filter")
        if not text:
            return []
        return validate_terms(parse_filter(text), op.filters)

    def _size(self, op: Operation, req: Request) -> int:
        assert op.page_size is not None
        return int(req.query.get("page[size]", op.page_size[0]))

    # -- simple resources -----------------------------------------------------------------------

    def _list(
        self,
        req: Request,
        items: list[Any],
        size: int,
        included: list[dict[str, Any]] | None = None,
        render: Callable[[Any], dict[str, Any]] | None = None,
    ) -> Response:
        offset = 0
        if "page[cursor]" in req.query:
            state = decode_cursor(req.query["page[cursor]"])
            offset = int(state.get("o", 0))
        page = items[offset : offset + size]
        if render is not None:
            page = [render(item) for item in page]
        links: dict[str, str] = {"self": req.url()}
        if offset + size < len(items):
            q = dict(req.query)
            q["page[cursor]"] = encode_cursor({"o": offset + size})
            links["next"] = req.url(q)
        if offset > 0:
            q = dict(req.query)
            q["page[cursor]"] = encode_cursor({"o": max(0, offset - size)})
            links["prev"] = req.url(q)
        doc: dict[str, Any] = {"data": _sparse(req, page), "links": links}
        if included is not None:
            ids = {
                (r["type"], r["id"])
                for item in page
                for rel in item.get("relationships", {}).values()
                for r in (rel["data"] if isinstance(rel.get("data"), list) else [])
            }
            doc["included"] = _sparse(req, [x for x in included if (x["type"], x["id"]) in ids])
        return _json(200, doc)

    def h_get_accounts(self, req: Request, acct: Account, op: Operation) -> Response:
        info = acct.store.info
        loc = LOCATIONS[acct.store.account % len(LOCATIONS)]
        data = {
            "type": "account",
            "id": info.public_id,
            "attributes": {
                "test_account": False,
                "contact_information": {
                    "default_sender_name": info.name,
                    "default_sender_email": f"hello@{info.public_id.lower()}.example.com",
                    "website_url": f"https://{info.public_id.lower()}.example.com",
                    "organization_name": info.name,
                    "street_address": {
                        "address1": "1 Simulation Way",
                        "address2": None,
                        "city": loc[0],
                        "region": loc[2],
                        "country": loc[4],
                        "zip": "10001",
                    },
                },
                "industry": "Apparel & Accessories",
                "timezone": info.timezone,
                "preferred_currency": "USD",
                "public_api_key": info.public_id,
                "locale": "en-US",
            },
            "links": {"self": f"{req.base_url}/api/accounts/{info.public_id}/"},
        }
        return _json(200, {"data": _sparse(req, [data]), "links": {"self": req.url()}})

    def _metric(self, req: Request, acct: Account, key: str) -> dict[str, Any]:
        m = acct.events.by_key[key]
        return {
            "type": "metric",
            "id": m.id,
            "attributes": {
                "name": m.name,
                "created": m.created,
                "updated": m.created,
                "integration": {
                    "object": "integration",
                    "id": m.integration[:6].lower() + m.id[:2],
                    "key": m.integration.lower(),
                    "name": m.integration,
                    "category": m.category,
                },
            },
            "links": {"self": f"{req.base_url}/api/metrics/{m.id}/"},
        }

    def h_get_metrics(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        items = []
        for m in acct.events.metrics:
            ok = all(
                (m.integration if t.field == "integration.name" else m.category) == t.value
                for t in terms
            )
            if ok:
                items.append(self._metric(req, acct, m.key))
        return self._list(req, items, 200)

    def h_get_metric(self, req: Request, acct: Account, op: Operation, metric_id: str) -> Response:
        m = acct.events.by_id.get(metric_id)
        if m is None:
            raise ApiError.not_found(f"Metric {metric_id} not found")
        return _json(
            200,
            {
                "data": _sparse(req, [self._metric(req, acct, m.key)])[0],
                "links": {"self": req.url()},
            },
        )

    # -- events ---------------------------------------------------------------------------------

    def h_get_events(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        ev = acct.events
        keys = list(EVENT_STREAMS)
        lo_ts, hi_ts = -(2**62), 2**62
        profile: int | None = None
        for t in terms:
            if t.field == "metric_id":
                wanted = t.value if isinstance(t.value, list) else [t.value]
                ids = {ev.by_id[str(w)].key for w in wanted if str(w) in ev.by_id}
                keys = [k for k in keys if k in ids]
            elif t.field == "profile_id":
                profile = self._customer_number(acct, str(t.value))
                if profile is None:
                    keys = []
            elif t.field in ("datetime", "timestamp"):
                v = t.value
                secs = v.timestamp() if isinstance(v, datetime) else float(v)  # type: ignore[arg-type]
                if t.op == "greater-than":
                    lo_ts = max(lo_ts, int(np.floor(secs)) + 1)
                elif t.op == "greater-or-equal":
                    lo_ts = max(lo_ts, int(np.ceil(secs)))
                elif t.op == "less-than":
                    hi_ts = min(hi_ts, int(np.ceil(secs)) - 1)
                elif t.op == "less-or-equal":
                    hi_ts = min(hi_ts, int(np.floor(secs)))
        now_ts = int(self.clock.timestamp())
        hi_ts = min(hi_ts, now_ts)
        sort = req.query.get("sort", "datetime")
        descending = sort.startswith("-")
        size = self._size(op, req)
        ranges = [
            StreamRange(k, ev.search(k, lo_ts, "left"), ev.search(k, hi_ts, "right")) for k in keys
        ]
        prev: list[list[Any]] = []
        if "page[cursor]" in req.query:
            state = decode_cursor(req.query["page[cursor]"])
            pos = state.get("p")
            if not isinstance(pos, list) or len(pos) != len(ranges) or state.get("k") != keys:
                raise ApiError.invalid("Invalid page cursor.", parameter="page[cursor]")
            for r, p in zip(ranges, pos, strict=True):
                if descending:
                    r.hi = min(r.hi, int(p))
                else:
                    r.lo = max(r.lo, int(p))
            prev = state.get("l", [])
        late_keep = self.faults.late_filter(ev, now_ts)
        keep = late_keep
        if profile is not None:
            target = profile

            def keep_profile(key: str, pos: np.ndarray, ts: np.ndarray) -> np.ndarray:
                mask = np.array([ev.profile_of(key, int(p)) == target for p in pos], dtype=bool)
                return mask & (late_keep(key, pos, ts) if late_keep else True)

            keep = keep_profile
        dup: list[tuple[str, int]] = []
        if prev and self.faults.duplicate_page(req.raw_query):
            dup = [(str(k), int(p)) for k, p in prev]
        page, los, his = merge_page(ranges, ev.ts_slice, size - len(dup), descending, keep)
        page = dup + page
        links: dict[str, str] = {"self": req.url()}
        remaining = any((hi > lo) for lo, hi in zip(los, his, strict=True))
        if remaining:
            q = dict(req.query)
            q["page[cursor]"] = encode_cursor(
                {"k": keys, "p": his if descending else los, "l": [[k, p] for k, p in page[-3:]]}
            )
            links["next"] = req.url(q)
        includes = set(req.query.get("include", "").split(",")) - {""}
        self._event_pages += 1
        if self._event_pages % 16 == 0:
            release_free_memory()  # keep RSS flat while serving (< 1 ms every 16 pages)
        sparse = any(k.startswith("fields[") for k in req.query)
        key0 = page[0][0] if page else ""
        fast = _fast_fields(req) if key0 in FAST_KEYS and includes <= {"profile"} else None
        if fast is not None and all(k == key0 for k, _ in page):
            # The common case (one Shopify order stream, the sync's sparse fieldsets or none):
            # the page's text as pieces from the vectorised renderer, joined once into the
            # (~4 MB) body.
            positions = np.array([p for _, p in page], dtype=np.int64)
            events, profiles = ev.renderer.page_pieces(
                key0, positions, req.base_url, "profile" in includes, *fast
            )
            parts = events  # one list of ~30,000 pieces, joined once
            parts.insert(0, b'{"data":[')
            parts += [b'],"links":', orjson.dumps(links)]
            if includes:
                # One profile per customer, in order of first appearance.
                parts.append(b',"included":[')
                parts += profiles
                parts.append(b"]")
            parts.append(b"}")
            return Response(200, b"".join(parts))
        texts = ev.render_json(page, req.base_url)
        included: list[str] = []
        if "profile" in includes:
            prefix_text = orjson.dumps(f"{req.base_url}/api/profiles/").decode()[:-1]
            # One profile per customer, in order of first appearance (distinct customers always
            # have distinct profile ids).
            numbers = list(dict.fromkeys(ev.customers_of(page)))
            included.extend(ev.renderer.profiles_json(numbers, prefix_text))
        if "metric" in includes:
            for key in keys:
                if any(k == key for k, _ in page):
                    included.append(orjson.dumps(self._metric(req, acct, key)).decode())
        if sparse:
            # Sparse fieldsets (rare): back to objects.
            doc: dict[str, Any] = {
                "data": _sparse(req, [orjson.loads(t) for t in texts]),
                "links": links,
            }
            if includes:
                doc["included"] = _sparse(req, [orjson.loads(t) for t in included])
            return _json(200, doc)
        # One join and one encode for the whole body.
        parts_text = [
            '{"data":[',
            *_comma_separated(texts),
            '],"links":',
            orjson.dumps(links).decode(),
        ]
        if includes:
            parts_text += [',"included":[', *_comma_separated(included), "]"]
        parts_text.append("}")
        return Response(200, "".join(parts_text).encode())

    def _customer_number(self, acct: Account, profile_id: str) -> int | None:
        s = acct.store
        return profile_number(s.seed, s.account, profile_id, s.customers_total)

    def _profile(self, req: Request, acct: Account, number: int) -> dict[str, Any]:
        s = acct.store
        c = customer(s.seed, s.account, number)
        loc = LOCATIONS[c.location]
        return {
            "type": "profile",
            "id": c.profile_id,
            "attributes": {
                "email": c.email,
                "phone_number": None,
                "external_id": str(c.shopify_id),
                "first_name": c.first_name,
                "last_name": c.last_name,
                "organization": None,
                "locale": "en-US",
                "location": {
                    "city": loc[0],
                    "region": loc[1],
                    "country": loc[3],
                    "zip": c.zip,
                    "address1": None,
                    "address2": None,
                    "timezone": None,
                    "ip": None,
                },
                "properties": {
                    "Shopify Tags": list(c.tags),
                    "Accepts Marketing": "newsletter" in c.tags,
                    "shopify_customer_id": c.shopify_id,
                },
            },
            "links": {"self": f"{req.base_url}/api/profiles/{c.profile_id}/"},
        }

    # -- campaigns ------------------------------------------------------------------------------

    def _campaign(self, req: Request, acct: Account, ci: int) -> dict[str, Any]:
        c = acct.store.marketing.campaigns[ci]
        now = self.clock.timestamp()
        sent = c.send_ts <= now
        base = req.base_url
        tags = [{"type": "tag", "id": acct.store.marketing.tag_ids[t]} for t in c.tag_indices]
        return {
            "type": "campaign",
            "id": c.id,
            "attributes": {
                "name": c.name,
                "status": "Sent" if sent else "Scheduled",
                "archived": False,
                "audiences": {
                    "included": [
                        acct.store.marketing.segments[4 if c.channel == "email" else 5].id
                    ],
                    "excluded": [],
                },
                "send_options": {"use_smart_sending": True},
                "tracking_options": {"add_tracking_params": True, "custom_tracking_params": []}
                if c.channel != "email"
                else {
                    "add_tracking_params": True,
                    "custom_tracking_params": [],
                    "is_tracking_clicks": True,
                    "is_tracking_opens": True,
                },
                "send_strategy": {"method": "static", "datetime": iso(c.send_ts)},
                "created_at": iso(c.created_ts),
                "scheduled_at": iso(c.send_ts - 3600),
                "updated_at": iso(min(c.send_ts, now) if sent else c.created_ts),
                "send_time": iso(c.send_ts),
            },
            "relationships": {
                "campaign-messages": {
                    "data": [{"type": "campaign-message", "id": c.message_id}],
                    "links": {
                        "self": f"{base}/api/campaigns/{c.id}/relationships/campaign-messages/",
                        "related": f"{base}/api/campaigns/{c.id}/campaign-messages/",
                    },
                },
                "tags": {
                    "data": tags,
                    "links": {
                        "self": f"{base}/api/campaigns/{c.id}/relationships/tags/",
                        "related": f"{base}/api/campaigns/{c.id}/tags/",
                    },
                },
            },
            "links": {"self": f"{base}/api/campaigns/{c.id}/"},
        }

    def _campaign_message(self, req: Request, acct: Account, ci: int) -> dict[str, Any]:
        c = acct.store.marketing.campaigns[ci]
        if c.channel == "email":
            definition: dict[str, Any] = {
                "channel": "email",
                "label": c.name,
                "content": {
                    "subject": c.subject,
                    "preview_text": "Don't miss it",
                    "from_email": "hello@example.com",
                    "from_label": acct.store.info.name,
                    "reply_to_email": None,
                    "cc_email": None,
                    "bcc_email": None,
                },
            }
        elif c.channel == "sms":
            definition = {
                "channel": "sms",
                "content": {
                    "body": f"{c.subject} Shop now: https://example.com",
                    "media_url": None,
                },
                "render_options": {
                    "shorten_links": True,
                    "add_org_prefix": True,
                    "add_info_link": True,
                    "add_opt_out_language": True,
                },
            }
        else:
            definition = {
                "channel": "mobile_push",
                "notification_type": "standard",
                "content": {"title": c.subject, "body": "Tap to shop"},
            }
        return {
            "type": "campaign-message",
            "id": c.message_id,
            "attributes": {
                "definition": definition,
                "send_times": [{"datetime": iso(c.send_ts), "is_local": False}],
                "created_at": iso(c.created_ts),
                "updated_at": iso(c.created_ts),
            },
            "relationships": {"campaign": {"data": {"type": "campaign", "id": c.id}}},
            "links": {"self": f"{req.base_url}/api/campaign-messages/{c.message_id}/"},
        }

    def _tag(self, req: Request, acct: Account, t: int) -> dict[str, Any]:
        tid = acct.store.marketing.tag_ids[t]
        return {
            "type": "tag",
            "id": tid,
            "attributes": {"name": TAG_NAMES[t]},
            "links": {"self": f"{req.base_url}/api/tags/{tid}/"},
        }

    def h_get_campaigns(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        if not any(t.field == "messages.channel" for t in terms):
            raise ApiError.invalid(
                "A channel filter is required, e.g. equals(messages.channel,'email').",
                parameter="filter",
            )
        now = self.clock.timestamp()
        items = []
        m = acct.store.marketing
        for c in m.campaigns:
            if c.created_ts > now:
                continue
            fields = {
                "messages.channel": c.channel,
                "id": c.id,
                "name": c.name,
                "status": "Sent" if c.send_ts <= now else "Scheduled",
                "archived": False,
                "created_at": c.created_ts,
                "scheduled_at": c.send_ts - 3600,
                "updated_at": min(c.send_ts, now) if c.send_ts <= now else c.created_ts,
            }
            if _match_terms(terms, fields):
                items.append(c.index)
        items = _sort_items(
            items,
            req.query.get("sort"),
            lambda i, f: {
                "created_at": m.campaigns[i].created_ts,
                "id": m.campaigns[i].id,
                "name": m.campaigns[i].name,
                "scheduled_at": m.campaigns[i].send_ts,
                "updated_at": m.campaigns[i].send_ts,
            }[f],
        )
        includes = set(req.query.get("include", "").split(",")) - {""}
        included: list[dict[str, Any]] | None = None
        if includes:
            included = []
            if "campaign-messages" in includes:
                size = self._size(op, req)
                offset = 0
                if "page[cursor]" in req.query:
                    offset = int(decode_cursor(req.query["page[cursor]"]).get("o", 0))
                shown = items[offset : offset + size]
                included += [self._campaign_message(req, acct, i) for i in shown]
            if "tags" in includes:
                included += [self._tag(req, acct, t) for t in range(len(TAG_NAMES))]
        return self._list(
            req, items, self._size(op, req), included, lambda i: self._campaign(req, acct, i)
        )

    def _campaign_index(self, acct: Account, campaign_id: str) -> int:
        for c in acct.store.marketing.campaigns:
            if c.id == campaign_id and c.created_ts <= self.clock.timestamp():
                return c.index
        raise ApiError.not_found(f"Campaign {campaign_id} not found")

    def h_get_campaign(self, req: Request, acct: Account, op: Operation, cid: str) -> Response:
        i = self._campaign_index(acct, cid)
        return _json(200, {"data": self._campaign(req, acct, i), "links": {"self": req.url()}})

    def h_get_messages_for_campaign(
        self, req: Request, acct: Account, op: Operation, cid: str
    ) -> Response:
        i = self._campaign_index(acct, cid)
        return _json(
            200,
            {
                "data": _sparse(req, [self._campaign_message(req, acct, i)]),
                "links": {"self": req.url()},
            },
        )

    def h_get_tags_for_campaign(
        self, req: Request, acct: Account, op: Operation, cid: str
    ) -> Response:
        i = self._campaign_index(acct, cid)
        c = acct.store.marketing.campaigns[i]
        return _json(
            200,
            {
                "data": _sparse(req, [self._tag(req, acct, t) for t in c.tag_indices]),
                "links": {"self": req.url()},
            },
        )

    # -- flows ----------------------------------------------------------------------------------

    def _flow(self, req: Request, acct: Account, fi: int) -> dict[str, Any]:
        f = acct.store.marketing.flows[fi]
        actions = self._action_ids(acct, fi)
        return {
            "type": "flow",
            "id": f.id,
            "attributes": {
                "name": f.name,
                "status": "live",
                "archived": False,
                "created": iso(f.created_ts),
                "updated": iso(f.created_ts + 86_400),
                "trigger_type": f.trigger_type,
            },
            "relationships": {
                "flow-actions": {"data": [{"type": "flow-action", "id": a} for a in actions]}
            },
            "links": {"self": f"{req.base_url}/api/flows/{f.id}/"},
        }

    def _action_ids(self, acct: Account, fi: int) -> list[str]:
        m = acct.store.marketing
        f = m.flows[fi]
        out = []
        for k, mi in enumerate(f.messages):
            if k:
                out.append(f.delay_action_ids[k - 1])
            out.append(m.flow_messages[mi].action_id)
        return out

    def _flow_actions(self, req: Request, acct: Account, fi: int) -> list[dict[str, Any]]:
        m = acct.store.marketing
        f = m.flows[fi]
        ids = self._action_ids(acct, fi)
        out = []
        created = iso(f.created_ts)
        msg_iter = iter(f.messages)
        for n, aid in enumerate(ids):
            nxt = ids[n + 1] if n + 1 < len(ids) else None
            if n % 2 == 0:
                msg = m.flow_messages[next(msg_iter)]
                action_type = {
                    "email": "send-email",
                    "sms": "send-sms",
                    "mobile_push": "send-mobile-push",
                }[msg.channel]
                definition: dict[str, Any] = {
                    "id": aid,
                    "type": action_type,
                    "links": {"next": nxt},
                    "data": {"message": self._flow_message_def(msg), "status": "live"},
                }
                rel = {
                    "flow": {"data": {"type": "flow", "id": f.id}},
                    "flow-messages": {"data": [{"type": "flow-message", "id": msg.id}]},
                }
            else:
                later = m.flow_messages[f.messages[n // 2 + 1]]
                definition = {
                    "id": aid,
                    "type": "time-delay",
                    "links": {"next": nxt},
                    "data": {"unit": "days", "value": max(1, later.delay_days)},
                }
                rel = {
                    "flow": {"data": {"type": "flow", "id": f.id}},
                    "flow-messages": {"data": []},
                }
            out.append(
                {
                    "type": "flow-action",
                    "id": aid,
                    "attributes": {
                        "created": created,
                        "updated": created,
                        "definition": definition,
                    },
                    "relationships": rel,
                    "links": {"self": f"{req.base_url}/api/flow-actions/{aid}/"},
                }
            )
        return out

    @staticmethod
    def _flow_message_def(msg: Any) -> dict[str, Any]:
        if msg.channel == "email":
            return {
                "id": msg.id,
                "name": msg.name,
                "from_email": "hello@example.com",
                "from_label": "Store",
                "subject_line": msg.name,
                "preview_text": "",
                "template_id": None,
                "smart_sending_enabled": True,
                "transactional": False,
                "add_tracking_params": True,
            }
        if msg.channel == "sms":
            return {
                "id": msg.id,
                "name": msg.name,
                "body": f"{msg.name}: https://example.com",
                "shorten_links": True,
                "include_contact_card": False,
                "add_org_prefix": True,
                "add_info_link": True,
                "add_opt_out_language": True,
                "smart_sending_enabled": True,
                "sms_quiet_hours_enabled": True,
                "transactional": False,
                "add_tracking_params": True,
            }
        return {
            "id": msg.id,
            "name": msg.name,
            "title": msg.name,
            "body": "It's back!",
            "sound": True,
            "badge": False,
            "on_open": "home",
            "smart_sending_enabled": True,
        }

    def h_get_flows(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        m = acct.store.marketing
        items = []
        for f in m.flows:
            fields = {
                "id": f.id,
                "name": f.name,
                "status": "live",
                "archived": False,
                "created": f.created_ts,
                "updated": f.created_ts + 86_400,
                "trigger_type": f.trigger_type,
            }
            if _match_terms(terms, fields):
                items.append(f.index)
        items = _sort_items(
            items,
            req.query.get("sort"),
            lambda i, fld: {
                "created": m.flows[i].created_ts,
                "id": m.flows[i].id,
                "name": m.flows[i].name,
                "status": "live",
                "trigger_type": m.flows[i].trigger_type,
                "updated": m.flows[i].created_ts,
            }[fld],
        )
        resources = [self._flow(req, acct, i) for i in items]
        included = None
        if "flow-actions" in req.query.get("include", ""):
            included = [a for i in items for a in self._flow_actions(req, acct, i)]
        return self._list(req, resources, self._size(op, req), included)

    def _flow_index(self, acct: Account, flow_id: str) -> int:
        for f in acct.store.marketing.flows:
            if f.id == flow_id:
                return f.index
        raise ApiError.not_found(f"Flow {flow_id} not found")

    def h_get_flow(self, req: Request, acct: Account, op: Operation, fid: str) -> Response:
        return _json(
            200,
            {
                "data": self._flow(req, acct, self._flow_index(acct, fid)),
                "links": {"self": req.url()},
            },
        )

    def h_get_actions_for_flow(
        self, req: Request, acct: Account, op: Operation, fid: str
    ) -> Response:
        terms = self._terms(op, req)
        actions = [
            a
            for a in self._flow_actions(req, acct, self._flow_index(acct, fid))
            if _match_terms(
                terms,
                {
                    "id": a["id"],
                    "action_type": a["attributes"]["definition"]["type"],
                    "status": "live",
                },
            )
        ]
        return self._list(req, actions, self._size(op, req))

    def h_get_flow_action_messages(
        self, req: Request, acct: Account, op: Operation, aid: str
    ) -> Response:
        m = acct.store.marketing
        for msg in m.flow_messages:
            if msg.action_id == aid:
                f = m.flows[msg.flow_index]
                created = iso(f.created_ts)
                item = {
                    "type": "flow-message",
                    "id": msg.id,
                    "attributes": {
                        "channel": msg.channel,
                        "created": created,
                        "updated": created,
                        "definition": self._flow_message_def(msg),
                    },
                    "relationships": {"flow-action": {"data": {"type": "flow-action", "id": aid}}},
                    "links": {"self": f"{req.base_url}/api/flow-messages/{msg.id}/"},
                }
                return self._list(req, [item], self._size(op, req))
        for f in m.flows:
            if aid in f.delay_action_ids:
                return self._list(req, [], self._size(op, req))
        raise ApiError.not_found(f"Flow action {aid} not found")

    # -- forms and segments ---------------------------------------------------------------------

    def h_get_forms(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        items = []
        for f in acct.store.marketing.forms:
            fields = {
                "id": f.id,
                "name": f.name,
                "ab_test": False,
                "status": f.status,
                "created_at": f.created_ts,
                "updated_at": f.created_ts,
            }
            if _match_terms(terms, fields):
                items.append(
                    {
                        "type": "form",
                        "id": f.id,
                        "attributes": {
                            "name": f.name,
                            "status": f.status,
                            "ab_test": False,
                            "created_at": iso(f.created_ts),
                            "updated_at": iso(f.created_ts),
                        },
                        "relationships": {
                            "form-versions": {
                                "data": [{"type": "form-version", "id": v} for v in f.version_ids]
                            }
                        },
                        "links": {"self": f"{req.base_url}/api/forms/{f.id}/"},
                    }
                )
        return self._list(req, items, self._size(op, req))

    def h_get_segments(self, req: Request, acct: Account, op: Operation) -> Response:
        terms = self._terms(op, req)
        items = []
        for sg in acct.store.marketing.segments:
            fields = {
                "id": sg.id,
                "name": sg.name,
                "created": sg.created_ts,
                "updated": sg.created_ts,
                "is_active": True,
                "is_starred": sg.index == 1,
            }
            if _match_terms(terms, fields):
                items.append(
                    {
                        "type": "segment",
                        "id": sg.id,
                        "attributes": {
                            "name": sg.name,
                            "definition": {"condition_groups": []},
                            "created": iso(sg.created_ts),
                            "updated": iso(sg.created_ts),
                            "is_active": True,
                            "is_processing": False,
                            "is_starred": sg.index == 1,
                        },
                        "links": {"self": f"{req.base_url}/api/segments/{sg.id}/"},
                    }
                )
        return self._list(req, items, self._size(op, req))

    # -- reports --------------------------------------------------------------------------------

    def _report(self, req: Request, acct: Account, report_type: str) -> Response:
        try:
            body = orjson.loads(req.body or b"null")
        except orjson.JSONDecodeError:
            raise ApiError.invalid("Request body is not valid JSON.", pointer="/data") from None
        now = self.clock.now()
        parsed = parse_report(body, report_type, acct.store, now, set(acct.events.by_id))
        attrs, related = run_report(parsed, acct.store, acct.stats, int(now.timestamp()))
        data: dict[str, Any] = {
            "type": report_type,
            "id": f"{report_type}-{int(now.timestamp())}",
            "attributes": attrs,
        }
        rel_names = {"campaign": "campaigns", "flow": "flows", "flow-message": "flow-messages"}
        if related and parsed.kind in ("campaign", "flow"):
            rels: dict[str, Any] = {}
            for typ, rid in related:
                rels.setdefault(rel_names[typ], {"data": []})["data"].append(
                    {"type": typ, "id": rid}
                )
            data["relationships"] = rels
        return _json(200, {"data": data, "links": {"self": req.url()}})

    def h_query_campaign_values(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "campaign-values-report")

    def h_query_flow_values(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "flow-values-report")

    def h_query_flow_series(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "flow-series-report")

    def h_query_form_values(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "form-values-report")

    def h_query_form_series(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "form-series-report")

    def h_query_segment_values(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "segment-values-report")

    def h_query_segment_series(self, req: Request, acct: Account, op: Operation) -> Response:
        return self._report(req, acct, "segment-series-report")

    # -- OAuth ----------------------------------------------------------------------------------

    def _oauth(self, req: Request) -> Response:
        path = req.path.rstrip("/")
        try:
            if path == "/oauth/authorize" and req.method == "GET":
                q = req.query
                if q.get("response_type") != "code":
                    raise OAuthError("unsupported_response_type", "response_type must be code")
                code = self.auth.authorize(
                    q.get("client_id", ""),
                    q.get("redirect_uri", ""),
                    q.get("scope", ""),
                    q.get("code_challenge", ""),
                    q.get("code_challenge_method", ""),
                )
                sep = "&" if "?" in q["redirect_uri"] else "?"
                params = urlencode({"code": code, "state": q.get("state", "")})
                location = f"{q['redirect_uri']}{sep}{params}"
                return Response(302, b"", b"text/plain", {"Location": location})
            if req.method != "POST" or path not in ("/oauth/token", "/oauth/revoke"):
                raise ApiError.not_found(f"No route for {req.method} {req.path}")
            if not req.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                raise OAuthError(
                    "invalid_request", "body must be application/x-www-form-urlencoded"
                )
            form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
            client_id = self.auth.client_from_basic(req.headers.get("authorization"))
            if path == "/oauth/revoke":
                self.auth.revoke(form.get("token", ""))
                return _json(200, {}, None)
            grant = form.get("grant_type")
            if grant == "refresh_token":
                revoke = self.faults.revoke_refresh(form.get("refresh_token", ""))
                result = self.auth.refresh_grant(client_id, form.get("refresh_token", ""), revoke)
            elif grant == "authorization_code":
                result = self.auth.exchange_code(
                    client_id,
                    form.get("code", ""),
                    form.get("code_verifier", ""),
                    form.get("redirect_uri", ""),
                )
            else:
                raise OAuthError("unsupported_grant_type", "invalid grant type")
            response = Response(
                200, orjson.dumps(result), b"application/json", {"Cache-Control": "no-store"}
            )
        except OAuthError as exc:
            response = Response(
                exc.status,
                orjson.dumps({"error": exc.error, "error_description": exc.description}),
                b"application/json",
            )
        return response

    # -- ground truth helpers -------------------------------------------------------------------

    def account_by_index(self, index: int) -> Account:
        """The account with the given index."""
        return self.accounts[self.credentials[index].public_id]


def _comma_separated(items: list[str]) -> list[str]:
    """``items`` with ``","`` between them, to join into a JSON array's content."""
    out = [","] * max(2 * len(items) - 1, 0)
    out[0::2] = items
    return out


def _fast_fields(req: Request) -> tuple[frozenset[str], bool] | None:
    """What the fast event renderer renders for the request's sparse fieldsets (``fields[...]``,
    see :func:`_sparse`): the event attributes and whether profiles keep only their e-mail, or
    None if it cannot render them (then events are filtered as objects)."""
    events, email_only = EVENT_ATTRIBUTES, False
    for k, v in req.query.items():
        if not k.startswith("fields["):
            continue
        tops = {f.split(".")[0] for f in v.split(",")}
        if k == "fields[event]":
            events = EVENT_ATTRIBUTES & tops
            if "event_properties" not in events:
                return None
        elif k == "fields[profile]":
            kept = PROFILE_ATTRIBUTES & tops
            if kept == {"email"}:
                email_only = True
            elif kept != PROFILE_ATTRIBUTES:
                return None
    return frozenset(events), email_only


def _sparse(req: Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply ``fields[type]=a,b`` sparse fieldsets."""
    wanted = {k[7:-1]: set(v.split(",")) for k, v in req.query.items() if k.startswith("fields[")}
    if not wanted:
        return items
    out = []
    for item in items:
        keep = wanted.get(item["type"])
        if keep is None:
            out.append(item)
            continue
        tops = {f.split(".")[0] for f in keep}
        out.append(
            {**item, "attributes": {k: v for k, v in item["attributes"].items() if k in tops}}
        )
    return out


def _match_terms(terms: list[Term], fields: dict[str, Any]) -> bool:
    for t in terms:
        have = fields.get(t.field)
        v = t.value
        if isinstance(v, datetime):
            v = v.timestamp()
        if t.op == "equals":
            ok = have in v if isinstance(v, list) else have == v
        elif t.op == "any":
            ok = have in (v if isinstance(v, list) else [v])
        elif t.op == "contains":
            ok = str(v).lower() in str(have).lower()
        elif t.op == "starts-with":
            ok = str(have).startswith(str(v))
        elif t.op == "ends-with":
            ok = str(have).endswith(str(v))
        elif t.op in ("greater-than", "greater-or-equal", "less-than", "less-or-equal"):
            a, b = float(have), float(v)  # type: ignore[arg-type]
            ok = {
                "greater-than": a > b,
                "greater-or-equal": a >= b,
                "less-than": a < b,
                "less-or-equal": a <= b,
            }[t.op]
        else:
            ok = True
        if not ok:
            return False
    return True


def _sort_items(items: list[int], sort: str | None, key: Callable[[int, str], Any]) -> list[int]:
    if not sort:
        return items
    field = sort.lstrip("-")
    return sorted(items, key=lambda i: key(i, field), reverse=sort.startswith("-"))


def basic_auth(client_id: str, secret: str) -> str:
    """An ``Authorization: Basic`` header value (helper for clients and tests)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def utc(ts: float) -> datetime:
    """Epoch seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


__all__ = ["RequestLogEntry", "SimulatorApp", "basic_auth", "timedelta", "utc"]
