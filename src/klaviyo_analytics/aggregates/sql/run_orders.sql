-- The run's counted orders, materialised once per run into a temporary (per-client, Memory)
-- table that the jobs of the run share: orders up to the as-of day that no cancellation dated
-- up to the as-of day names, with the account-local day, hour and weekday computed once.
-- order_no is a dense per-run integer (exact, no hashing) used for grouping line items.
CREATE TEMPORARY TABLE agg_run_orders ENGINE = Memory AS
WITH cancelled AS (
    SELECT rc.original_order_id
    FROM refund_cancelled_orders AS rc FINAL
    WHERE rc.klaviyo_public_id = {store:String}
        AND lower(rc.event_type) IN ('cancelled', 'canceled')
        AND toDate(rc.event_timestamp, {tz:String}) <= {as_of:Date}
)
SELECT
    toUInt32(rowNumberInAllBlocks()) AS order_no,
    order_id,
    email,
    customer_id,
    if(email != '', email, customer_id) AS customer,
    ts,
    day,
    toHour(ts, {tz:String}) AS hour,
    toDayOfWeek(ts, 0, {tz:String}) AS weekday,
    order_value,
    discount_amount,
    is_first_order
FROM (
    SELECT
        o.order_id AS order_id,
        o.customer_email AS email,
        o.customer_id AS customer_id,
        o.order_timestamp AS ts,
        toDate(o.order_timestamp, {tz:String}) AS day,
        o.order_value AS order_value,
        o.discount_amount AS discount_amount,
        o.is_first_order AS is_first_order
    FROM klaviyo_orders AS o FINAL
    WHERE o.klaviyo_public_id = {store:String}
        AND toDate(o.order_timestamp, {tz:String}) <= {as_of:Date}
        AND o.order_id NOT IN cancelled
)
