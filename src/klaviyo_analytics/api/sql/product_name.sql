-- The name of one product, if the store has it (products_master, else line items).
SELECT name FROM
(
    SELECT pm.product_name AS name, 1 AS pref
    FROM products_master AS pm FINAL
    WHERE pm.klaviyo_public_id = {kid:String} AND pm.product_id = {product_id:String}
    UNION ALL
    SELECT li.product_name AS name, 2 AS pref
    FROM klaviyo_order_line_items AS li FINAL
    WHERE li.klaviyo_public_id = {kid:String} AND li.product_id = {product_id:String}
)
ORDER BY pref
LIMIT 1
