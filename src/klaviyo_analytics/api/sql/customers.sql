-- Customer profiles (LTV, RFM, churn risk) of one store, filtered; from customer_profiles.
SELECT
    cp.customer_email AS customer_email,
    cp.customer_id AS customer_id,
    toUInt64(cp.total_orders) AS total_orders,
    toFloat64(cp.total_revenue) AS total_revenue,
    toFloat64(cp.total_refunds) AS total_refunds,
    toFloat64(cp.net_revenue) AS net_revenue,
    toFloat64(cp.avg_order_value) AS avg_order_value,
    cp.first_order_date AS first_order_date,
    cp.last_order_date AS last_order_date,
    toUInt64(cp.days_since_last_order) AS days_since_last_order,
    toUInt8(cp.recency_score) AS recency_score,
    toUInt8(cp.frequency_score) AS frequency_score,
    toUInt8(cp.monetary_score) AS monetary_score,
    cp.rfm_score AS rfm_score,
    cp.rfm_segment AS rfm_segment,
    cp.favorite_category AS favorite_category,
    cp.favorite_brand AS favorite_brand,
    round(toFloat64(cp.churn_risk_score), 4) AS churn_risk_score
FROM customer_profiles AS cp FINAL
WHERE cp.klaviyo_public_id = {kid:String}
  AND ({segment:String} = '' OR cp.rfm_segment = {segment:String})
  AND round(toFloat64(cp.churn_risk_score), 4) BETWEEN {churn_min:Float64} AND {churn_max:Float64}
