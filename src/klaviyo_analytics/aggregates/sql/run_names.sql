-- The run's name dictionaries, step 2 of 3 (runner.prepare_inputs): one row with the distinct
-- product ids, product types (categories) and brands of the counted line items, each sorted
-- (byte order, as arraySort and ORDER BY compare strings). A name's 1-based position in its
-- array is its per-run number (exact, no hashing): product_no, category_no, brand_no of
-- agg_run_lines. Empty categories and brands are left out (their number is 0). Sorted arrays
-- make the numbers sort like the names, so "ties go to the alphabetically first name" and
-- "sorted names" become comparisons of integers.
CREATE TEMPORARY TABLE agg_run_names ENGINE = Memory AS
SELECT
    arraySort(groupUniqArray(product_id)) AS product_ids,
    arraySort(groupUniqArrayIf(category, category != '')) AS categories,
    arraySort(groupUniqArrayIf(brand, brand != '')) AS brands
FROM agg_run_joined
