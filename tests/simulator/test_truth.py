"""Ground truth: deterministic, equal to what the API serves, respects the clock, realistic."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import httpx
import orjson
from typer.testing import CliRunner

from klaviyo_analytics.cli.simulator import app as cli_app
from klaviyo_analytics.simulator import SimulatorServer, ground_truth
from klaviyo_analytics.simulator.config import resolve_now
from klaviyo_analytics.simulator.events import EventSource
from klaviyo_analytics.simulator.truth import build_store
from tests.simulator.conftest import NOW, metric_id, walk


def _events(client: httpx.Client, name: str, until: str | None = None) -> list[dict]:
    mid = metric_id(client, name)
    flt = f'equals(metric_id,"{mid}")'
    if until:
        flt = f"and({flt},less-or-equal(datetime,{until}))"
    return walk(client, f"/api/events?filter={flt}&page[size]=1000")


def _money(value: float | str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_served_events_sum_to_ground_truth(sim: SimulatorServer, client: httpx.Client) -> None:
    truth = ground_truth(seed=42, scale="tiny", account_index=0, now=NOW)
    assert truth == sim.ground_truth(0)
    placed = _events(client, "Placed Order")
    assert len(placed) == truth.orders > 200
    assert (
        sum(_money(e["attributes"]["event_properties"]["$value"]) for e in placed)
        == truth.order_value
    )
    lines = [
        li for e in placed for li in e["attributes"]["event_properties"]["$extra"]["line_items"]
    ]
    assert len(lines) == truth.line_items
    assert sum(li["quantity"] for li in lines) == truth.quantity
    assert 3.0 < truth.line_items / truth.orders < 4.2
    for e in placed:
        p = e["attributes"]["event_properties"]
        x = p["$extra"]
        gross = sum(_money(li["line_price"]) for li in x["line_items"])
        disc = sum(_money(li["total_discount"]) for li in x["line_items"])
        assert _money(p["$value"]) == _money(x["total_price"]) == gross - disc
        assert _money(p["Total Discounts"]) == disc
        assert p["Item Count"] == sum(li["quantity"] for li in x["line_items"])
    refunds = _events(client, "Refunded Order")
    assert len(refunds) == truth.refunds > 0
    assert (
        sum(_money(e["attributes"]["event_properties"]["$value"]) for e in refunds)
        == truth.refund_amount
    )
    order_values = {
        e["attributes"]["event_properties"]["$event_id"]: _money(
            e["attributes"]["event_properties"]["$value"]
        )
        for e in placed
    }
    refunded = Counter()
    for e in refunds:
        p = e["attributes"]["event_properties"]
        refunded[p["$event_id"]] += _money(p["$value"])
        if p["$extra"]["refund"]["refund_line_items"]:
            assert (
                _money(p["$value"]) < order_values[p["$event_id"]]
                or len(p["$extra"]["line_items"]) == 1
            )
    assert all(total <= order_values[oid] for oid, total in refunded.items())
    cancels = _events(client, "Cancelled Order")
    assert len(cancels) == truth.cancellations
    assert (
        sum(_money(e["attributes"]["event_properties"]["$value"]) for e in cancels)
        == truth.cancellation_amount
    )
    decoys = (
        _events(client, "Placed Order", None)
        if False
        else walk(
            client,
            f'/api/events?filter=equals(metric_id,"{metric_id(client, "Placed Order", "API")}")',
        )
    )
    assert decoys and not {e["id"] for e in decoys} & {e["id"] for e in placed}


def test_clock_reveals_new_orders(sim: SimulatorServer, client: httpx.Client) -> None:
    before = sim.ground_truth(0)
    sim.clock.advance(timedelta(days=20))
    after = sim.ground_truth(0)
    assert after.orders > before.orders
    assert len(_events(client, "Placed Order")) == after.orders
    assert ground_truth(seed=42, scale="tiny", now=NOW, as_of=sim.clock.now()) == after


def test_reports_match_truth(sim: SimulatorServer, client: httpx.Client) -> None:
    truth = sim.ground_truth(0)
    placed = metric_id(client, "Placed Order")
    today = truth.as_of.date()
    start = (today - timedelta(days=59)).isoformat() + "T00:00:00"
    end = (today + timedelta(days=1)).isoformat() + "T00:00:00"
    body = {"data": {"type": "flow-series-report", "attributes": {
        "statistics": ["recipients", "delivered", "opens_unique", "clicks_unique", "conversions", "conversion_value", "open_rate"],
        "timeframe": {"start": start, "end": end}, "interval": "daily", "conversion_metric_id": placed}}}  # fmt: skip
    doc = client.post("/api/flow-series-reports", json=body).json()["data"]["attributes"]
    served = {}
    for res in doc["results"]:
        g = res["groupings"]
        for i, when in enumerate(doc["date_times"]):
            served[(g["flow_message_id"], when[:10])] = {
                k: v[i] for k, v in res["statistics"].items()
            }
    expected = {
        (f.flow_message_id, f.date.isoformat()): f
        for f in truth.flows
        if f.date.isoformat() >= start[:10]
    }
    assert expected
    for key, row in expected.items():
        got = served[key]
        for stat in (
            "recipients",
            "delivered",
            "opens_unique",
            "clicks_unique",
            "conversions",
            "open_rate",
            "conversion_value",
        ):
            assert got[stat] == row.stats.statistics[stat], (key, stat)
    body = {"data": {"type": "campaign-values-report", "attributes": {
        "statistics": ["recipients", "conversions", "conversion_value"],
        "timeframe": {"key": "last_365_days"}, "conversion_metric_id": placed}}}  # fmt: skip
    res = client.post("/api/campaign-values-reports", json=body).json()["data"]["attributes"][
        "results"
    ]
    by_id = {c.campaign_id: c for c in truth.campaigns}
    assert len(res) > 50
    for r in res:
        c = by_id[r["groupings"]["campaign_id"]]
        assert r["statistics"]["conversions"] == c.stats.counts.conversions
        assert _money(r["statistics"]["conversion_value"]) == c.stats.counts.conversion_value
    attributed = sum(c.stats.counts.conversions for c in truth.campaigns)
    assert attributed > 0


def test_funnels_and_segments_are_consistent() -> None:
    truth = ground_truth(seed=42, scale="tiny", now=NOW)
    for row in [*truth.campaigns, *truth.flows]:
        c = row.stats.counts
        assert (
            c.recipients >= c.delivered >= c.opens_unique >= c.clicks_unique >= c.conversion_uniques
        )
        assert c.opens >= c.opens_unique and c.clicks >= c.clicks_unique
        assert c.conversions >= c.conversion_uniques
    assert {c.send_channel for c in truth.campaigns} == {"email", "sms", "push-notification"}
    by_seg: dict[str, list] = {}
    for s in truth.segments:
        by_seg.setdefault(s.segment_id, []).append(s)
    for rows in by_seg.values():
        for prev, cur in itertools.pairwise(rows):
            assert cur.total_members == prev.total_members + cur.net_members_changed
        assert len({r.total_members for r in rows}) > 10
    assert truth.forms and all(
        f.statistics["submits"] <= f.statistics["viewed_form_uniques"] for f in truth.forms
    )


def test_determinism_and_seed_sensitivity() -> None:
    a = ground_truth(seed=42, scale="tiny", now=NOW)
    b = ground_truth(seed=42, scale="tiny", now=NOW)
    c = ground_truth(seed=43, scale="tiny", now=NOW)
    assert a.to_dict() == b.to_dict()
    assert (a.orders, a.order_value) != (c.orders, c.order_value)
    early = ground_truth(seed=42, scale="tiny", now=NOW, as_of=NOW - timedelta(days=100))
    assert early.orders < a.orders and early.order_value < a.order_value


def test_planted_bundles_are_detectable() -> None:
    truth = ground_truth(seed=11, scale=3000, now=NOW)
    store = build_store(11, 0, 3000, resolve_now(NOW))
    ev = EventSource(store)
    baskets = [
        {li["product_id"] for li in ev.order_properties(i)["$extra"]["line_items"]}
        for i in range(truth.orders)
    ]
    for a, b in truth.planted_bundles:
        with_a = [s for s in baskets if int(a) in s]
        without_a = [s for s in baskets if int(a) not in s]
        p_b_given_a = sum(int(b) in s for s in with_a) / len(with_a)
        p_b_without_a = sum(int(b) in s for s in without_a) / len(without_a)
        assert p_b_given_a > 3 * p_b_without_a, (a, b)
    for a, b in truth.substitutes:
        assert sum(int(a) in s and int(b) in s for s in baskets) == 0


def test_cli_truth_json() -> None:
    result = CliRunner().invoke(
        cli_app, ["truth", "--scale", "tiny", "--now", NOW.isoformat(), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    truth = ground_truth(seed=42, scale="tiny", now=NOW)
    assert doc["orders"] == truth.orders and doc["order_value"] == str(truth.order_value)
    bad = CliRunner().invoke(cli_app, ["truth", "--scale", "huge"])
    assert bad.exit_code != 0
