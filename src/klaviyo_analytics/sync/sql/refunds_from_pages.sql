-- refund_cancelled_orders from raw Refunded Order / Cancelled Order pages ({pages:Identifier}:
-- one row per page, `include=profile`), all of one metric: {event_type:String} is 'refund' or
-- 'cancelled', {metric_name:String} the metric as Klaviyo names it. ClickHouse parses the JSON;
-- nothing of it becomes a Python object. Field mapping: docs/event-payloads.md.
-- event_properties / profile_properties keep the JSON objects as ClickHouse re-prints them
-- (compact, same keys and values as Klaviyo sent).
INSERT INTO refund_cancelled_orders (
    klaviyo_public_id, event_id, event_timestamp, event_type, original_order_id,
    original_order_timestamp, customer_id, customer_email, refund_amount, refund_reason,
    refund_currency, line_items_affected, products_affected, quantities_refunded, metric_id,
    metric_name, profile_id, event_properties, profile_properties, store_public_ids, synced_at,
    inserted_at
)
-- include: functions.sql
SELECT
    {kid:String},
    e.event_id,
    fromUnixTimestamp64Milli(e.ts_ms, 'UTC'),
    {event_type:String},
    if(props.`$event_id` != '', props.`$event_id`, x.id),
    fromUnixTimestamp64Milli(ifNull(toUnixTimestamp64Milli(parseDateTime64BestEffortOrNull(
        if(x.processed_at != '', x.processed_at, x.created_at), 3, 'UTC')), 0), 'UTC'),
    if(e.profile_id != '', e.profile_id, customer_email) AS customer_id,
    if(p.email != '', p.email, x.email) AS customer_email,
    toDecimal64(round(amount(props.`$value`), 2), 2),
    props.Reason,
    multiIf(props.`$currency_code` != '', props.`$currency_code`, x.currency != '', x.currency,
            'USD'),
    arrayMap(r -> r.line_item_id, x.refund.refund_line_items),
    arrayMap(r -> r.product_id, x.refund.refund_line_items),
    arrayMap(r -> toUInt32(count_of(r.quantity)), x.refund.refund_line_items),
    e.metric_id,
    {metric_name:String},
    e.profile_id,
    e.properties_json,
    if(p.properties_json != '', p.properties_json, '{}'),
    [{store:String}],
    {synced_at:DateTime},
    {version:DateTime}
FROM (
    SELECT
        page,
        ev.id AS event_id,
        ev.relationships.profile.data.id AS profile_id,
        ev.relationships.metric.data.id AS metric_id,
        -- a JSON object read as String comes back as its compact JSON text
        ev.attributes.event_properties AS properties_json,
        JSONExtract(properties_json, 'Tuple(
            `$value` String,
            `$event_id` String,
            `$currency_code` String,
            Reason String,
            `$extra` Tuple(
                id String, email String, currency String, processed_at String, created_at String,
                refund Tuple(refund_line_items Array(Tuple(
                    line_item_id String, product_id String, quantity String)))))') AS props,
        props.`$extra` AS x,
        event_ms(ev.attributes.datetime, ev.attributes.timestamp) AS ts_ms
    FROM (
        SELECT page, JSONExtract(body, 'data', 'Array(Tuple(
            id String,
            attributes Tuple(timestamp Float64, datetime String, event_properties String),
            relationships Tuple(profile Tuple(data Tuple(id String)),
                                metric Tuple(data Tuple(id String)))))') AS events
        FROM {pages:Identifier}
    )
    ARRAY JOIN events AS ev
) AS e
-- the event's profile from `included` (its e-mail and properties), matched within the same page
ANY LEFT JOIN (
    SELECT page, profile.id AS id, profile.attributes.email AS email,
           profile.attributes.properties AS properties_json
    FROM (
        SELECT page, JSONExtract(body, 'included', 'Array(Tuple(
            type String, id String, attributes Tuple(email String, properties String)))')
            AS profiles
        FROM {pages:Identifier}
    )
    ARRAY JOIN profiles AS profile
    WHERE profile.type = 'profile'
) AS p ON e.page = p.page AND e.profile_id = p.id
