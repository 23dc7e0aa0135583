-- How many order and line-item rows the loaders write for the staged pages (embedded ClickHouse
-- reports no written-row count for INSERT ... SELECT, so the sync counts them here): events
-- with an order id, distinct by order id, and their line items.
SELECT count() AS orders, sum(items) AS line_items
FROM (
    SELECT
        if(ev.attributes.event_properties.`$event_id` != '',
           ev.attributes.event_properties.`$event_id`,
           ev.attributes.event_properties.`$extra`.id) AS order_id,
        any(length(ev.attributes.event_properties.`$extra`.line_items)) AS items
    FROM (
        SELECT JSONExtract(body, 'data', 'Array(Tuple(attributes Tuple(event_properties Tuple(
            `$event_id` String,
            `$extra` Tuple(id String, line_items Array(Tuple(id String)))))))') AS events
        FROM {pages:Identifier}
    )
    ARRAY JOIN events AS ev
    WHERE order_id != ''
    GROUP BY order_id
)
