"""The end-to-end demo on embedded defaults: simulator → OAuth connect → sync → aggregates →
report. It runs the product's own code paths (the same OAuth flow, sync and aggregate jobs a
real store goes through); only Klaviyo is replaced by the bundled simulator.

Running it twice is safe: the simulator is deterministic for a given day, the store is found
again by its Klaviyo account and re-authorised, and every table is ReplacingMergeTree, so a
re-sync and re-aggregation converge on the same FINAL rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import SecretStr

from klaviyo_analytics.aggregates import run_aggregates
from klaviyo_analytics.aggregates.runner import JobResult, today_in
from klaviyo_analytics.api import oauth as oauth_flow
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import TerminalError
from klaviyo_analytics.simulator import SimulatorConfig, SimulatorServer
from klaviyo_analytics.sync import StoreSyncResult, sync_store
from klaviyo_analytics.sync.progress import Progress
from klaviyo_analytics.warehouse import Warehouse, migrate, row_counts

DEMO_STORE_NAME = "Demo Store"
#: Never fetched: the simulator's consent page redirects here and we read the code from the
#: Location header, as a browser would hand it to our callback.
DEMO_REDIRECT_URI = "http://127.0.0.1/oauth/callback"

_KPIS_30D = """
SELECT
    sum(total_revenue) AS revenue,
    sum(total_orders) AS orders,
    -- Decimal division keeps the dividend's scale (it would truncate to cents): widen first.
    if(sum(total_orders) = 0, 0,
       round(toDecimal128(sum(total_revenue), 6) / sum(total_orders), 2)) AS aov
FROM account_metrics_daily FINAL
WHERE klaviyo_public_id = {kid:String}
  AND date > {as_of:Date} - 30 AND date <= {as_of:Date}
"""

_RFM_SEGMENTS = """
SELECT rfm_segment, count() AS customers, sum(net_revenue) AS net_revenue
FROM customer_profiles FINAL
WHERE klaviyo_public_id = {kid:String}
GROUP BY rfm_segment
ORDER BY customers DESC
"""

_TOP_PAIRS = """
SELECT product_a_name, product_b_name, co_purchase_count, lift, confidence
FROM product_relationships_optimized FINAL
WHERE klaviyo_public_id = {kid:String}
  AND relationship_type = 'frequently_bought'
  AND product_a < product_b
ORDER BY lift DESC, co_purchase_count DESC
LIMIT 5
"""

_TOP_CAMPAIGNS = """
SELECT any(campaign_name) AS name, any(send_channel) AS channel,
       sum(recipients) AS recipients, sum(conversion_value) AS revenue
FROM campaign_statistics FINAL
WHERE klaviyo_public_id = {kid:String}
GROUP BY campaign_id
ORDER BY revenue DESC
LIMIT 5
"""

_TOP_FLOWS = """
SELECT any(flow_name) AS name, sum(recipients) AS recipients, sum(conversion_value) AS revenue
FROM flow_statistics FINAL
WHERE klaviyo_public_id = {kid:String}
GROUP BY flow_id
ORDER BY revenue DESC
LIMIT 5
"""


@dataclass
class DemoReport:
    """What the demo prints at the end."""

    store_public_id: str
    klaviyo_public_id: str
    as_of: date
    row_counts: dict[str, int | None]
    kpis_30d: dict[str, Any]
    rfm_segments: list[dict[str, Any]]
    top_pairs: list[dict[str, Any]]
    top_campaigns: list[dict[str, Any]]
    top_flows: list[dict[str, Any]]
    sync: StoreSyncResult
    aggregates: list[JobResult]
    seconds: dict[str, float] = field(default_factory=dict)


def connect_by_oauth(ctx: AppContext, base_url: str) -> str:
    """Connect the simulator's account the way a user does: consent page, code, token exchange.

    Args:
        ctx: the app context; its settings carry the OAuth client id and secret.
        base_url: the simulator's base URL.

    Returns:
        Our store public id (created, or the existing one re-authorised).

    Raises:
        TerminalError: if the consent page does not redirect back with a code.
    """
    pending = oauth_flow.PendingAuthorizations()
    entry = pending.start(DEMO_REDIRECT_URI, DEMO_STORE_NAME, None)
    with httpx.Client(timeout=15.0, follow_redirects=False) as http:
        consent = http.get(oauth_flow.authorize_url(ctx.settings, entry))
        location = consent.headers.get("location", "")
        query = parse_qs(urlsplit(location).query)
        code, state = query.get("code", [""])[0], query.get("state", [""])[0]
        if consent.status_code not in (302, 303, 307) or not code:
            raise TerminalError(
                f"the simulator's consent page did not redirect with a code "
                f"(HTTP {consent.status_code})"
            )
        granted = pending.take(state)
        tokens = oauth_flow.exchange_code(ctx.settings, granted, code, http)
        account = oauth_flow.account_of(ctx.settings, tokens, http)
    metadata = ctx.metadata
    existing = metadata.find_store_by_klaviyo_id(account.id)
    if existing is not None:
        metadata.set_oauth_tokens(
            existing.public_id, tokens.access_token, tokens.refresh_token, tokens.expires_at
        )
        metadata.clear_needs_reauth(existing.public_id)
        return existing.public_id
    store = metadata.add_store(
        DEMO_STORE_NAME,
        account.id,
        oauth_access_token=tokens.access_token,
        oauth_refresh_token=tokens.refresh_token,
        token_expires_at=tokens.expires_at,
    )
    return store.public_id


def build_report(warehouse: Warehouse, kid: str, as_of: date) -> dict[str, Any]:
    """The report's queries (all through the FINAL layer)."""
    params = {"kid": kid, "as_of": as_of}
    kpis = warehouse.dicts(_KPIS_30D, params)
    return {
        "kpis_30d": kpis[0] if kpis else {"revenue": Decimal(0), "orders": 0, "aov": 0},
        "rfm_segments": warehouse.dicts(_RFM_SEGMENTS, params),
        "top_pairs": warehouse.dicts(_TOP_PAIRS, params),
        "top_campaigns": warehouse.dicts(_TOP_CAMPAIGNS, params),
        "top_flows": warehouse.dicts(_TOP_FLOWS, params),
    }


