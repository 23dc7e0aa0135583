-- The INSERT head of klaviyo_orders with its columns in the order the statements that write
-- orders select them (orders_from_pages.sql, context_write.sql include it).
INSERT INTO klaviyo_orders (
    klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
    order_timestamp, item_count, product_count, is_first_order, order_count_for_customer,
    days_since_last_order, channel, device_type, shipping_city, shipping_state,
    shipping_country, shipping_zip, discount_amount, discount_code, discount_type,
    customer_tags, customer_total_spent, customer_order_count, utm_source, utm_medium,
    utm_campaign, synced_at, inserted_at
)
