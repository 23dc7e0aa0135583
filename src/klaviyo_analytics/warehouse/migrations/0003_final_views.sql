-- 0003: one view per table that reads it with FINAL, so BI tools (Grafana, Metabase, Superset)
-- see deduplicated rows without knowing about ReplacingMergeTree.

CREATE VIEW IF NOT EXISTS campaign_statistics_final AS SELECT * FROM campaign_statistics FINAL;
CREATE VIEW IF NOT EXISTS flow_statistics_final AS SELECT * FROM flow_statistics FINAL;
CREATE VIEW IF NOT EXISTS form_statistics_final AS SELECT * FROM form_statistics FINAL;
CREATE VIEW IF NOT EXISTS segment_statistics_final AS SELECT * FROM segment_statistics FINAL;
CREATE VIEW IF NOT EXISTS klaviyo_orders_final AS SELECT * FROM klaviyo_orders FINAL;
CREATE VIEW IF NOT EXISTS klaviyo_order_line_items_final AS SELECT * FROM klaviyo_order_line_items FINAL;
CREATE VIEW IF NOT EXISTS refund_cancelled_orders_final AS SELECT * FROM refund_cancelled_orders FINAL;
CREATE VIEW IF NOT EXISTS customer_profiles_final AS SELECT * FROM customer_profiles FINAL;
CREATE VIEW IF NOT EXISTS products_master_final AS SELECT * FROM products_master FINAL;
CREATE VIEW IF NOT EXISTS product_relationships_optimized_final AS SELECT * FROM product_relationships_optimized FINAL;
CREATE VIEW IF NOT EXISTS campaign_daily_aggregates_final AS SELECT * FROM campaign_daily_aggregates FINAL;
CREATE VIEW IF NOT EXISTS account_metrics_daily_final AS SELECT * FROM account_metrics_daily FINAL;
