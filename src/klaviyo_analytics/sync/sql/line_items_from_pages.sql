-- klaviyo_order_line_items from parsed Placed Order pages ({pages:Identifier}: one row per page,
-- order_pages.sql, filled by parse_order_pages.sql). ClickHouse parses the JSON; nothing of it
-- becomes a Python object. Field mapping: docs/event-payloads.md; fallbacks: docs/sync.md.
-- Money is read as text and rounded half away from zero to cents (`amount`, functions.sql); a
-- value that is present but not a number fails the statement (never a silent 0).
INSERT INTO klaviyo_order_line_items (
    klaviyo_public_id, order_id, line_item_id, product_id, variant_id, product_name,
    product_brand, sku, collections, product_type, quantity, unit_price, line_total,
    discount_amount, discount_per_item, synced_at, inserted_at
)
-- include: functions.sql
SELECT
    {kid:String},
    order_id,
    li.id,
    if(li.product_id != '', li.product_id, li.product.id),
    li.variant_id,
    multiIf(li.title != '', li.title, li.product.title != '', li.product.title, li.name),
    if(li.vendor != '', li.vendor, li.product.vendor),
    li.sku,
    li.product.collections,
    li.product.product_type,
    toUInt32(count_of(li.quantity)) AS quantity,
    toDecimal64(round(amount(li.price), 2), 2) AS unit_price,
    if(li.line_price != '', toDecimal64(round(amount(li.line_price), 2), 2), unit_price * quantity),
    toDecimal64(round(amount(li.total_discount), 2), 2) AS discount,
    -- discount / quantity rounded half away from zero to cents (0 for a zero quantity)
    if(quantity = 0, toDecimal64(0, 2), toDecimal64(round(toDecimal128(discount, 9) / quantity, 2), 2)),
    {synced_at:DateTime},
    {version:DateTime}
FROM (
    SELECT
        if(ev.attributes.event_properties.`$event_id` != '',
           ev.attributes.event_properties.`$event_id`,
           ev.attributes.event_properties.`$extra`.id) AS order_id,
        ev.attributes.event_properties.`$extra`.line_items AS line_items
    FROM {pages:Identifier}
    ARRAY JOIN data AS ev
    WHERE order_id != ''
)
ARRAY JOIN line_items AS li
