-- customer_profiles: one row per customer email with at least one counted order up to the
-- as-of day (cancelled orders do not count; refunds of counted orders reduce net_revenue).
-- RFM scores are quintiles within the store (5 = best); churn_risk_score = 1 - P(alive) under
-- BG/NBD with the parameters {r}, {alpha}, {a}, {b} the runner fitted for this store (in days).
INSERT INTO customer_profiles (
    klaviyo_public_id, customer_email, customer_id, total_orders, total_revenue, total_refunds,
    net_revenue, avg_order_value, first_order_date, last_order_date, days_since_last_order,
    avg_days_between_orders, recency_score, frequency_score, monetary_score, rfm_score,
    rfm_segment, favorite_category, favorite_brand, categories_purchased, brands_purchased,
    unique_products_purchased, discount_usage_rate, avg_discount_amount, weekend_buyer,
    preferred_order_hour, churn_risk_score, customer_age_days, last_updated
)
WITH
    refunds AS (
        SELECT rr.original_order_id AS order_id, sum(rr.refund_amount) AS refunded
        FROM refund_cancelled_orders AS rr FINAL
        WHERE rr.klaviyo_public_id = {store:String}
            AND lower(rr.event_type) = 'refund'
            AND toDate(rr.event_timestamp, {tz:String}) <= {as_of:Date}
        GROUP BY order_id
    ),
    -- Everything below is keyed by the run's integer customer_no (agg_run_orders; for an order
    -- with an email it numbers exactly that email) and joined on it; the email comes back once.
    orders AS (
        -- the run's counted orders (agg_run_orders, runner.prepare_inputs) that have an email
        SELECT
            customer_no, order_id, email, customer_id, ts, day, order_value, discount_amount,
            weekday, hour
        FROM agg_run_orders
        WHERE email != ''
    ),
    refund_totals AS (
        SELECT o.customer_no AS customer_no, sum(least(r.refunded, o.order_value)) AS total_refunds
        FROM orders AS o
        INNER JOIN refunds AS r ON r.order_id = o.order_id
        GROUP BY customer_no
    ),
    preferred_hours AS (
        -- the most frequent local hour; ties go to the earliest hour: the largest
        -- n * 32 + (23 - hour) is the largest n, then the smallest hour
        SELECT customer_no, 23 - modulo(max(n * 32 + (23 - hour)), 32) AS preferred_hour
        FROM (SELECT customer_no, hour, count() AS n FROM orders GROUP BY customer_no, hour)
        GROUP BY customer_no
    ),
    -- Line items: one aggregation per customer over the run's counted line items of orders with
    -- an email (agg_run_lines), keyed by integers: each line's category and brand number (their
    -- positions in the run's sorted names, agg_run_names; 0 = none named), its spend (line
    -- total after the line discount) and the distinct product numbers.
    line_items AS (
        SELECT
            customer_no,
            groupArray(category_no) AS category_nos,
            groupArray(brand_no) AS brand_nos,
            groupArray(line_total - discount_amount) AS spends,
            uniqExact(product_no) AS unique_products
        FROM agg_run_lines
        WHERE has_email
        GROUP BY customer_no
    ),
    -- Per customer, the distinct named categories (brands) sorted by number, which is sorted by
    -- name, with the spend on each. Favourite: the highest spend; ties go to the alphabetically
    -- first name, i.e. the first number whose spend is the maximum.
    (SELECT categories FROM agg_run_names) AS category_names,
    (SELECT brands FROM agg_run_names) AS brand_names,
    preferences AS (
        SELECT
            customer_no,
            unique_products,
            arraySort(arrayFilter(k -> k != 0, arrayDistinct(category_nos))) AS categories,
            arrayMap(
                k -> arraySum(arrayFilter((v, c) -> c = k, spends, category_nos)), categories
            ) AS category_spends,
            arraySort(arrayFilter(k -> k != 0, arrayDistinct(brand_nos))) AS brands,
            arrayMap(
                k -> arraySum(arrayFilter((v, c) -> c = k, spends, brand_nos)), brands
            ) AS brand_spends
        FROM line_items
    ),
    customers AS (
        SELECT
            customer_no,
            any(email) AS email,
            argMax(customer_id, ts) AS customer_id,
            count() AS total_orders,
            sum(order_value) AS total_revenue,
            min(day) AS first_day,
            max(day) AS last_day,
            uniqExact(day) AS purchase_days,
            countIf(discount_amount > 0) AS discounted_orders,
            sumIf(discount_amount, discount_amount > 0) AS discount_total,
            countIf(weekday >= 6) AS weekend_orders
        FROM orders
        GROUP BY customer_no
    ),
    measured AS (
        SELECT
            c.*,
            rt.total_refunds AS total_refunds,
            c.total_revenue - rt.total_refunds AS net_revenue,
            dateDiff('day', c.last_day, {as_of:Date}) AS recency_days,
            dateDiff('day', c.first_day, c.last_day) AS active_span,
            dateDiff('day', c.first_day, {as_of:Date}) AS age_days
        FROM customers AS c
        LEFT JOIN refund_totals AS rt ON rt.customer_no = c.customer_no
    ),
    scored AS (
        -- quintile score = 1 + floor(5 * (customers strictly worse) / customers), ties share
        SELECT
            *,
            1 + intDiv(5 * (rank() OVER (ORDER BY recency_days DESC) - 1), count() OVER ())
                AS r_score,
            1 + intDiv(5 * (rank() OVER (ORDER BY total_orders ASC) - 1), count() OVER ())
                AS f_score,
            1 + intDiv(5 * (rank() OVER (ORDER BY net_revenue ASC) - 1), count() OVER ())
                AS m_score
        FROM measured
    )
