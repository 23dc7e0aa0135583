-- The run's counted orders, step 2 of 2 (runner.prepare_inputs), materialised once per run into
-- a temporary (per-client, Memory) table that the jobs of the run share: the counted orders of
-- run_counted.sql with a dense per-run integer customer_no (the customer's 1-based position in
-- the run's distinct customers: exact, no hashing; the jobs group and join on it) and a dense
-- per-run integer order_no (used for grouping line items).
CREATE TEMPORARY TABLE agg_run_orders ENGINE = Memory AS
WITH (SELECT groupUniqArray(customer) FROM agg_run_counted) AS customers
SELECT
    toUInt32(rowNumberInAllBlocks()) AS order_no,
    toUInt32(transform(o.customer, customers, arrayEnumerate(customers), 0)) AS customer_no,
    o.order_id AS order_id,
    o.email AS email,
    o.customer_id AS customer_id,
    o.customer AS customer,
    o.ts AS ts,
    o.day AS day,
    o.hour AS hour,
    o.weekday AS weekday,
    o.order_value AS order_value,
    o.discount_amount AS discount_amount,
    o.is_first_order AS is_first_order
FROM agg_run_counted AS o
