"""The raw-page loaders (sync/sql/*_from_pages.sql) on hand-written pages, through real ClickHouse.

Each test builds a Klaviyo events page as JSON bytes, stages it exactly as the sync does
(:class:`~klaviyo_analytics.sync.pages.PageStage`) and reads the rows back with FINAL: the
field mapping of docs/event-payloads.md, money to the cent, and clear errors for bad values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
import simdjson

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import RawEventPage
from klaviyo_analytics.sync.events import _order_rows, recompute_context
from klaviyo_analytics.sync.pages import ORDER_PAGES, PageStage
from klaviyo_analytics.warehouse import Warehouse

KID = "KTEST"
LOADERS = ["line_items_from_pages.sql", "orders_from_pages.sql"]
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _event(
    props: dict[str, Any],
    *,
    when: str = "2026-03-01T03:30:00+00:00",
    profile: str = "P1",
    event_id: str = "ev1",
) -> dict[str, Any]:
    ts = datetime.fromisoformat(when).timestamp()
    return {
        "type": "event",
        "id": event_id,
        "attributes": {"timestamp": int(ts), "datetime": when, "event_properties": props},
        "relationships": {
            "profile": {"data": {"type": "profile", "id": profile}},
            "metric": {"data": {"type": "metric", "id": "M1"}},
        },
    }


def _page(*events: dict[str, Any], emails: dict[str, str] | None = None) -> bytes:
    included = [
        {"type": "profile", "id": pid, "attributes": {"email": email}}
        for pid, email in (emails or {"P1": "a@b.c"}).items()
    ]
    return orjson.dumps({"data": list(events), "links": {"next": None}, "included": included})


def _load(wh: Warehouse, *pages: bytes, tz: str = "America/New_York") -> int:
    with PageStage(wh, KID, "orders", parse=ORDER_PAGES) as stage:
        for body in pages:
            stage.add(RawEventPage.scan(body, simdjson.Parser(), _order_rows))
        return stage.load(LOADERS, {"kid": KID, "tz": tz, "synced_at": NOW, "version": NOW})


def _order(wh: Warehouse, order_id: str) -> dict[str, Any]:
    rows = wh.dicts(
        "SELECT * FROM klaviyo_orders WHERE klaviyo_public_id = {k:String} AND order_id = {o:String}",
        {"k": KID, "o": order_id},
    )
    assert len(rows) == 1, rows
    return rows[0]


def _items(wh: Warehouse, order_id: str) -> list[dict[str, Any]]:
    return wh.dicts(
        "SELECT * FROM klaviyo_order_line_items "
        "WHERE klaviyo_public_id = {k:String} AND order_id = {o:String} ORDER BY line_item_id",
        {"k": KID, "o": order_id},
    )


SHOPIFY_ORDER: dict[str, Any] = {
    "$value": 35.98,
    "$event_id": "5012",
    "Item Count": 2,
    "Discount Codes": ["WELCOME10"],
    "Total Discounts": "4.00",
    "Source Name": "pos",
    "$extra": {
        "discount_codes": [{"code": "WELCOME10", "amount": "4.00", "type": "percentage"}],
        "customer": {"tags": "vip, newsletter", "orders_count": 3, "total_spent": "99.50"},
        "shipping_address": {"city": "Austin", "province_code": "TX", "country_code": "US",
                             "zip": "73301"},
        "client_details": {"user_agent": "Mozilla/5.0 (iPhone)"},
        "landing_site": "/p/x?utm_source=klaviyo&utm_medium=email&utm_campaign=Spring+Sale%21",
        "line_items": [
            {"id": 1, "product_id": 10, "variant_id": 100, "title": "Shirt", "vendor": "Acme",
             "sku": "S1", "quantity": 2, "price": "19.99", "total_discount": "4.00",
             "line_price": "39.98", "product": {"product_type": "Tops",
                                                "collections": ["Summer"]}},
        ],
    },
}  # fmt: skip


def test_order_mapping_local_day_and_line_items(warehouse: Warehouse) -> None:
    written = _load(warehouse, _page(_event(SHOPIFY_ORDER)))
    assert written == 2  # one order, one line item
    order = _order(warehouse, "5012")
    assert order["order_date"] == date(2026, 2, 28)  # 03:30 UTC is the evening before in New York
    assert order["order_timestamp"].replace(tzinfo=UTC) == datetime(2026, 3, 1, 3, 30, tzinfo=UTC)
    assert order["order_value"] == Decimal("35.98") and order["discount_amount"] == Decimal("4.00")
    assert order["customer_tags"] == ["vip", "newsletter"] and order["customer_order_count"] == 3
    assert order["customer_total_spent"] == Decimal("99.50")
    assert order["channel"] == "pos" and order["device_type"] == "mobile"
    assert (order["shipping_city"], order["shipping_state"], order["shipping_country"]) == (
        "Austin",
        "TX",
        "US",
    )
    assert order["product_count"] == 1 and order["item_count"] == 2
    assert order["customer_id"] == "P1" and order["customer_email"] == "a@b.c"
    assert (order["discount_code"], order["discount_type"]) == ("WELCOME10", "percentage")
    assert (order["utm_source"], order["utm_medium"], order["utm_campaign"]) == (
        "klaviyo",
        "email",
        "Spring Sale!",
    )
    # written pending; the context is derived afterwards (see test_context_is_derived_...)
    assert order["order_count_for_customer"] == 0
    (li,) = _items(warehouse, "5012")
    assert (li["line_item_id"], li["product_id"], li["variant_id"]) == ("1", "10", "100")
    assert (li["product_name"], li["product_brand"], li["sku"]) == ("Shirt", "Acme", "S1")
    assert li["collections"] == ["Summer"] and li["product_type"] == "Tops"
    assert li["quantity"] == 2 and li["unit_price"] == Decimal("19.99")
    assert li["line_total"] == Decimal("39.98") and li["discount_amount"] == Decimal("4.00")
    assert li["discount_per_item"] == Decimal("2.00")


MONEY_CASES: list[tuple[object, str]] = [
    (123.45, "123.45"),
    ("12.00", "12.00"),
    ("0.1", "0.10"),
    (1.005, "1.01"),  # half away from zero on the decimal text, not the binary float
    ("2.675", "2.68"),
    (-1.005, "-1.01"),
    (None, "0.00"),
    (7, "7.00"),
    ("", "0.00"),
    (" 12.5 ", "12.50"),
]


def test_money_is_exact_to_the_cent(warehouse: Warehouse) -> None:
    events = [
        _event({"$value": value, "$event_id": str(i)}, event_id=str(i))
        for i, (value, _) in enumerate(MONEY_CASES)
    ]
    _load(warehouse, _page(*events))
    for i, (value, expected) in enumerate(MONEY_CASES):
        assert _order(warehouse, str(i))["order_value"] == Decimal(expected), value


@pytest.mark.parametrize("bad", ["12,50 EUR", "n/a", [1], {"amount": 1}])
def test_unparseable_money_stops_with_a_clear_error(warehouse: Warehouse, bad: object) -> None:
    with pytest.raises(InvalidEventDataError, match="unparseable money value"):
        _load(warehouse, _page(_event({"$value": bad, "$event_id": "1"})))
    assert warehouse.scalar("SELECT count() FROM klaviyo_orders") == 0  # nothing half-written


def test_unparseable_quantity_stops_with_a_clear_error(warehouse: Warehouse) -> None:
    props = {"$value": 1, "$event_id": "1", "$extra": {"line_items": [{"id": 1, "quantity": "x"}]}}
    with pytest.raises(InvalidEventDataError, match="unparseable count"):
        _load(warehouse, _page(_event(props)))


def test_discount_per_item_rounds_half_up_in_cents(warehouse: Warehouse) -> None:
    lines = [
        {"id": 1, "quantity": 3, "price": "1.00", "total_discount": "2.00"},  # 0.666… → 0.67
        {"id": 2, "quantity": 2, "price": "1.00", "total_discount": "0.01"},  # 0.005 → 0.01
        {"id": 3, "quantity": 0, "price": "1.00", "total_discount": "1.00"},  # no quantity → 0
        {"id": 4, "quantity": 2, "price": "1.50"},  # no line_price: price × quantity
    ]
    _load(
        warehouse, _page(_event({"$value": 1, "$event_id": "9", "$extra": {"line_items": lines}}))
    )
    items = _items(warehouse, "9")
    assert [li["discount_per_item"] for li in items] == [
        Decimal("0.67"),
        Decimal("0.01"),
        Decimal("0.00"),
        Decimal("0.00"),
    ]
    assert items[3]["line_total"] == Decimal("3.00")
    # no Item Count property: the sum of the quantities
    assert _order(warehouse, "9")["item_count"] == 7


DEVICES = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Safari/537.36", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Mobile Safari", "mobile"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "desktop"),
    ("", ""),
]


def test_device_type_from_the_user_agent(warehouse: Warehouse) -> None:
    events = [
        _event(
            {"$value": 1, "$event_id": str(i), "$extra": {"client_details": {"user_agent": agent}}},
            event_id=str(i),
        )
        for i, (agent, _) in enumerate(DEVICES)
    ]
    _load(warehouse, _page(*events))
    for i, (agent, device) in enumerate(DEVICES):
        assert _order(warehouse, str(i))["device_type"] == device, agent


def test_fallbacks_of_a_sparse_event(warehouse: Warehouse) -> None:
    """No $event_id, no profile in `included`, tags as a list, codes only in $extra."""
    props = {
        "$value": "10",
        "$extra": {
            "id": 777,
            "email": "x@y.z",
            "total_discounts": "1.00",
            "discount_codes": [{"code": "SAVE", "type": "fixed_amount"}],
            "customer": {"tags": [" a ", "", "b"]},
            "shipping_address": {"province": "Texas", "country": "United States"},
            "line_items": [{"id": 5, "quantity": 1, "price": "10", "name": "N",
                            "product": {"id": 42, "title": "T", "vendor": "V"}}],
        },
    }  # fmt: skip
    _load(warehouse, _page(_event(props, profile=""), emails={}))
    order = _order(warehouse, "777")
    assert order["customer_email"] == "x@y.z" and order["customer_id"] == "x@y.z"
    assert order["channel"] == "web" and order["discount_amount"] == Decimal("1.00")
    assert (order["discount_code"], order["discount_type"]) == ("SAVE", "fixed_amount")
    assert order["customer_tags"] == ["a", "b"]
    assert (order["shipping_state"], order["shipping_country"]) == ("Texas", "United States")
    (li,) = _items(warehouse, "777")
    assert (li["product_id"], li["product_name"], li["product_brand"]) == ("42", "T", "V")


def test_an_event_without_an_order_id_writes_nothing(warehouse: Warehouse) -> None:
    assert _load(warehouse, _page(_event({"$value": 5}))) == 0
    assert warehouse.scalar("SELECT count() FROM klaviyo_orders") == 0


def test_duplicates_across_pages_collapse(warehouse: Warehouse) -> None:
    page = _page(_event(SHOPIFY_ORDER))
    assert _load(warehouse, page, page) == 4  # both copies are written ...
    assert warehouse.scalar("SELECT count() FROM klaviyo_orders") == 1  # ... FINAL shows one
    assert warehouse.scalar("SELECT count() FROM klaviyo_order_line_items") == 1


def test_malformed_pages_are_refused_before_staging() -> None:
    body = _page(_event(SHOPIFY_ORDER))
    for bad in (body[:-10], b"<html>", b'{"links": {}}', b"[]"):
        with pytest.raises(ValueError):
            RawEventPage.scan(bad, simdjson.Parser())
    empty = RawEventPage.scan(b'{"data": [], "links": {"next": null}}', simdjson.Parser())
    assert (empty.events, empty.rows, empty.newest, empty.next_url) == (0, 0, None, None)
    page = RawEventPage.scan(body, simdjson.Parser())
    assert (page.events, page.next_url) == (1, None)
    assert page.newest == datetime(2026, 3, 1, 3, 30, tzinfo=UTC)


def _context(wh: Warehouse) -> list[tuple[str, int, int, int]]:
    return [
        (str(r[0]), int(r[1]), int(r[2]), int(r[3]))
        for r in wh.rows(
            "SELECT order_id, is_first_order, order_count_for_customer, days_since_last_order "
            "FROM klaviyo_orders ORDER BY order_id"
        )
    ]


def test_context_is_derived_from_the_whole_history_out_of_order(warehouse: Warehouse) -> None:
    """The customer's third order arrives first, then the first two: the context follows the
    order times, not the arrival order, across separate loads (as across incremental runs)."""

    def order(oid: str, when: str) -> bytes:
        return _page(_event({"$value": 1, "$event_id": oid}, when=when, event_id=oid))

    def recompute() -> int:
        return recompute_context(warehouse, KID, lambda: datetime.now(UTC).replace(microsecond=0))

    _load(warehouse, order("3", "2026-03-10T12:00:00+00:00"))
    recompute()
    assert _context(warehouse) == [("3", 1, 1, 0)]
    _load(
        warehouse, order("1", "2026-03-01T12:00:00+00:00"), order("2", "2026-03-04T12:00:00+00:00")
    )
    assert recompute() == 2  # the two new orders were pending
    assert _context(warehouse) == [("1", 1, 1, 0), ("2", 0, 2, 3), ("3", 0, 3, 6)]
    assert recompute() == 0  # nothing pending: nothing re-written


def test_context_in_many_buckets_and_write_backs(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one pending order per bucket and two changes per write-back, the derivation runs in
    many buckets and several write-backs and still equals a plain per-customer ordering, across
    two loads; its scratch table is gone afterwards."""
    import klaviyo_analytics.sync.events as events

    monkeypatch.setattr(events, "CONTEXT_BUCKET_ORDERS", 1)
    monkeypatch.setattr(events, "CONTEXT_WRITE_ORDERS", 2)
    orders = [  # (order id, customer, day of March 2026); loaded in two rounds
        ("a1", "P1", 9), ("a2", "P1", 2), ("a3", "P1", 5), ("b1", "P2", 7), ("c1", "P3", 1),
        ("c2", "P3", 1), ("d1", "P4", 20), ("d2", "P4", 3), ("e1", "P5", 11), ("e2", "P5", 14),
    ]  # fmt: skip
    emails = {f"P{i}": f"p{i}@x.y" for i in range(1, 6)}

    def page(rows: list[tuple[str, str, int]]) -> bytes:
        return _page(
            *(
                _event({"$value": 1, "$event_id": oid}, when=f"2026-03-{day:02d}T12:00:00+00:00",
                       profile=who, event_id=oid)
                for oid, who, day in rows
            ),
            emails=emails,
        )  # fmt: skip

    def recompute() -> int:
        return recompute_context(warehouse, KID, lambda: datetime.now(UTC).replace(microsecond=0))

    def expected(loaded: list[tuple[str, str, int]]) -> list[tuple[str, int, int, int]]:
        out = []
        for who in sorted({w for _, w, _ in loaded}):
            mine = sorted((day, oid) for oid, w, day in loaded if w == who)
            for seq, (day, oid) in enumerate(mine, start=1):
                gap = 0 if seq == 1 else day - mine[seq - 2][0]
                out.append((oid, int(seq == 1), seq, gap))
        return sorted(out)

    _load(warehouse, page(orders[::2]))
    assert recompute() == 5
    assert _context(warehouse) == expected(orders[::2])
    _load(warehouse, page(orders[1::2]))
    assert recompute() == 5
    assert _context(warehouse) == expected(orders)
    assert recompute() == 0
    assert not warehouse.scalar(
        "SELECT count() FROM system.tables WHERE name LIKE 'sync_context_%'"
    )


