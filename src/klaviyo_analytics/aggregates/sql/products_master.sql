-- products_master: one row per product sold in at least one counted order up to the as-of day
-- (cancelled orders do not count). Revenue is the line total after the line's discount;
-- windows are the N account-local days ending on the as-of day, inclusive.
INSERT INTO products_master (
    klaviyo_public_id, product_id, product_name, sku, brand, category, collections, tags,
    avg_price, min_price, max_price, revenue_30d, revenue_60d, revenue_90d, quantity_sold_30d,
    quantity_sold_60d, quantity_sold_90d, unique_customers_30d, unique_customers_60d,
    unique_customers_90d, conversion_rate, repurchase_rate, avg_units_per_order,
    revenue_per_customer, first_sold_date, last_sold_date, days_on_market, velocity_score,
    revenue_rank, quantity_rank, discount_rate, avg_discount_amount, last_updated
)
WITH
    orders_per_day AS (
        -- store orders placed on or after each day (the denominator of conversion_rate)
        SELECT day, sum(n) OVER (ORDER BY day DESC) AS orders_since
        FROM (SELECT day, count() AS n FROM agg_run_orders GROUP BY day)
    ),
    lines AS (
        -- the run's counted line items (agg_run_lines, runner.prepare_inputs)
        SELECT
            product_no, product_id, product_name, sku, brand, category, collections, quantity,
            unit_price,
            line_total, discount_amount,
            line_total - discount_amount AS revenue,
            order_no, customer_no, ts, day,
            dateDiff('day', day, {as_of:Date}) AS age
        FROM agg_run_lines
    ),
    product_customers AS (
        -- one row per (product, customer): the orders with the product and the newest day,
        -- so distinct customers and orders are plain counts and sums one level up
        -- (customer_no: the run's integer number of the customer, email else customer id;
        -- product_no: the product id's number, agg_run_names)
        SELECT product_no, customer_no, uniqExact(order_no) AS n_orders, min(age) AS min_age
        FROM lines
        GROUP BY product_no, customer_no
    ),
    customer_counts AS (
        SELECT
            product_no,
            countIf(n_orders >= 2) / count() AS repurchase_rate,
            countIf(min_age < 30) AS customers_30d,
            countIf(min_age < 60) AS customers_60d,
            countIf(min_age < 90) AS customers_90d,
            count() AS customers,
            sum(n_orders) AS orders
        FROM product_customers
        GROUP BY product_no
    ),
    line_totals AS (
        SELECT
            product_no,
            any(product_id) AS product_id,
            argMax(product_name, ts) AS product_name,
            argMax(sku, ts) AS sku,
            argMax(brand, ts) AS brand,
            argMax(category, ts) AS category,
            argMax(collections, ts) AS collections,
            sum(quantity) AS total_quantity,
            sum(line_total) AS gross,
            sum(revenue) AS total_revenue,
            min(unit_price) AS min_price,
            max(unit_price) AS max_price,
            sumIf(revenue, age < 30) AS revenue_30d,
            sumIf(revenue, age < 60) AS revenue_60d,
            sumIf(revenue, age < 90) AS revenue_90d,
            sumIf(quantity, age < 30) AS quantity_30d,
            sumIf(quantity, age < 60) AS quantity_60d,
            sumIf(quantity, age < 90) AS quantity_90d,
            min(day) AS first_day,
            max(day) AS last_day,
            sum(discount_amount) AS discount_total,
            countIf(discount_amount > 0) AS discounted_lines,
            sumIf(discount_amount, discount_amount > 0) AS discounted_amount
        FROM lines
        GROUP BY product_no
    ),
    per_product AS (
        SELECT
            t.*,
            c.customers_30d AS customers_30d,
            c.customers_60d AS customers_60d,
            c.customers_90d AS customers_90d,
            c.customers AS customers,
            c.orders AS orders,
            c.repurchase_rate AS repurchase_rate
        FROM line_totals AS t
        INNER JOIN customer_counts AS c ON c.product_no = t.product_no
    ),
    ranked AS (
        SELECT
            p.* EXCEPT (product_id),
            p.product_id AS product_id,
            d.orders_since AS orders_since,
            dateDiff('day', p.first_day, {as_of:Date}) AS market_days,
            row_number() OVER (ORDER BY p.total_revenue DESC, p.product_id ASC) AS revenue_rank,
            row_number() OVER (ORDER BY p.total_quantity DESC, p.product_id ASC) AS quantity_rank,
            count() OVER () AS product_count
        FROM per_product AS p
        LEFT JOIN orders_per_day AS d ON d.day = p.first_day
    )
SELECT
    {store:String} AS klaviyo_public_id,
    product_id,
    product_name,
    sku,
    brand,
    category,
    collections,
    -- derived labels (the synced line items carry no product tags); docs/metrics.md
    arrayFilter(t -> t != '', [
        if(revenue_rank <= greatest(1, ceil(product_count / 10)), 'bestseller', ''),
        if(market_days < 30, 'new', ''),
        if(market_days >= 60 AND quantity_30d > 0 AND quantity_30d * 2 >= quantity_90d,
            'trending', ''),
        if(market_days >= 60 AND quantity_60d = 0, 'slow_mover', ''),
        if(gross > 0 AND discount_total / gross >= 0.2, 'discounted', '')
    ]) AS tags,
    toDecimal64(if(total_quantity > 0, round(toDecimal128(toFloat64(gross) / total_quantity, 6), 2), 0), 2) AS avg_price,
    toDecimal64(min_price, 2) AS min_price,
    toDecimal64(max_price, 2) AS max_price,
    toDecimal64(revenue_30d, 2) AS revenue_30d,
    toDecimal64(revenue_60d, 2) AS revenue_60d,
    toDecimal64(revenue_90d, 2) AS revenue_90d,
    toUInt32(quantity_30d) AS quantity_sold_30d,
    toUInt32(quantity_60d) AS quantity_sold_60d,
    toUInt32(quantity_90d) AS quantity_sold_90d,
    toUInt32(customers_30d) AS unique_customers_30d,
    toUInt32(customers_60d) AS unique_customers_60d,
    toUInt32(customers_90d) AS unique_customers_90d,
    toFloat32(orders / orders_since) AS conversion_rate,
    toFloat32(repurchase_rate) AS repurchase_rate,
    toFloat32(total_quantity / orders) AS avg_units_per_order,
    toDecimal64(round(toDecimal128(toFloat64(total_revenue) / customers, 6), 2), 2) AS revenue_per_customer,
    first_day AS first_sold_date,
    last_day AS last_sold_date,
    toUInt32(market_days) AS days_on_market,
    toFloat32(quantity_30d / least(30, market_days + 1)) AS velocity_score,
    toUInt32(revenue_rank) AS revenue_rank,
    toUInt32(quantity_rank) AS quantity_rank,
    toFloat32(if(gross > 0, toFloat64(discount_total) / toFloat64(gross), 0)) AS discount_rate,
    toDecimal64(if(discounted_lines > 0,
        round(toDecimal128(toFloat64(discounted_amount) / discounted_lines, 6), 2), 0), 2) AS avg_discount_amount,
    {version:DateTime} AS last_updated
FROM ranked
