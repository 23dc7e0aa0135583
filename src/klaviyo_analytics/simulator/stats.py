"""Reporting numbers of a store: campaign, flow-message, form and segment statistics.

One implementation feeds both the Reporting API endpoints and :func:`ground_truth`, and both take
an ``as_of`` time: conversions count only orders placed by then, and days that have not started by
then have no activity. Engagement counts are drawn per object and day; conversions are counted
from the orders attributed to the object, and the funnel is then made consistent
(recipients >= delivered >= opens_unique >= clicks_unique >= conversion_uniques).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.store import Store

I64 = npt.NDArray[np.int64]

CAMPAIGN_STATISTICS = (
    "average_order_value", "bounce_rate", "bounced", "bounced_or_failed",
    "bounced_or_failed_rate", "click_rate", "click_to_open_rate", "clicks", "clicks_unique",
    "conversion_rate", "conversion_uniques", "conversion_value", "conversions", "delivered",
    "delivery_rate", "failed", "failed_rate", "message_segment_count_sum", "open_rate", "opens",
    "opens_unique", "recipients", "revenue_per_recipient", "spam_complaint_rate",
    "spam_complaints", "text_message_credit_usage_amount", "text_message_roi",
    "text_message_spend", "unsubscribe_rate", "unsubscribe_uniques", "unsubscribes",
)  # fmt: skip
FORM_STATISTICS = (
    "closed_form", "closed_form_uniques", "qualified_form", "qualified_form_uniques",
    "submit_rate", "submits", "submitted_form_step", "submitted_form_step_uniques",
    "viewed_form", "viewed_form_step", "viewed_form_step_uniques", "viewed_form_uniques",
)  # fmt: skip
SEGMENT_STATISTICS = ("members_added", "members_removed", "net_members_changed", "total_members")
COUNT_FIELDS = (
    "recipients", "delivered", "bounced", "failed", "opens", "opens_unique", "clicks",
    "clicks_unique", "conversions", "conversion_uniques", "conversion_value_cents",
    "unsubscribes", "unsubscribe_uniques", "spam_complaints", "message_segment_count_sum",
)  # fmt: skip
SMS_CREDIT_CENTS = 1  # one credit per message segment, billed at $0.01


@dataclass(frozen=True)
class MessageCounts:
    """Additive counts of one message (campaign message or flow message on one day).

    Attributes mirror the Reporting API's count statistics; ``conversion_value_cents`` is the
    attributed order value in cents.
    """

    recipients: int = 0
    delivered: int = 0
    bounced: int = 0
    failed: int = 0
    opens: int = 0
    opens_unique: int = 0
    clicks: int = 0
    clicks_unique: int = 0
    conversions: int = 0
    conversion_uniques: int = 0
    conversion_value_cents: int = 0
    unsubscribes: int = 0
    unsubscribe_uniques: int = 0
    spam_complaints: int = 0
    message_segment_count_sum: int = 0

    def __add__(self, other: MessageCounts) -> MessageCounts:
        return MessageCounts(*(getattr(self, f) + getattr(other, f) for f in COUNT_FIELDS))

    @property
    def conversion_value(self) -> Decimal:
        """Attributed order value, exact."""
        return Decimal(self.conversion_value_cents) / 100


def _ratio(a: float, b: float) -> float:
    return round(a / b, 6) if b else 0.0


def message_statistics(c: MessageCounts, sms: bool) -> dict[str, float]:
    """All 31 campaign/flow statistics of summed counts (rates as fractions in [0, 1]).

    Args:
        c: the counts.
        sms: whether the counts are of SMS messages (text-message spend statistics).

    Returns:
        Statistic name to value; counts are whole numbers, money in dollars.
    """
    value = c.conversion_value_cents / 100
    spend = c.message_segment_count_sum * SMS_CREDIT_CENTS / 100 if sms else 0.0
    return {
        "average_order_value": round(value / c.conversions, 2) if c.conversions else 0.0,
        "bounce_rate": _ratio(c.bounced, c.recipients),
        "bounced": c.bounced,
        "bounced_or_failed": c.bounced + c.failed,
        "bounced_or_failed_rate": _ratio(c.bounced + c.failed, c.recipients),
        "click_rate": _ratio(c.clicks_unique, c.delivered),
        "click_to_open_rate": _ratio(c.clicks_unique, c.opens_unique),
        "clicks": c.clicks,
        "clicks_unique": c.clicks_unique,
        "conversion_rate": _ratio(c.conversion_uniques, c.delivered),
        "conversion_uniques": c.conversion_uniques,
        "conversion_value": round(value, 2),
        "conversions": c.conversions,
        "delivered": c.delivered,
        "delivery_rate": _ratio(c.delivered, c.recipients),
        "failed": c.failed,
        "failed_rate": _ratio(c.failed, c.recipients),
        "message_segment_count_sum": c.message_segment_count_sum,
        "open_rate": _ratio(c.opens_unique, c.delivered),
        "opens": c.opens,
        "opens_unique": c.opens_unique,
        "recipients": c.recipients,
        "revenue_per_recipient": round(value / c.recipients, 4) if c.recipients else 0.0,
        "spam_complaint_rate": _ratio(c.spam_complaints, c.delivered),
        "spam_complaints": c.spam_complaints,
        "text_message_credit_usage_amount": c.message_segment_count_sum if sms else 0,
        "text_message_roi": round(value / spend, 4) if spend else 0.0,
        "text_message_spend": round(spend, 2),
        "unsubscribe_rate": _ratio(c.unsubscribe_uniques, c.delivered),
        "unsubscribe_uniques": c.unsubscribe_uniques,
        "unsubscribes": c.unsubscribes,
    }


def form_statistics(v: dict[str, int]) -> dict[str, float]:
    """The 12 form statistics of summed form counts (``submit_rate`` derived)."""
    out: dict[str, float] = {k: v[k] for k in FORM_STATISTICS if k != "submit_rate"}
    out["submit_rate"] = _ratio(v["submits"], v["viewed_form_uniques"])
    return out


def _funnel(
    base: dict[str, I64], conv: I64, uniq: I64, value: I64, channel: str
) -> list[MessageCounts]:
    """Make drawn funnels consistent with the counted conversions."""
    clicks_u = np.maximum(base["clicks_unique"], uniq)
    opens_u = clicks_u.copy() if channel == "sms" else np.maximum(base["opens_unique"], clicks_u)
    delivered = np.maximum(base["delivered"], opens_u)
    recipients = delivered + base["bounced"] + base["failed"]
    opens = np.maximum(base["opens"], opens_u)
    clicks = np.maximum(base["clicks"], clicks_u)
    unsub_u = np.minimum(base["unsubscribe_uniques"], delivered)
    segments = recipients * (1 + (base["long"] > 0)) if channel == "sms" else recipients * 0
    out = []
    for i in range(len(recipients)):
        out.append(
            MessageCounts(
                recipients=int(recipients[i]),
                delivered=int(delivered[i]),
                bounced=int(base["bounced"][i]),
                failed=int(base["failed"][i]),
                opens=int(opens[i]),
                opens_unique=int(opens_u[i]),
                clicks=int(clicks[i]),
                clicks_unique=int(clicks_u[i]),
                conversions=int(conv[i]),
                conversion_uniques=int(uniq[i]),
                conversion_value_cents=int(value[i]),
                unsubscribes=int(unsub_u[i] + base["unsub_extra"][i]),
                unsubscribe_uniques=int(unsub_u[i]),
                spam_complaints=int(base["spam"][i]),
                message_segment_count_sum=int(segments[i]),
            )
        )
    return out


def _draw(rng: np.random.Generator, audience: I64, channel: str) -> dict[str, I64]:
    """Engagement counts for audiences of one channel."""
    n = len(audience)
    recipients = rng.binomial(audience, 0.9)
    bounce_p = 0.006 if channel == "email" else 0.0
    fail_p = 0.02 if channel == "sms" else (0.01 if channel == "mobile_push" else 0.0)
    bounced = rng.binomial(recipients, bounce_p)
    failed = rng.binomial(recipients - bounced, fail_p)
    delivered = recipients - bounced - failed
    open_p = {"email": 0.42, "sms": 0.0, "mobile_push": 0.08}[channel]
    click_p = {"email": 0.06, "sms": 0.09, "mobile_push": 0.3}[channel]
    opens_u = rng.binomial(delivered, open_p * rng.uniform(0.8, 1.2, n).clip(0, 1))
    clicks_u = rng.binomial(delivered if channel == "sms" else opens_u, click_p)
    return {
        "delivered": delivered,
        "bounced": bounced,
        "failed": failed,
        "opens_unique": opens_u,
        "opens": opens_u + rng.binomial(opens_u, 0.45),
        "clicks_unique": clicks_u,
        "clicks": clicks_u + rng.binomial(clicks_u, 0.3),
        "unsubscribe_uniques": rng.binomial(delivered, 0.002),
        "unsub_extra": rng.binomial(delivered, 0.0002),
        "spam": rng.binomial(delivered, 0.0003),
        "long": rng.binomial(1, 0.3, n),
    }


class StatsEngine:
    """Reporting statistics of one store as of any time.

    Args:
        store: the store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        s = store
        self.first_local_day = s.local_day_of(s.start_ts)
        self.last_local_day = s.local_day_of(s.end_ts - 1)
        self.n_days = self.last_local_day - self.first_local_day + 1

    def _rng(self, *parts: int) -> np.random.Generator:
        return np.random.default_rng([self.store.seed & 0xFFFFFFFF, self.store.account, *parts])

    def _conversions(
        self, kind: int, groups: I64, n_groups: int, as_of: int
    ) -> tuple[I64, I64, I64]:
        """Attributed orders, unique customers and value per group index."""
        s = self.store
        mask = (s.attr_kind == kind) & (s.order_ts <= as_of) & (groups >= 0) & (groups < n_groups)
        g = groups[mask].astype(np.int64)
        conv = np.bincount(g, minlength=n_groups).astype(np.int64)
        value = np.bincount(g, weights=s.order_value[mask], minlength=n_groups)
        pairs = np.unique(g * (s.customers_total + 1) + s.order_customer[mask])
        uniq = np.bincount(pairs // (s.customers_total + 1), minlength=n_groups).astype(np.int64)
        return conv, uniq, np.rint(value).astype(np.int64)

    # -- campaigns ------------------------------------------------------------------------------

    @cached_property
    def _campaign_base(self) -> dict[str, dict[str, I64]]:
        s = self.store
        out: dict[str, dict[str, I64]] = {}
        for ch in ("email", "sms", "mobile_push"):
            idx = np.array([c.index for c in s.marketing.campaigns if c.channel == ch], dtype=int)
            share = {"email": 2.4, "sms": 0.5, "mobile_push": 0.3}[ch]
            audience = np.array(
                [
                    int(150 * share + share * s.customers_before(s.marketing.campaigns[i].send_ts))
                    for i in idx
                ],
                dtype=np.int64,
            )
            base = _draw(self._rng(11, ["email", "sms", "mobile_push"].index(ch)), audience, ch)
            base["index"] = idx
            out[ch] = base
        return out

    def campaign_counts(self, as_of: int) -> dict[int, MessageCounts]:
        """Counts per campaign index of every campaign sent by ``as_of``.

        Args:
            as_of: epoch seconds.

        Returns:
            Campaign index to its message's lifetime counts (attributed to its send date).
        """
        s = self.store
        n = len(s.marketing.campaigns)
        conv, uniq, value = self._conversions(1, s.attr_target.astype(np.int64), n, as_of)
        out: dict[int, MessageCounts] = {}
        for ch, base in self._campaign_base.items():
            idx = base["index"]
            rows = _funnel(base, conv[idx], uniq[idx], value[idx], ch)
            for i, row in zip(idx, rows, strict=True):
                if s.marketing.campaigns[int(i)].send_ts <= as_of:
                    out[int(i)] = row
        return out

    # -- flows ----------------------------------------------------------------------------------

    @cached_property
    def _flow_base(self) -> list[dict[str, I64]]:
        s = self.store
        rates = np.interp(
            np.arange(self.n_days),
            np.arange(len(s.day_rate)),
            s.day_rate,
        )
        out = []
        for m in s.marketing.flow_messages:
            rng = self._rng(12, m.index)
            audience = rng.poisson(np.maximum(rates * m.volume * 6.0, 0.5) + 1).astype(np.int64)
            out.append(_draw(rng, audience, m.channel))
        return out

    def flow_counts(self, as_of: int) -> dict[tuple[int, int], MessageCounts]:
        """Counts per (flow message index, local day number) for days begun before ``as_of``.

        Conversions are attributed to the day the message was sent (the order's local day minus
        the attribution lag), as the Reporting API attributes by send date.
        """
        s = self.store
        msgs = s.marketing.flow_messages
        send_day = np.clip(
            s.local_day(s.order_ts) - s.attr_lag - self.first_local_day, 0, self.n_days - 1
        )
        target = s.attr_target.astype(np.int64)
        groups = np.where(s.attr_kind == 2, target * self.n_days + send_day, -1)
        total = len(msgs) * self.n_days
        conv, uniq, value = self._conversions(2, groups, total, as_of)
        last = s.local_day_of(as_of - 1) - self.first_local_day
        out: dict[tuple[int, int], MessageCounts] = {}
        for m in msgs:
            base = self._flow_base[m.index]
            sl = slice(m.index * self.n_days, m.index * self.n_days + last + 1)
            cut = {k: v[: last + 1] for k, v in base.items()}
            rows = _funnel(cut, conv[sl], uniq[sl], value[sl], m.channel)
            for d, row in enumerate(rows):
                if row.recipients:
                    out[(m.index, self.first_local_day + d)] = row
        return out

    # -- forms ----------------------------------------------------------------------------------

    @cached_property
    def _form_base(self) -> list[dict[str, I64]]:
        s = self.store
        out = []
        rates = np.interp(np.arange(self.n_days), np.arange(len(s.day_rate)), s.day_rate)
        for f in s.marketing.forms:
            rng = self._rng(13, f.index)
            live = f.status == "live"
            views_u = rng.poisson(rates * 25 * f.traffic + 3) * live
            views = views_u + rng.binomial(views_u, 0.25)
            step_u = rng.binomial(views_u, 0.6)
            submits_u = rng.binomial(step_u, 0.12)
            closed_u = rng.binomial(views_u - submits_u, 0.55)
            out.append(
                {
                    "viewed_form": views,
                    "viewed_form_uniques": views_u,
                    "viewed_form_step": step_u + rng.binomial(step_u, 0.1),
                    "viewed_form_step_uniques": step_u,
                    "submitted_form_step": submits_u + rng.binomial(submits_u, 0.05),
                    "submitted_form_step_uniques": submits_u,
                    "submits": submits_u,
                    "qualified_form": views_u + rng.binomial(views_u, 0.1),
                    "qualified_form_uniques": views_u,
                    "closed_form": closed_u + rng.binomial(closed_u, 0.1),
                    "closed_form_uniques": closed_u,
                }
            )
        return out

    def form_counts(self, as_of: int) -> dict[tuple[int, int], dict[str, int]]:
        """Counts per (form index, local day) for days begun before ``as_of`` with any views."""
        last = self.store.local_day_of(as_of - 1) - self.first_local_day
        out: dict[tuple[int, int], dict[str, int]] = {}
        for f in self.store.marketing.forms:
            base = self._form_base[f.index]
            views = base["viewed_form"]
            for d in range(min(last + 1, self.n_days)):
                if views[d]:
                    out[(f.index, self.first_local_day + d)] = {
                        k: int(v[d]) for k, v in base.items()
                    }
        return out

    # -- segments -------------------------------------------------------------------------------

    @cached_property
    def _segment_base(self) -> list[dict[str, I64]]:
        s = self.store
        customers = np.array(
            [s.customers_before((self.first_local_day + d) * 86_400) for d in range(self.n_days)]
        )
        out = []
        for seg in s.marketing.segments:
            rng = self._rng(14, seg.index)
            target = (customers * seg.size + 20).astype(np.float64)
            total = np.zeros(self.n_days, dtype=np.int64)
            added = np.zeros(self.n_days, dtype=np.int64)
            removed = np.zeros(self.n_days, dtype=np.int64)
            cur = int(target[0] * 0.8)
            churn = rng.poisson(1.0, self.n_days)
            for d in range(self.n_days):
                leave = min(cur, int(rng.binomial(cur, seg.churn)) + int(churn[d] > 2))
                gap = max(0.0, target[d] - (cur - leave))
                join = int(rng.poisson(gap * 0.3 + cur * seg.churn))
                cur = cur - leave + join
                added[d] = join
                removed[d] = leave
                total[d] = cur
            out.append({"total": total, "added": added, "removed": removed})
        return out

    def segment_counts(self, as_of: int) -> dict[tuple[int, int], dict[str, int]]:
        """``total_members``, ``members_added``, ``members_removed`` per (segment, local day)."""
        last = self.store.local_day_of(as_of - 1) - self.first_local_day
        out: dict[tuple[int, int], dict[str, int]] = {}
        for seg in self.store.marketing.segments:
            base = self._segment_base[seg.index]
            for d in range(min(last + 1, self.n_days)):
                out[(seg.index, self.first_local_day + d)] = {
                    "total_members": int(base["total"][d]),
                    "members_added": int(base["added"][d]),
                    "members_removed": int(base["removed"][d]),
                    "net_members_changed": int(base["added"][d] - base["removed"][d]),
                }
        return out
