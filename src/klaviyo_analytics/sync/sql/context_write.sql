-- Customer context, step 2 of 2 (events.recompute_context): re-write the orders collected in
-- {changes:Identifier} by context_changes.sql with their derived values and a newer version:
-- one read of the store's current rows (FINAL; the join keeps only the changed orders, and it
-- runs after FINAL, so the row written is the newest one however the order changed) for
-- however many buckets the changes came from.
INSERT INTO klaviyo_orders (
    klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
    order_timestamp, item_count, product_count, is_first_order, order_count_for_customer,
    days_since_last_order, channel, device_type, shipping_city, shipping_state,
    shipping_country, shipping_zip, discount_amount, discount_code, discount_type,
    customer_tags, customer_total_spent, customer_order_count, utm_source, utm_medium,
    utm_campaign, synced_at, inserted_at
)
SELECT o.klaviyo_public_id, o.order_id, o.customer_id, o.customer_email, o.order_value,
       o.order_date, o.order_timestamp, o.item_count, o.product_count, c.new_first, c.new_count,
       c.new_days, o.channel, o.device_type, o.shipping_city, o.shipping_state,
       o.shipping_country, o.shipping_zip, o.discount_amount, o.discount_code, o.discount_type,
       o.customer_tags, o.customer_total_spent, o.customer_order_count, o.utm_source,
       o.utm_medium, o.utm_campaign, o.synced_at, {version:DateTime}
FROM klaviyo_orders AS o FINAL
INNER JOIN {changes:Identifier} AS c ON o.order_id = c.order_id
WHERE o.klaviyo_public_id = {kid:String}
