-- Product performance of one store for a 30/60/90-day window, from products_master.
SELECT
    pm.product_id AS product_id,
    pm.product_name AS product_name,
    pm.sku AS sku,
    pm.brand AS brand,
    pm.category AS category,
    toFloat64(pm.avg_price) AS avg_price,
    toFloat64(multiIf({window:UInt16} = 30, pm.revenue_30d, {window:UInt16} = 60, pm.revenue_60d,
        pm.revenue_90d)) AS revenue,
    toUInt64(multiIf({window:UInt16} = 30, pm.quantity_sold_30d, {window:UInt16} = 60,
        pm.quantity_sold_60d, pm.quantity_sold_90d)) AS quantity_sold,
    toUInt64(multiIf({window:UInt16} = 30, pm.unique_customers_30d, {window:UInt16} = 60,
        pm.unique_customers_60d, pm.unique_customers_90d)) AS unique_customers,
    round(toFloat64(pm.velocity_score), 4) AS velocity_score,
    round(toFloat64(pm.repurchase_rate), 4) AS repurchase_rate,
    round(toFloat64(pm.discount_rate), 4) AS discount_rate,
    pm.first_sold_date AS first_sold_date,
    pm.last_sold_date AS last_sold_date,
    toUInt64(pm.revenue_rank) AS revenue_rank
FROM products_master AS pm FINAL
WHERE pm.klaviyo_public_id = {kid:String}
