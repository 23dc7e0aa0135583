-- Products bought together with one product (it is product_a; confidence is P(b | a)), from
-- product_relationships_optimized.
SELECT
    pr.product_b AS product_id,
    pr.product_b_name AS product_name,
    toUInt64(pr.co_purchase_count) AS co_purchase_count,
    round(toFloat64(pr.confidence), 6) AS confidence,
    round(toFloat64(pr.lift), 6) AS lift,
    round(toFloat64(pr.support), 6) AS support,
    pr.first_co_purchase AS first_co_purchase,
    pr.last_co_purchase AS last_co_purchase,
    pr.relationship_type AS relationship_type
FROM product_relationships_optimized AS pr FINAL
WHERE pr.klaviyo_public_id = {kid:String}
  AND pr.product_a = {product_id:String}
ORDER BY lift DESC, confidence DESC, product_id
LIMIT {limit:UInt32}
