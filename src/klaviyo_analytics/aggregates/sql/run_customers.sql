-- The run's customers, step 2 of 3 (runner.prepare_inputs): one row per distinct customer of
-- the counted orders (the email, or the customer id of an order without one) with a dense
-- per-run integer customer_no (exact, no hashing). The jobs group and join on customer_no.
CREATE TEMPORARY TABLE agg_run_customers ENGINE = Memory AS
SELECT customer, toUInt32(rowNumberInAllBlocks()) AS customer_no
FROM (SELECT DISTINCT customer FROM agg_run_counted)
