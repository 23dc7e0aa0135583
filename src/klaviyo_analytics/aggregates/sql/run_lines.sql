-- The run's counted line items, step 3 of 3 (runner.prepare_inputs), materialised once per run
-- next to agg_run_orders: the joined line items of run_lines_joined.sql with their integer
-- product_no, category_no and brand_no (positions in agg_run_names; 0 for an empty category or
-- brand), so the jobs group on integers without joining again.
CREATE TEMPORARY TABLE agg_run_lines ENGINE = Memory AS
WITH
    (SELECT product_ids FROM agg_run_names) AS product_ids,
    (SELECT categories FROM agg_run_names) AS categories,
    (SELECT brands FROM agg_run_names) AS brands
SELECT
    toUInt32(transform(j.product_id, product_ids, arrayEnumerate(product_ids), 0)) AS product_no,
    toUInt32(transform(j.category, categories, arrayEnumerate(categories), 0)) AS category_no,
    toUInt32(transform(j.brand, brands, arrayEnumerate(brands), 0)) AS brand_no,
    j.*
FROM agg_run_joined AS j