def run_demo(
    base_ctx: AppContext,
    *,
    scale: str | int = "small",
    seed: int = 42,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DemoReport:
    """Run the whole demo against a fresh simulator and return the report.

    Args:
        base_ctx: context built from the user's settings (data dir, URLs).
        scale: the simulator's store size.
        seed: the simulator's seed.
        progress: sync progress reporter (rich bars on a terminal).
        on_step: called with a short description as each step starts.

    Returns:
        The numbers the CLI prints.
    """
    step = on_step or (lambda _: None)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    step("migrating the warehouse")
    migrate(base_ctx.warehouse)
    config = SimulatorConfig(seed=seed, scale=scale, rate_limits="off")
    step(f"starting the Klaviyo simulator ({scale} store, seed {seed})")
    with SimulatorServer(config) as sim:
        account = sim.accounts[0]
        # The simulator runs with rate limits off, so client-side pacing (which keeps a real
        # account under Klaviyo's 2 reports/minute) would only slow the demo down.
        ctx = base_ctx.derive(
            klaviyo_pacing=False,
            klaviyo_base_url=sim.base_url,
            klaviyo_client_id=account.oauth_client_id,
            klaviyo_client_secret=SecretStr(account.oauth_client_secret),
        )
        step("connecting the demo store by OAuth (authorization code + PKCE)")
        store_id = connect_by_oauth(ctx, sim.base_url)
        seconds["setup"] = time.monotonic() - started
        step("syncing from Klaviyo (full history)")
        t0 = time.monotonic()
        result = sync_store(ctx, store_id, full=True, progress=progress)
        seconds["sync"] = time.monotonic() - t0
        if not result.ok:
            raise TerminalError(f"the demo sync failed: {result.error or 'see the log above'}")
    kid = result.klaviyo_public_id
    as_of = today_in(account.timezone)
    step("computing the five aggregate tables")
    t0 = time.monotonic()
    jobs = run_aggregates(
        base_ctx.warehouse,
        kid,
        as_of=as_of,
        timezone=account.timezone,
        recorder=base_ctx.metadata,
    )
    seconds["aggregates"] = time.monotonic() - t0
    report = build_report(base_ctx.warehouse, kid, as_of)
    seconds["total"] = time.monotonic() - started
    return DemoReport(
        store_public_id=store_id,
        klaviyo_public_id=kid,
        as_of=as_of,
        row_counts=row_counts(base_ctx.warehouse),
        sync=result,
        aggregates=jobs,
        seconds=seconds,
        **report,
    )


def last_30_days(as_of: date) -> tuple[date, date]:
    """The inclusive window the report's KPIs cover."""
    return as_of - timedelta(days=29), as_of
