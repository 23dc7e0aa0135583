-- Churn-risk distribution of one store in ten buckets of width 0.1, from customer_profiles.
SELECT
    toUInt8(least(greatest(floor(toFloat64(cp.churn_risk_score) * 10), 0), 9)) AS bucket,
    count() AS customers,
    toFloat64(sum(cp.total_revenue)) AS revenue
FROM customer_profiles AS cp FINAL
WHERE cp.klaviyo_public_id = {kid:String}
GROUP BY bucket
ORDER BY bucket
