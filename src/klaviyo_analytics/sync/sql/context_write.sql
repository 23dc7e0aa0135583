-- Customer context, step 2 of 2 (events.recompute_context): re-write the orders collected in
-- {changes:Identifier} by context_changes.sql with their derived values and a newer version:
-- one read of the store's current rows (FINAL; the join keeps only the changed orders, and it
-- runs after FINAL, so the row written is the newest one however the order changed) for
-- however many buckets the changes came from.
-- include: orders_insert.sql
SELECT o.klaviyo_public_id, o.order_id, o.customer_id, o.customer_email, o.order_value,
       o.order_date, o.order_timestamp, o.item_count, o.product_count, c.new_first, c.new_count,
       c.new_days, o.channel, o.device_type, o.shipping_city, o.shipping_state,
       o.shipping_country, o.shipping_zip, o.discount_amount, o.discount_code, o.discount_type,
       o.customer_tags, o.customer_total_spent, o.customer_order_count, o.utm_source,
       o.utm_medium, o.utm_campaign, o.synced_at, {version:DateTime}
FROM klaviyo_orders AS o FINAL
INNER JOIN {changes:Identifier} AS c ON o.order_id = c.order_id
WHERE o.klaviyo_public_id = {kid:String}
