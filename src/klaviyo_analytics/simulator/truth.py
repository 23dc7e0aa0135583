"""Ground truth: the totals a correct sync of a simulated account must produce.

Computed from the generator's own index, independently of any sync code. Everything respects an
``as_of`` time: only events with a datetime at or before it count. The "API" integration's decoy
"Placed Order" events are not part of the truth.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np

from klaviyo_analytics.simulator.config import parse_scale, resolve_now
from klaviyo_analytics.simulator.marketing import CHANNEL_TO_REPORT
from klaviyo_analytics.simulator.stats import (
    MessageCounts,
    StatsEngine,
    form_statistics,
    message_statistics,
)
from klaviyo_analytics.simulator.store import Store


@dataclass(frozen=True)
class MessageStats:
    """Statistics of one campaign (on its send date) or one flow message on one day.

    Attributes:
        counts: the additive counts.
        statistics: all 31 Reporting API statistics (rates as fractions).
    """

    counts: MessageCounts
    statistics: dict[str, float]


@dataclass(frozen=True)
class CampaignTruth:
    """One ``campaign_statistics`` row: a campaign on its (account-local) send date."""

    campaign_id: str
    campaign_name: str
    campaign_message_id: str
    send_channel: str
    date: date
    stats: MessageStats


@dataclass(frozen=True)
class FlowTruth:
    """One ``flow_statistics`` row: a flow message on one account-local day."""

    flow_id: str
    flow_name: str
    flow_message_id: str
    flow_message_name: str
    send_channel: str
    date: date
    stats: MessageStats


@dataclass(frozen=True)
class FormTruth:
    """One ``form_statistics`` row: a form on one account-local day."""

    form_id: str
    form_name: str
    date: date
    statistics: dict[str, float]


@dataclass(frozen=True)
class SegmentTruth:
    """One ``segment_statistics`` row: a segment on one account-local day."""

    segment_id: str
    segment_name: str
    date: date
    total_members: int
    members_added: int
    members_removed: int
    net_members_changed: int


@dataclass(frozen=True)
class GroundTruth:
    """What a correct sync of one account must produce, as of ``as_of``.

    Attributes:
        public_id: the account's public id.
        timezone: the account's timezone.
        as_of: the cut-off time (UTC).
        orders: number of Shopify "Placed Order" events.
        order_value: sum of their ``$value`` (exact, in dollars).
        line_items: number of line items over those orders.
        quantity: sum of line-item quantities.
        refunds: number of "Refunded Order" events.
        refund_amount: sum of refunded amounts.
        cancellations: number of "Cancelled Order" events.
        cancellation_amount: sum of cancelled order values.
        customers: distinct customers with an order.
        campaigns: one row per campaign sent by ``as_of`` (lifetime stats on its send date).
        flows: one row per flow message and local day with sends.
        forms: one row per form and local day with views.
        segments: one row per segment and local day.
        planted_bundles: pairs of Shopify product ids planted to be bought together.
        substitutes: pairs of product ids planted to (almost) never share a basket.
    """

    public_id: str
    timezone: str
    as_of: datetime
    orders: int
    order_value: Decimal
    line_items: int
    quantity: int
    refunds: int
    refund_amount: Decimal
    cancellations: int
    cancellation_amount: Decimal
    customers: int
    campaigns: list[CampaignTruth] = field(default_factory=list)
    flows: list[FlowTruth] = field(default_factory=list)
    forms: list[FormTruth] = field(default_factory=list)
    segments: list[SegmentTruth] = field(default_factory=list)
    planted_bundles: list[tuple[str, str]] = field(default_factory=list)
    substitutes: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (Decimals as strings, dates ISO)."""
        return _jsonable(asdict(self))  # type: ignore[no-any-return]


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@lru_cache(maxsize=8)
def build_store(seed: int, account: int, orders: int, anchor: datetime) -> Store:
    """A store, cached per process (building a large one takes seconds)."""
    return Store(seed, account, orders, anchor)


def _cents(x: Any) -> Decimal:
    return Decimal(int(x)) / 100


