-- The run's counted line items, step 1 of 3 (runner.prepare_inputs): the line items of
-- agg_run_orders, read with FINAL, with the order's order_no, customer_no, day and timestamp
-- (and whether the order has an email): the one join of line items to orders a run does.
-- run_names.sql numbers their products, categories and brands and run_lines.sql adds the
-- numbers (agg_run_lines); then this is dropped.
-- SEMI JOIN: agg_run_orders holds one row per order (FINAL), so each line item has at most one
-- match and the rows are those of an INNER JOIN; the semi join stops at the first match instead
-- of collecting them (1M orders: 2.7 vs 3.1 CPU-s, identical rows).
CREATE TEMPORARY TABLE agg_run_joined ENGINE = Memory AS
SELECT
    o.order_no AS order_no,
    o.customer_no AS customer_no,
    o.has_email AS has_email,
    o.ts AS ts,
    o.day AS day,
    li.product_id AS product_id,
    li.product_name AS product_name,
    li.sku AS sku,
    li.product_brand AS brand,
    li.product_type AS category,
    li.collections AS collections,
    li.quantity AS quantity,
    li.unit_price AS unit_price,
    li.line_total AS line_total,
    li.discount_amount AS discount_amount
FROM klaviyo_order_line_items AS li FINAL
SEMI JOIN (
    SELECT order_id, order_no, customer_no, email != '' AS has_email, ts, day FROM agg_run_orders
) AS o ON o.order_id = li.order_id
WHERE li.klaviyo_public_id = {store:String}
SETTINGS join_algorithm = 'parallel_hash'
