-- The run's counted orders, step 1 of 2 (runner.prepare_inputs): orders up to the as-of day
-- that no cancellation dated up to the as-of day names, with the account-local day, hour and
-- weekday computed once, into a temporary (per-client, Memory) table. run_orders.sql numbers
-- their customers and orders into agg_run_orders, then this is dropped.
CREATE TEMPORARY TABLE agg_run_counted ENGINE = Memory AS
WITH cancelled AS (
    SELECT rc.original_order_id
    FROM refund_cancelled_orders AS rc FINAL
    WHERE rc.klaviyo_public_id = {store:String}
        AND lower(rc.event_type) IN ('cancelled', 'canceled')
        AND toDate(rc.event_timestamp, {tz:String}) <= {as_of:Date}
)
SELECT
    o.order_id AS order_id,
    o.customer_email AS email,
    o.customer_id AS customer_id,
    if(email != '', email, customer_id) AS customer,
    o.order_timestamp AS ts,
    toDate(ts, {tz:String}) AS day,
    toHour(ts, {tz:String}) AS hour,
    toDayOfWeek(ts, 0, {tz:String}) AS weekday,
    o.order_value AS order_value,
    o.discount_amount AS discount_amount,
    o.is_first_order AS is_first_order
FROM klaviyo_orders AS o FINAL
WHERE o.klaviyo_public_id = {store:String}
    AND toDate(o.order_timestamp, {tz:String}) <= {as_of:Date}
    AND o.order_id NOT IN cancelled
