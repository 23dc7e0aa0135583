-- product_relationships_optimized: market basket over counted orders up to the as-of day
-- (cancelled orders do not count). A basket is the set of distinct product ids of one order;
-- every pair bought together in at least {min_co} baskets gets an (A, B) and a (B, A) row.
INSERT INTO product_relationships_optimized (
    klaviyo_public_id, product_a, product_b, product_a_name, product_b_name, co_purchase_count,
    confidence, lift, support, first_co_purchase, last_co_purchase, relationship_type,
    calculated_at
)
WITH
    -- N: baskets = counted orders with at least one line item (agg_run_lines, the run's
    -- counted line items prepared by runner.prepare_inputs)
    (SELECT uniqExact(order_no) FROM agg_run_lines) AS n_baskets,
    -- the catalogue in product_no order (the run's product ids sorted, agg_run_names): (id,
    -- newest name, newest category, baskets with it); product_no is the position in it
    (SELECT product_ids FROM agg_run_names) AS ids,
    (
        SELECT arraySort(groupArray((product_no, name, category, n)))
        FROM (
            SELECT product_no, argMax(product_name, day) AS name,
                argMax(category, day) AS category, uniqExact(order_no) AS n
            FROM agg_run_lines
            GROUP BY product_no
        )
    ) AS catalogue,
    arrayMap(t -> t.2, catalogue) AS names,
    arrayMap(t -> t.3, catalogue) AS categories,
    arrayMap(t -> t.4, catalogue) AS counts,
    baskets AS (
        SELECT any(day) AS day, arraySort(groupUniqArray(product_no)) AS items
        FROM agg_run_lines
        GROUP BY order_no
        HAVING length(items) > 1
    ),
    pairs AS (
        -- a pair (a < b) packed into one UInt64: a * 2^32 + b
        SELECT intDiv(pair, 4294967296) AS a, pair % 4294967296 AS b, count() AS n,
            min(day) AS first_day, max(day) AS last_day
        FROM baskets
        ARRAY JOIN arrayFlatten(arrayMap(
            (x, i) -> arrayMap(y -> toUInt64(x) * 4294967296 + y, arraySlice(items, i + 1)),
            items, arrayEnumerate(items))) AS pair
        GROUP BY pair
        HAVING n >= {min_co:UInt32}
    ),
    directed AS (
        -- both directions of each pair, grouped by the first product with the partners sorted:
        -- the rows come out in the table's key order (product numbers sort like the ids), so
        -- the insert writes them without sorting 1M+ rows of strings
        SELECT
            pa,
            arraySort(t -> t.1, groupArray((pb, n, first_day, last_day, n_a, n_b, lift)))
                AS partners
        FROM (
            SELECT
                tupleElement(dir, 1) AS pa,
                tupleElement(dir, 2) AS pb,
                n, first_day, last_day,
                counts[a] AS n_a,
                counts[b] AS n_b,
                n * n_baskets / (n_a * n_b) AS lift
            FROM pairs
            ARRAY JOIN [(a, b), (b, a)] AS dir
        )
        GROUP BY pa
        ORDER BY pa
    )
SELECT
    {store:String} AS klaviyo_public_id,
    ids[pa] AS product_a,
    ids[pb] AS product_b,
    names[pa] AS product_a_name,
    names[pb] AS product_b_name,
    toUInt32(n) AS co_purchase_count,
    toFloat32(n / counts[pa]) AS confidence,
    toFloat32(lift) AS lift,
    toFloat32(n / n_baskets) AS support,
    first_day AS first_co_purchase,
    last_day AS last_co_purchase,
    multiIf(
        lift >= 2 AND greatest(n / n_a, n / n_b) >= 0.2, 'frequently_bought',
        lift < 1 AND categories[pa] != '' AND categories[pa] = categories[pb], 'substitute',
        'complement'
    ) AS relationship_type,
    {version:DateTime} AS calculated_at
FROM (
    SELECT pa, p.1 AS pb, p.2 AS n, p.3 AS first_day, p.4 AS last_day, p.5 AS n_a, p.6 AS n_b,
        p.7 AS lift
    FROM directed
    ARRAY JOIN partners AS p
)
