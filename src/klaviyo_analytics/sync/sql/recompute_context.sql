-- Re-derive is_first_order / order_count_for_customer / days_since_last_order of every customer
-- that has a pending order (order_count_for_customer = 0: written by orders_from_pages.sql and
-- not derived yet) from the customer's whole history in the warehouse, and write back only the
-- rows whose values change, with a newer version. Pending rows left by a crashed run are picked
-- up by the next run's recompute, so nothing stays underived.
-- Customers are processed in {buckets:UInt32} hash buckets (this is bucket {bucket:UInt32}) so
-- the window's working set stays bounded however large the store.
INSERT INTO klaviyo_orders (
    klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
    order_timestamp, item_count, product_count, is_first_order, order_count_for_customer,
    days_since_last_order, channel, device_type, shipping_city, shipping_state,
    shipping_country, shipping_zip, discount_amount, discount_code, discount_type,
    customer_tags, customer_total_spent, customer_order_count, utm_source, utm_medium,
    utm_campaign, synced_at, inserted_at
)
SELECT klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
       order_timestamp, item_count, product_count, new_first, new_count, new_days, channel,
       device_type, shipping_city, shipping_state, shipping_country, shipping_zip,
       discount_amount, discount_code, discount_type, customer_tags, customer_total_spent,
       customer_order_count, utm_source, utm_medium, utm_campaign, synced_at,
       {version:DateTime}
FROM (
    SELECT *,
           toUInt8(seq = 1) AS new_first,
           toUInt32(seq) AS new_count,
           toInt32(if(seq = 1, 0, dateDiff('day', prev_date, order_date))) AS new_days
    FROM (
        SELECT *,
               row_number() OVER w AS seq,
               lagInFrame(order_date) OVER w AS prev_date
        FROM klaviyo_orders AS o FINAL
        WHERE o.klaviyo_public_id = {kid:String}
          AND cityHash64(o.customer_id) % {buckets:UInt32} = {bucket:UInt32}
          AND o.customer_id IN (
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