def test_refunds_and_cancellations(warehouse: Warehouse) -> None:
    refund = {
        "$value": 19.99,
        "$event_id": "5012",
        "Reason": "damaged",
        "$currency_code": "EUR",
        "$extra": {
            "processed_at": "2026-02-27T10:00:00+00:00",
            "refund": {"refund_line_items": [{"line_item_id": 1, "quantity": 1, "product_id": 10}]},
        },
    }
    cancel = {"$value": "35.98", "$event_id": "5013", "Reason": "customer",
              "$extra": {"id": 5013, "email": "x@y.z", "refund": {"refund_line_items": []}}}  # fmt: skip
    params = {"kid": KID, "store": "store_1", "synced_at": NOW, "version": NOW}
    with PageStage(warehouse, KID, "refunds") as stage:
        stage.add(RawEventPage.scan(_page(_event(refund, event_id="r1")), simdjson.Parser()))
        assert (
            stage.load(
                ["refunds_from_pages.sql"],
                {**params, "event_type": "refund", "metric_name": "Refunded Order"},
            )
            == 1
        )
        stage.add(
            RawEventPage.scan(
                _page(_event(cancel, event_id="c1", profile=""), emails={}), simdjson.Parser()
            )
        )
        stage.load(
            ["refunds_from_pages.sql"],
            {**params, "event_type": "cancelled", "metric_name": "Cancelled Order"},
        )
    rows = {
        r["event_id"]: r
        for r in warehouse.dicts(
            "SELECT * FROM refund_cancelled_orders WHERE klaviyo_public_id = {k:String}", {"k": KID}
        )
    }
    r = rows["r1"]
    assert (r["event_type"], r["original_order_id"], r["refund_reason"]) == (
        "refund",
        "5012",
        "damaged",
    )
    assert r["refund_amount"] == Decimal("19.99") and r["refund_currency"] == "EUR"
    assert (r["line_items_affected"], r["products_affected"], r["quantities_refunded"]) == (
        ["1"],
        ["10"],
        [1],
    )
    assert r["original_order_timestamp"].replace(tzinfo=UTC) == datetime(
        2026, 2, 27, 10, tzinfo=UTC
    )
    assert r["event_timestamp"].replace(tzinfo=UTC) == datetime(2026, 3, 1, 3, 30, tzinfo=UTC)
    assert (r["customer_id"], r["customer_email"], r["profile_id"]) == ("P1", "a@b.c", "P1")
    assert (r["metric_id"], r["metric_name"], r["store_public_ids"]) == (
        "M1",
        "Refunded Order",
        ["store_1"],
    )
    assert orjson.loads(r["event_properties"]) == refund and r["profile_properties"] == "{}"
    c = rows["c1"]
    assert (c["event_type"], c["original_order_id"], c["refund_amount"]) == (
        "cancelled",
        "5013",
        Decimal("35.98"),
    )
    assert (c["customer_id"], c["customer_email"], c["refund_currency"]) == (
        "x@y.z",
        "x@y.z",
        "USD",
    )
    assert c["line_items_affected"] == [] and c["original_order_timestamp"].year == 1970
