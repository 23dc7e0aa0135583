-- The BG/NBD summary of a store's customers, grouped: x = distinct purchase days - 1,
-- t_x = days from the first to the last purchase day, T = days from the first purchase day to
-- the as-of day, n = customers with that (x, t_x, T). Same counted orders as customer_profiles.
WITH
    per_customer AS (
        SELECT
            customer_no,
            uniqExact(day) - 1 AS x,
            dateDiff('day', min(day), max(day)) AS t_x,
            dateDiff('day', min(day), {as_of:Date}) AS big_t
        FROM agg_run_orders
        WHERE email != ''
        GROUP BY customer_no
    )
SELECT toFloat64(x) AS x, toFloat64(t_x) AS t_x, toFloat64(big_t) AS big_t, count() AS n
FROM per_customer
GROUP BY x, t_x, big_t
ORDER BY x, t_x, big_t
