"""Deterministic bench stores for the aggregates bench, generated straight inside chDB.

Everything is ``INSERT ... SELECT FROM numbers()`` with ``intHash32`` (no Python rows), so 1M
orders take seconds. One store, UTC, orders spread over ~736 days (the last 6 after the as-of
day), 1 customer per 4 orders (every 50th customer has no email), 2000 products in 12
categories and 20 brands, ~3.5 line items per order (7 lines per pair of orders, 4 + 3), about
3 % of orders refunded and 1 % cancelled, 1 campaign per 100 orders (email/SMS/push, some with
zero recipients, 0-2 tags each) and 50 flow messages with a row per day.

Planted bundles: 10 % of orders start with one of five product pairs (P1990+P1991, ...,
P1998+P1999) as their first two lines, so those pairs come out as the top-lift relationships.
"""

from __future__ import annotations

from datetime import date

from klaviyo_analytics.warehouse import Warehouse

STORE = "Bench"
AS_OF = date(2024, 12, 31)
DAYS = 736
PRODUCTS = 2000
TABLES = (
    "klaviyo_orders",
    "klaviyo_order_line_items",
    "refund_cancelled_orders",
    "campaign_statistics",
    "flow_statistics",
    "campaign_tags",
)

# The order's timestamp, a function of its number n (shared by orders and refunds).
_TS = "(toDateTime64('2023-01-02 00:00:00', 3, 'UTC') + intHash32({n} * 7) % ({days} * 86400))"


def _ts(n: str) -> str:
    return _TS.format(n=n, days=DAYS)