def truth_for_store(store: Store, stats: StatsEngine, as_of: datetime) -> GroundTruth:
    """Ground truth of a built store.

    Args:
        store: the store.
        stats: its statistics engine.
        as_of: cut-off time.

    Returns:
        The ground truth.
    """
    t = int(as_of.timestamp())
    s = store
    n = int(np.searchsorted(s.order_ts, t, side="right"))
    nr = int(np.searchsorted(s.r_ts, t, side="right"))
    nc = int(np.searchsorted(s.c_ts, t, side="right"))
    m = s.marketing

    def local(day: int) -> date:
        return date(1970, 1, 1) + timedelta(days=day)

    campaigns = []
    for ci, counts in sorted(stats.campaign_counts(t).items()):
        c = m.campaigns[ci]
        campaigns.append(
            CampaignTruth(
                campaign_id=c.id,
                campaign_name=c.name,
                campaign_message_id=c.message_id,
                send_channel=CHANNEL_TO_REPORT[c.channel],
                date=local(s.local_day_of(c.send_ts)),
                stats=MessageStats(counts, message_statistics(counts, c.channel == "sms")),
            )
        )
    flows = []
    for (mi, day), counts in sorted(stats.flow_counts(t).items()):
        msg = m.flow_messages[mi]
        flow = m.flows[msg.flow_index]
        flows.append(
            FlowTruth(
                flow_id=flow.id,
                flow_name=flow.name,
                flow_message_id=msg.id,
                flow_message_name=msg.name,
                send_channel=CHANNEL_TO_REPORT[msg.channel],
                date=local(day),
                stats=MessageStats(counts, message_statistics(counts, msg.channel == "sms")),
            )
        )
    forms = [
        FormTruth(m.forms[fi].id, m.forms[fi].name, local(day), form_statistics(v))
        for (fi, day), v in sorted(stats.form_counts(t).items())
    ]
    segments = [
        SegmentTruth(
            m.segments[si].id,
            m.segments[si].name,
            local(day),
            v["total_members"],
            v["members_added"],
            v["members_removed"],
            v["net_members_changed"],
        )
        for (si, day), v in sorted(stats.segment_counts(t).items())
    ]
    pid = s.catalog.product_ids
    return GroundTruth(
        public_id=s.info.public_id,
        timezone=s.info.timezone,
        as_of=as_of,
        orders=n,
        order_value=_cents(s.order_value[:n].sum()),
        line_items=int(s.line_cum[n]),
        quantity=int(s.order_qty[:n].sum()),
        refunds=nr,
        refund_amount=_cents(s.r_amount[:nr].sum()),
        cancellations=nc,
        cancellation_amount=_cents(s.c_amount[:nc].sum()),
        customers=len(np.unique(s.order_customer[:n])),
        campaigns=campaigns,
        flows=flows,
        forms=forms,
        segments=segments,
        planted_bundles=[(str(pid[a]), str(pid[b])) for a, b in s.catalog.bundles],
        substitutes=[(str(pid[a]), str(pid[b])) for a, b in s.catalog.substitutes],
    )


def ground_truth(
    seed: int = 42,
    scale: str | int = "tiny",
    account_index: int = 0,
    as_of: datetime | None = None,
    now: datetime | None = None,
) -> GroundTruth:
    """The totals a correct sync of a simulated account must produce.

    Args:
        seed: store seed (as given to the simulator).
        scale: store scale (as given to the simulator).
        account_index: which account (0-based).
        as_of: count only events with a datetime at or before this time; defaults to ``now``.
        now: the simulator's starting clock (``SimulatorConfig.now``); ``None`` means today at
            00:00 UTC, as for the simulator.

    Returns:
        The ground truth of that account.
    """
    anchor = resolve_now(now)
    store = build_store(seed, account_index, parse_scale(scale), anchor)
    cut = anchor if as_of is None else as_of
    return truth_for_store(store, stats_engine(store), cut)


_ENGINES: dict[int, StatsEngine] = {}


def stats_engine(store: Store) -> StatsEngine:
    """The (cached) statistics engine of a store."""
    engine = _ENGINES.get(id(store))
    if engine is None or engine.store is not store:
        engine = StatsEngine(store)
        _ENGINES[id(store)] = engine
    return engine
