"""Comparisons of a synced warehouse with the simulator's ground truth, shared by the sync tests.

The event-derived tables are compared exactly (counts, money to the cent, distinct customers,
every order id once), and the customer-context fields are re-derived independently with pandas
from the warehouse's own order list (sorted by time, then order id, as the sync documents).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from klaviyo_analytics.simulator import GroundTruth

#: One query (so a subprocess-based test pays for one CLI call) returning every order row plus
#: line-item and refund aggregates, tagged by ``k``. The query CLI adds FINAL to every table.
DUMP_SQL = (
    "SELECT 'o' AS k, order_id AS a, customer_id AS b, toString(order_timestamp) AS c, "
    "toString(order_value) AS d, toString(order_date) AS e, is_first_order AS f, "
    "order_count_for_customer AS g, days_since_last_order AS h FROM klaviyo_orders "
    "UNION ALL SELECT 'li', toString(count()), toString(sum(quantity)), '', '', '', 0, 0, 0 "
    "FROM klaviyo_order_line_items "
    "UNION ALL SELECT 'r', event_type, toString(count()), toString(sum(refund_amount)), '', '', "
    "0, 0, 0 FROM refund_cancelled_orders GROUP BY event_type"
)


def dump_in_process(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """``DUMP_SQL`` rows read in-process (tuples) as the dicts the JSON CLI output gives."""
    keys = ("k", "a", "b", "c", "d", "e", "f", "g", "h")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def dump_sql_for(kid: str) -> str:
    """``DUMP_SQL`` restricted to one Klaviyo account (in-process, FINAL written out)."""
    where = f" WHERE klaviyo_public_id = '{kid}'"
    parts = DUMP_SQL.split(" UNION ALL ")
    return " UNION ALL ".join(
        [
            parts[0] + " FINAL" + where,
            parts[1] + " FINAL" + where,
            parts[2].replace(" GROUP BY", " FINAL" + where + " GROUP BY"),
        ]
    )


def orders_frame(dump: list[dict[str, Any]]) -> pd.DataFrame:
    """The order rows of a dump as a DataFrame (timestamps UTC, dates as datetimes)."""
    rows = [r for r in dump if r["k"] == "o"]
    return pd.DataFrame(
        {
            "order_id": [str(r["a"]) for r in rows],
            "customer_id": [str(r["b"]) for r in rows],
            "ts": pd.to_datetime([str(r["c"]) for r in rows], utc=True),
            "value": [Decimal(str(r["d"])) for r in rows],
            "order_date": pd.to_datetime([str(r["e"]) for r in rows]),
            "is_first_order": [int(r["f"]) for r in rows],
            "order_count_for_customer": [int(r["g"]) for r in rows],
            "days_since_last_order": [int(r["h"]) for r in rows],
        }
    )


def expected_context(df: pd.DataFrame) -> pd.DataFrame:
    """is_first_order / order_count_for_customer / days_since_last_order derived with pandas."""
    s = df.sort_values(["customer_id", "ts", "order_id"]).copy()
    s["exp_count"] = s.groupby("customer_id").cumcount() + 1
    s["exp_first"] = (s["exp_count"] == 1).astype(int)
    prev = s.groupby("customer_id")["order_date"].shift(1)
    s["exp_days"] = (s["order_date"] - prev).dt.days.fillna(0).astype(int)
    return s


def assert_context(df: pd.DataFrame) -> pd.DataFrame:
    """The stored context fields equal the pandas derivation for every order.

    Returns:
        The frame with the expected columns (for further checks by the caller).
    """
    s = expected_context(df)
    bad = s[
        (s["is_first_order"] != s["exp_first"])
        | (s["order_count_for_customer"] != s["exp_count"])
        | (s["days_since_last_order"] != s["exp_days"])
    ]
    assert bad.empty, f"{len(bad)} orders with wrong customer context:\n{bad.head(10)}"
    assert (s["exp_count"] > 1).any(), "no repeat customer: the context check checked nothing"
    return s


def assert_events_match(dump: list[dict[str, Any]], truth: GroundTruth) -> pd.DataFrame:
    """Orders, line items, refunds and cancellations equal the truth exactly; context right.

    Returns:
        The orders frame.
    """
    df = orders_frame(dump)
    assert df["order_id"].is_unique, "an order appears twice in FINAL"
    got = (len(df), sum(df["value"], Decimal(0)), df["customer_id"].nunique())
    assert got == (truth.orders, truth.order_value, truth.customers)
    li = next((r for r in dump if r["k"] == "li"), None)
    assert li is not None
    assert (int(li["a"]), int(li["b"] or 0)) == (truth.line_items, truth.quantity)
    refunds = {str(r["a"]): (int(r["b"]), Decimal(str(r["c"]))) for r in dump if r["k"] == "r"}
    assert refunds.get("refund", (0, Decimal(0))) == (truth.refunds, truth.refund_amount)
    assert refunds.get("cancelled", (0, Decimal(0))) == (
        truth.cancellations,
        truth.cancellation_amount,
    )
    assert_context(df)
    return df


def assert_reports_match(wh: Any, kid: str, truth: GroundTruth, first: date) -> None:
    """campaign/flow/form/segment statistics equal the truth for days ``first`` to ``as_of``.

    Args:
        wh: the warehouse (``rows(sql, params)``).
        kid: the Klaviyo public id.
        truth: the ground truth (its ``as_of`` bounds the days).
        first: the first account-local day the sync read reports for.
    """
    last = truth.as_of.astimezone(ZoneInfo(truth.timezone)).date()
    p: dict[str, Any] = {"kid": kid, "last": last}
    camp = {
        r[0]: tuple(r[1:])
        for r in wh.rows(
            "SELECT campaign_id, date, campaign_name, send_channel, recipients, conversion_value, "
            "round(open_rate_pct, 4) FROM campaign_statistics AS c FINAL "
            "WHERE klaviyo_public_id = {kid:String}",
            p,
        )
    }
    assert camp == {
        c.campaign_id: (
            c.date,
            c.campaign_name,
            # the spec's tables say 'push' where the Reporting API says 'push-notification'
            {"push-notification": "push"}.get(c.send_channel, c.send_channel),
            float(c.stats.counts.recipients),
            float(c.stats.counts.conversion_value),
            round(c.stats.statistics["open_rate"] * 100, 4),
        )
        for c in truth.campaigns
        if first <= c.date <= last
    }
    flows = {
        (r[0], r[1]): tuple(r[2:])
        for r in wh.rows(
            "SELECT flow_message_id, date, flow_name, flow_message_name, recipients, "
            "conversion_value FROM flow_statistics AS f FINAL "
            "WHERE klaviyo_public_id = {kid:String} AND date <= {last:Date}",
            p,
        )
    }
    assert flows == {
        (f.flow_message_id, f.date): (
            f.flow_name,
            f.flow_message_name,
            float(f.stats.counts.recipients),
            float(f.stats.counts.conversion_value),
        )
        for f in truth.flows
        if first <= f.date <= last
    }
    forms = {
        (r[0], r[1]): tuple(r[2:])
        for r in wh.rows(
            "SELECT form_id, date, form_name, viewed_form, submits FROM form_statistics AS f "
            "FINAL WHERE klaviyo_public_id = {kid:String} AND date <= {last:Date}",
            p,
        )
    }
    assert forms == {
        (f.form_id, f.date): (f.form_name, f.statistics["viewed_form"], f.statistics["submits"])
        for f in truth.forms
        if first <= f.date <= last
    }
    segs = {
        (r[0], r[1]): tuple(r[2:])
        for r in wh.rows(
            "SELECT segment_id, date, segment_name, total_members, new_members, removed_members, "
            "daily_change FROM segment_statistics AS s FINAL "
            "WHERE klaviyo_public_id = {kid:String} AND date <= {last:Date}",
            p,
        )
    }
    assert segs == {
        (s.segment_id, s.date): (
            s.segment_name,
            s.total_members,
            s.members_added,
            s.members_removed,
            s.net_members_changed,
        )
        for s in truth.segments
        if first <= s.date <= last
    }