def generate(wh: Warehouse, orders: int) -> dict[str, int]:
    """Replace the bench store with ``orders`` generated orders; returns rows per table."""
    for table in TABLES:
        wh.command(f"TRUNCATE TABLE IF EXISTS {table}")
    customers = max(orders // 4, 10)
    wh.command(
        f"""INSERT INTO klaviyo_orders (klaviyo_public_id, order_id, customer_id, customer_email,
            order_value, order_date, order_timestamp, item_count, product_count, is_first_order,
            discount_amount, discount_code, synced_at, inserted_at)
        SELECT '{STORE}', concat('O', toString(number)), concat('C', toString(c)),
            if(c % 50 = 0, '', concat('c', toString(c), '@example.com')),
            toDecimal64(1000 + intHash32(number * 3) % 19000, 2) / 100, toDate(ts), ts, 3, 3,
            intHash32(number * 11) % 3 = 0, toDecimal64(if(number % 5 = 0, 3, 0), 2),
            if(number % 5 = 0, 'SAVE3', ''), now(), now()
        FROM (SELECT number, intHash32(number) % {customers} AS c, {_ts("number")} AS ts
              FROM numbers({orders}))"""
    )
    wh.command(
        f"""INSERT INTO klaviyo_order_line_items (klaviyo_public_id, order_id, line_item_id,
            product_id, variant_id, product_name, product_brand, sku, collections, product_type,
            quantity, unit_price, line_total, discount_amount, discount_per_item, synced_at,
            inserted_at)
        SELECT '{STORE}', concat('O', toString(o)), concat(toString(o), '-', toString(k)),
            concat('P', toString(p)), concat('V', toString(p)), concat('Product ', toString(p)),
            concat('Brand ', toString(p % 20)), concat('SKU', toString(p)),
            [concat('Collection ', toString(p % 7))], concat('Type ', toString(p % 12)),
            q, toDecimal64(5 + p % 50, 2), toDecimal64((5 + p % 50) * q, 2),
            toDecimal64(if(intHash32(number * 19) % 10 = 0, 1, 0), 2), toDecimal64(0, 2),
            now(), now()
        FROM (SELECT number, intDiv(number, 7) * 2 + (number % 7 >= 4) AS o, number % 7 AS k,
                 if(k >= 4, k - 4, k) AS pos, intHash32(o * 17) % 100 AS bundle,
                 if(bundle < 10 AND pos < 2, {PRODUCTS - 10} + 2 * (bundle % 5) + pos,
                    intHash32(number * 13) % {PRODUCTS}) AS p,
                 1 + intHash32(number * 5) % 3 AS q
              FROM numbers({(orders + 1) // 2 * 7}))
        WHERE o < {orders}"""
    )
    wh.command(
        f"""INSERT INTO refund_cancelled_orders (klaviyo_public_id, event_id, event_timestamp,
            event_type, original_order_id, original_order_timestamp, customer_id, customer_email,
            refund_amount, synced_at, inserted_at)
        SELECT '{STORE}', concat('E', toString(number)), ts + 2 * 86400,
            if(h < 3, 'refund', 'cancelled'), concat('O', toString(number)), ts,
            concat('C', toString(c)), if(c % 50 = 0, '', concat('c', toString(c), '@example.com')),
            toDecimal64(if(h = 0, 500, 7), 2), now(), now()
        FROM (SELECT number, intHash32(number * 23) % 100 AS h,
              intHash32(number) % {customers} AS c, {_ts("number")} AS ts
              FROM numbers({orders}))
        WHERE h < 4"""
    )
    campaigns = max(orders // 100, 100)
    stats = """recipients, recipients * 0.97 AS delivered, recipients * 0.02, recipients * 0.01,
            delivered * 0.3 AS opens, delivered * 0.25, delivered * 0.05 AS clicks,
            delivered * 0.04, floor(delivered * 0.004) AS conversions, floor(delivered * 0.003),
            conversions * (40 + h % 30), delivered * 0.001,
            if(delivered > 0, opens / delivered * 100, 0),
            if(delivered > 0, clicks / delivered * 100, 0),
            if(delivered > 0, conversions / delivered * 100, 0), 0.1, 2, 97, now()"""
    cols = """recipients, delivered, bounced, failed, opens, opens_unique, clicks, clicks_unique,
            conversions, conversion_uniques, conversion_value, unsubscribes, open_rate_pct,
            click_rate_pct, conversion_rate_pct, unsubscribe_rate_pct, bounce_rate_pct,
            delivery_rate_pct, updated_at"""
    wh.command(
        f"""INSERT INTO campaign_statistics (klaviyo_public_id, campaign_id, campaign_name,
            send_channel, date, {cols})
        SELECT '{STORE}', concat('CMP', toString(number)), concat('Campaign ', toString(number)),
            ['email', 'email', 'sms', 'push'][1 + h % 4], toDate('2023-01-02') + h % {DAYS},
            {stats}
        FROM (SELECT number, intHash32(number * 29) AS h,
              toFloat64(if(h % 97 = 0, 0, 500 + h % 50000)) AS recipients
              FROM numbers({campaigns}))"""
    )
    wh.command(
        f"""INSERT INTO flow_statistics (klaviyo_public_id, flow_id, flow_name, flow_message_id,
            flow_message_name, send_channel, date, {cols})
        SELECT '{STORE}', concat('F', toString(m % 10)), concat('Flow ', toString(m % 10)),
            concat('M', toString(m)), concat('Message ', toString(m)),
            if(m % 5 = 4, 'sms', 'email'), toDate('2023-01-02') + d, {stats}
        FROM (SELECT number % 50 AS m, intDiv(number, 50) AS d, intHash32(number * 31) AS h,
              toFloat64(h % 2000) AS recipients FROM numbers({50 * DAYS}))"""
    )
    wh.command(
        f"""INSERT INTO campaign_tags (klaviyo_public_id, campaign_id, tags, updated_at)
        SELECT '{STORE}', concat('CMP', toString(number)),
            arraySort(arraySlice(['sale', 'newsletter', 'vip', 'launch', 'holiday', 'winback',
                'restock', 'bfcm', 'sale', 'vip'], 1 + intHash32(number * 37) % 8,
                intHash32(number * 41) % 3)), now64(3)
        FROM numbers({campaigns})"""
    )
    return {t: int(wh.scalar(f"SELECT count() FROM {t}")) for t in TABLES}
