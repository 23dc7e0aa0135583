-- The run's counted orders, step 3 of 3 (runner.prepare_inputs), materialised once per run into
-- a temporary (per-client, Memory) table that the jobs of the run share: the counted orders of
-- run_counted.sql with their customer's customer_no (run_customers.sql) and a dense per-run
-- integer order_no (exact, no hashing) used for grouping line items.
CREATE TEMPORARY TABLE agg_run_orders ENGINE = Memory AS
SELECT
    toUInt32(rowNumberInAllBlocks()) AS order_no,
    c.customer_no AS customer_no,
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
INNER JOIN agg_run_customers AS c ON c.customer = o.customer
