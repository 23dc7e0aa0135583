-- Customers and revenue per (recency score, frequency score) cell, from customer_profiles.
SELECT
    toUInt8(cp.recency_score) AS recency_score,
    toUInt8(cp.frequency_score) AS frequency_score,
    count() AS customers,
    toFloat64(sum(cp.total_revenue)) AS revenue
FROM customer_profiles AS cp FINAL
WHERE cp.klaviyo_public_id = {kid:String}
GROUP BY recency_score, frequency_score
ORDER BY recency_score DESC, frequency_score DESC
