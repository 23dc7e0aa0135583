"""Marketing objects of a store: campaigns (with tags), flows with their messages, sign-up forms
and segments, plus the engagement funnels the Reporting API returns for them.

Funnel numbers that do not come from orders (recipients, opens, clicks ...) are drawn from hashes
of the object and day; conversions are counted from the orders attributed to the campaign or flow
message, so reports and orders always agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.ids import mix, short_id, ulid_like

TAG_NAMES = [
    "Newsletter",
    "Promo",
    "Product Launch",
    "Holiday",
    "VIP",
    "Flash Sale",
    "Seasonal",
    "Re-engagement",
]
CAMPAIGN_THEMES = [
    "Spring Sale",
    "New Arrivals",
    "Weekend Flash Sale",
    "Back in Stock",
    "Bestsellers Edit",
    "Free Shipping Weekend",
    "Gift Guide",
    "Black Friday Early Access",
    "Cyber Monday",
    "Summer Lookbook",
    "Member Exclusive",
    "Last Chance",
    "Behind the Brand",
    "Customer Favourites",
]
#: (flow name, trigger type, [(message name, channel, delay days)], weight in flow conversions)
FLOW_DEFS: list[tuple[str, str, list[tuple[str, str, int]], float]] = [
    (
        "Welcome Series",
        "Added to List",
        [("Welcome 1: Hello", "email", 0), ("Welcome 2: Our Story", "email", 2),
         ("Welcome 3: Bestsellers", "email", 4)],
        0.25,
    ),
    (
        "Abandoned Cart",
        "Metric",
        [("Cart Reminder", "email", 0), ("Cart Reminder SMS", "sms", 1),
         ("Cart Last Call", "email", 2)],
        0.35,
    ),
    ("Browse Abandonment", "Metric", [("You Looked At", "email", 0)], 0.1),
    (
        "Post-Purchase",
        "Metric",
        [("Thank You", "email", 0), ("Review Request", "email", 10)],
        0.15,
    ),
    ("Win-back", "Metric", [("We Miss You", "email", 0), ("Win-back Offer", "email", 7)], 0.1),
    ("Back in Stock", "Metric", [("Back in Stock Alert", "mobile_push", 0)], 0.05),
]  # fmt: skip
FORM_DEFS: list[tuple[str, str, float]] = [
    ("Welcome Popup 10% Off", "live", 1.0),
    ("Exit Intent Flyout", "live", 0.5),
    ("Footer Newsletter Embed", "live", 0.3),
    ("Holiday Giveaway", "draft", 0.15),
]
SEGMENT_DEFS: list[tuple[str, float, float]] = [
    ("Engaged (30 days)", 0.9, 0.06),
    ("VIP Customers", 0.06, 0.01),
    ("Repeat Purchasers", 0.25, 0.008),
    ("Churn Risk", 0.3, 0.03),
    ("Newsletter Subscribers", 1.6, 0.004),
    ("SMS Subscribers", 0.35, 0.006),
]
CHANNEL_TO_REPORT = {"email": "email", "sms": "sms", "mobile_push": "push-notification"}


@dataclass(frozen=True)
class Campaign:
    """One campaign with its single message.

    Attributes:
        index: position in the store's campaign list (sorted by send time).
        id: campaign id.
        message_id: id of its campaign message.
        name: campaign name.
        channel: ``email``, ``sms`` or ``mobile_push``.
        send_ts: send time, epoch seconds.
        created_ts: creation time, epoch seconds.
        tag_indices: indices into :data:`TAG_NAMES`.
        subject: e-mail subject, SMS body or push title.
    """

    index: int
    id: str
    message_id: str
    name: str
    channel: str
    send_ts: int
    created_ts: int
    tag_indices: tuple[int, ...]
    subject: str


@dataclass(frozen=True)
class FlowMessage:
    """One send action of a flow and its message.

    Attributes:
        index: position in the store's flat list of flow messages.
        flow_index: index of the flow.
        action_id: flow action id.
        id: flow message id.
        name: message name.
        channel: ``email``, ``sms`` or ``mobile_push``.
        delay_days: time delay before this message in the flow.
        volume: relative daily recipients.
    """

    index: int
    flow_index: int
    action_id: str
    id: str
    name: str
    channel: str
    delay_days: int
    volume: float


@dataclass(frozen=True)
class Flow:
    """One flow.

    Attributes:
        index: position in the store's flow list.
        id: flow id.
        name: flow name.
        trigger_type: Klaviyo trigger type.
        created_ts: creation time, epoch seconds.
        messages: indices of its messages in the flat message list.
        delay_action_ids: ids of the time-delay actions between messages.
        weight: share of flow-attributed orders.
    """

    index: int
    id: str
    name: str
    trigger_type: str
    created_ts: int
    messages: tuple[int, ...]
    delay_action_ids: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Form:
    """One sign-up form.

    Attributes:
        index: position in the list.
        id: form id.
        name: form name.
        status: ``live`` or ``draft``.
        created_ts: creation time.
        traffic: relative daily views.
        version_ids: ids of its versions.
    """

    index: int
    id: str
    name: str
    status: str
    created_ts: int
    traffic: float
    version_ids: tuple[str, ...]


@dataclass(frozen=True)
class Segment:
    """One segment.

    Attributes:
        index: position in the list.
        id: segment id.
        name: segment name.
        created_ts: creation time.
        size: size relative to the number of customers.
        churn: daily share of members that leave (and are replaced by others joining).
    """

    index: int
    id: str
    name: str
    created_ts: int
    size: float
    churn: float


@dataclass(frozen=True)
class Marketing:
    """All marketing objects of one store.

    Attributes:
        campaigns: campaigns sorted by send time (history and the scheduled future).
        campaign_send_ts: their send times as an array (for attribution look-ups).
        flows: the flows.
        flow_messages: all flow messages, flow by flow.
        flow_message_cum_weight: cumulative share of flow-attributed orders per message.
        forms: the sign-up forms.
        segments: the segments.
        tag_ids: tag id per entry of :data:`TAG_NAMES`.
    """

    campaigns: list[Campaign]
    campaign_send_ts: npt.NDArray[np.int64]
    flows: list[Flow]
    flow_messages: list[FlowMessage]
    flow_message_cum_weight: npt.NDArray[np.float64]
    forms: list[Form]
    segments: list[Segment]
    tag_ids: list[str]


def build_marketing(seed: int, account: int, first_day: int, end_day: int) -> Marketing:
    """Generate the marketing objects of one store.

    Args:
        seed: store seed.
        account: account index.
        first_day: first UTC day (days since the epoch) of the history.
        end_day: first UTC day after the generated future.

    Returns:
        Campaigns, flows, forms and segments.
    """
    rnd = random.Random(mix(seed, account, "marketing"))
    tag_ids = [short_id(seed, account, "tag", name, length=8) for name in TAG_NAMES]
    start_ts = first_day * 86_400
    raw: list[tuple[int, str]] = []
    # Cadence: email about twice a week, SMS about three times a month, push twice a month.
    for channel, mean_gap in (("email", 3.5), ("sms", 10.0), ("mobile_push", 15.0)):
        day = first_day + 2 + rnd.random() * mean_gap
        while day < end_day:
            hour = rnd.choice([13, 14, 15, 16, 17, 22, 23])
            ts = int(int(day) * 86_400 + hour * 3600 + rnd.randrange(0, 60) * 60)
            raw.append((ts, channel))
            day += max(1.0, rnd.expovariate(1.0 / mean_gap))
    raw.sort()
    campaigns: list[Campaign] = []
    for i, (ts, channel) in enumerate(raw):
        theme = rnd.choice(CAMPAIGN_THEMES)
        when = datetime.fromtimestamp(ts, UTC)
        prefix = {"email": "", "sms": "SMS: ", "mobile_push": "Push: "}[channel]
        name = f"{prefix}{theme} {when:%Y-%m-%d}"
        n_tags = rnd.choice([0, 1, 1, 1, 2])
        tags = tuple(sorted(rnd.sample(range(len(TAG_NAMES)), n_tags)))
        campaigns.append(
            Campaign(
                index=i,
                id=ulid_like(seed, account, "campaign", i),
                message_id=ulid_like(seed, account, "campaign-message", i),
                name=name,
                channel=channel,
                send_ts=ts,
                created_ts=max(start_ts - 86_400 * 30, ts - rnd.randint(1, 6) * 86_400),
                tag_indices=tags,
                subject=f"{theme}: {rnd.choice(['ends soon', 'is here', 'just for you'])}",
            )
        )
    flows: list[Flow] = []
    messages: list[FlowMessage] = []
    weights: list[float] = []
    created = start_ts - 86_400 * 20
    for f, (fname, trigger, msgs, weight) in enumerate(FLOW_DEFS):
        indices = []
        delays = []
        for k, (mname, channel, delay) in enumerate(msgs):
            indices.append(len(messages))
            if k:
                delays.append(str(60_000_000 + mix(seed, account, "delay", f, k) % 9_000_000))
            messages.append(
                FlowMessage(
                    index=len(messages),
                    flow_index=f,
                    action_id=str(50_000_000 + mix(seed, account, "action", f, k) % 9_000_000),
                    id=short_id(seed, account, "flow-message", f, k),
                    name=mname,
                    channel=channel,
                    delay_days=delay,
                    volume=weight * 0.8**k,
                )
            )
            weights.append(weight * 0.7**k)
        flows.append(
            Flow(
                index=f,
                id=short_id(seed, account, "flow", f),
                name=fname,
                trigger_type=trigger,
                created_ts=created + f * 86_400,
                messages=tuple(indices),
                delay_action_ids=tuple(delays),
                weight=weight,
            )
        )
    cum = np.cumsum(np.array(weights))
    cum /= cum[-1]
    forms = [
        Form(
            index=i,
            id=short_id(seed, account, "form", i),
            name=name,
            status=status,
            created_ts=created + i * 3 * 86_400,
            traffic=traffic,
            version_ids=tuple(
                str(3_000_000 + mix(seed, account, "form-version", i, v) % 900_000)
                for v in range(1 + (i % 2))
            ),
        )
        for i, (name, status, traffic) in enumerate(FORM_DEFS)
    ]
    segments = [
        Segment(
            index=i,
            id=short_id(seed, account, "segment", i),
            name=name,
            created_ts=created + i * 86_400,
            size=size,
            churn=churn,
        )
        for i, (name, size, churn) in enumerate(SEGMENT_DEFS)
    ]
    return Marketing(
        campaigns=campaigns,
        campaign_send_ts=np.array([c.send_ts for c in campaigns], dtype=np.int64),
        flows=flows,
        flow_messages=messages,
        flow_message_cum_weight=cum,
        forms=forms,
        segments=segments,
        tag_ids=tag_ids,
    )


def iso(ts: float) -> str:
    """Epoch seconds as an ISO-8601 string with ``+00:00``."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def day_start(day: int) -> datetime:
    """The UTC midnight of a day number (days since the epoch)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)
