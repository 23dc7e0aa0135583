-- Re-derive is_first_order / order_count_for_customer / days_since_last_order of every customer
-- that has a pending order (order_count_for_customer = 0: written by orders_from_pages.sql and
-- not derived yet) from the customer's whole history in the warehouse, and write back only the
-- rows whose values change, with a newer version. Pending rows left by a crashed run are picked
-- up by the next run's recompute, so nothing stays underived.
-- Customers are processed in {buckets:UInt32} hash buckets (this is bucket {bucket:UInt32}); the
-- window runs over the few narrow columns it needs and the full rows are joined back only for
-- the orders that change, so the working set stays small however large the store.
INSERT INTO klaviyo_orders (
    klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
    order_timestamp, item_count, product_count, is_first_order, order_count_for_customer,
    days_since_last_order, channel, device_type, shipping_city, shipping_state,
    shipping_country, shipping_zip, discount_amount, discount_code, discount_type,
    customer_tags, customer_total_spent, customer_order_count, utm_source, utm_medium,
    utm_campaign, synced_at, inserted_at
)
SELECT o.klaviyo_public_id, o.order_id, o.customer_id, o.customer_email, o.order_value,
       o.order_date, o.order_timestamp, o.item_count, o.product_count, c.new_first, c.new_count,
       c.new_days, o.channel, o.device_type, o.shipping_city, o.shipping_state,
       o.shipping_country, o.shipping_zip, o.discount_amount, o.discount_code, o.discount_type,
       o.customer_tags, o.customer_total_spent, o.customer_order_count, o.utm_source,
       o.utm_medium, o.utm_campaign, o.synced_at, {version:DateTime}
FROM klaviyo_orders AS o FINAL
INNER JOIN (
    SELECT order_id, new_first, new_count, new_days
    FROM (
        SELECT order_id, is_first_order, order_count_for_customer, days_since_last_order,
               toUInt8(seq = 1) AS new_first,
               toUInt32(seq) AS new_count,
               toInt32(if(seq = 1, 0, dateDiff('day', prev_date, order_date))) AS new_days
        FROM (
            SELECT order_id, order_date, is_first_order, order_count_for_customer,
                   days_since_last_order,
                   row_number() OVER w AS seq,
                   lagInFrame(order_date) OVER w AS prev_date
            FROM klaviyo_orders AS h FINAL
            WHERE h.klaviyo_public_id = {kid:String}
              AND cityHash64(h.customer_id) % {buckets:UInt32} = {bucket:UInt32}
              AND h.customer_id IN (
                  SELECT p.customer_id
                  FROM klaviyo_orders AS p FINAL
                  WHERE p.klaviyo_public_id = {kid:String}
                    AND p.order_count_for_customer = 0
                    AND cityHash64(p.customer_id) % {buckets:UInt32} = {bucket:UInt32}
              )
            WINDOW w AS (PARTITION BY customer_id ORDER BY order_timestamp, order_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
    )
    WHERE new_first != is_first_order OR new_count != order_count_for_customer
       OR new_days != days_since_last_order
) AS c ON o.order_id = c.order_id
WHERE o.klaviyo_public_id = {kid:String}
  AND cityHash64(o.customer_id) % {buckets:UInt32} = {bucket:UInt32}