SELECT
    {store:String} AS klaviyo_public_id,
    s.email AS customer_email,
    s.customer_id AS customer_id,
    toUInt32(s.total_orders) AS total_orders,
    toDecimal64(s.total_revenue, 2) AS total_revenue,
    toDecimal64(s.total_refunds, 2) AS total_refunds,
    toDecimal64(s.net_revenue, 2) AS net_revenue,
    toDecimal64(round(toDecimal128(toFloat64(s.total_revenue) / s.total_orders, 6), 2), 2) AS avg_order_value,
    s.first_day AS first_order_date,
    s.last_day AS last_order_date,
    toUInt32(s.recency_days) AS days_since_last_order,
    toFloat32(if(s.total_orders > 1, s.active_span / (s.total_orders - 1), 0))
        AS avg_days_between_orders,
    toUInt8(s.r_score) AS recency_score,
    toUInt8(s.f_score) AS frequency_score,
    toUInt8(s.m_score) AS monetary_score,
    concat(toString(s.r_score), toString(s.f_score), toString(s.m_score)) AS rfm_score,
    -- rows: recency score 5..1; columns: FM = ceil((F + M) / 2) 1..5 (docs/metrics.md)
    [
        ['New Customers', 'Potential Loyalist', 'Potential Loyalist', 'Champions', 'Champions'],
        ['Promising', 'Potential Loyalist', 'Loyal Customers', 'Champions', 'Champions'],
        ['About To Sleep', 'About To Sleep', 'Need Attention', 'Loyal Customers',
            'Loyal Customers'],
        ['Hibernating', 'Hibernating', 'Need Attention', 'At Risk', 'At Risk'],
        ['Lost', 'Lost', 'At Risk', 'Can''t Lose Them', 'Can''t Lose Them']
    ][6 - s.r_score][intDiv(s.f_score + s.m_score + 1, 2)] AS rfm_segment,
    -- (a customer without line items, or without named ones: empty arrays, number 0, '')
    category_names[pf.categories[indexOf(pf.category_spends, arrayMax(pf.category_spends))]]
        AS favorite_category,
    brand_names[pf.brands[indexOf(pf.brand_spends, arrayMax(pf.brand_spends))]]
        AS favorite_brand,
    arrayMap(k -> category_names[k], pf.categories) AS categories_purchased,
    arrayMap(k -> brand_names[k], pf.brands) AS brands_purchased,
    toUInt32(pf.unique_products) AS unique_products_purchased,
    toFloat32(s.discounted_orders / s.total_orders) AS discount_usage_rate,
    toDecimal64(if(s.discounted_orders > 0,
        round(toDecimal128(toFloat64(s.discount_total) / s.discounted_orders, 6), 2), 0), 2) AS avg_discount_amount,
    toUInt8(s.weekend_orders * 2 > s.total_orders) AS weekend_buyer,
    toUInt8(h.preferred_hour) AS preferred_order_hour,
    toFloat32(1 - if(s.purchase_days <= 1, 1,
        1 / (1 + {a:Float64} / ({b:Float64} + s.purchase_days - 2)
            * pow(({alpha:Float64} + s.age_days) / ({alpha:Float64} + s.active_span),
                  {r:Float64} + s.purchase_days - 1)))) AS churn_risk_score,
    toUInt32(s.age_days) AS customer_age_days,
    {version:DateTime} AS last_updated
FROM scored AS s
LEFT JOIN preferences AS pf ON pf.customer_no = s.customer_no
LEFT JOIN preferred_hours AS h ON h.customer_no = s.customer_no
