-- Customer context, step 1 of 2 (events.recompute_context): for the customers of hash bucket
-- {bucket:UInt32} of {buckets:UInt32} that have a pending order (order_count_for_customer = 0:
-- written by orders_from_pages.sql and not derived yet), derive is_first_order,
-- order_count_for_customer and days_since_last_order of every order from the customer's whole
-- history in the warehouse (FINAL: the current row of each order, so an order that moved to
-- another customer counts for its current one), and keep only the orders whose values change,
-- as narrow rows, in {changes:Identifier} (a Memory table). Buckets bound the window's working
-- set; context_write.sql writes the changes back.
INSERT INTO {changes:Identifier} (order_id, new_first, new_count, new_days)
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
