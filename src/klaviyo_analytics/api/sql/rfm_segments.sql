-- Customers and revenue per RFM segment of one store, from customer_profiles.
SELECT
    cp.rfm_segment AS segment,
    count() AS customers,
    toFloat64(sum(cp.total_revenue)) AS revenue,
    avg(cp.total_orders) AS avg_orders,
    avg(cp.days_since_last_order) AS avg_days_since_last_order,
    avg(toFloat64(cp.churn_risk_score)) AS avg_churn_risk
FROM customer_profiles AS cp FINAL
WHERE cp.klaviyo_public_id = {kid:String}
GROUP BY cp.rfm_segment
ORDER BY revenue DESC, segment
