-- 0002: the five tables cron_aggregates writes, exactly as spec/data-model.md defines them.
-- Frozen once applied: change the schema with a new numbered migration.

CREATE TABLE IF NOT EXISTS customer_profiles (
    -- Identifiers
    klaviyo_public_id String,
    customer_email String,
    customer_id String,

    -- Order Metrics
    total_orders UInt32,
    total_revenue Decimal(10, 2),
    total_refunds Decimal(10, 2),
    net_revenue Decimal(10, 2),  -- revenue - refunds
    avg_order_value Decimal(10, 2),

    -- Time Metrics
    first_order_date Date,
    last_order_date Date,
    days_since_last_order UInt32,
    avg_days_between_orders Float32,

    -- RFM Scoring
    recency_score UInt8,      -- 1-5 (5 = most recent)
    frequency_score UInt8,     -- 1-5 (5 = most frequent)
    monetary_score UInt8,      -- 1-5 (5 = highest value)
    rfm_score String,         -- Combined "555" format
    rfm_segment String,       -- Champions, Loyal, At Risk, etc.

    -- Product Preferences
    favorite_category String,
    favorite_brand String,
    categories_purchased Array(String),
    brands_purchased Array(String),
    unique_products_purchased UInt32,

    -- Behavior Metrics
    discount_usage_rate Float32,
    avg_discount_amount Decimal(10, 2),
    weekend_buyer UInt8,
    preferred_order_hour UInt8,

    -- Retention
    churn_risk_score Float32,
    customer_age_days UInt32,

    -- Version column
    last_updated DateTime
) ENGINE = ReplacingMergeTree(last_updated)
ORDER BY (klaviyo_public_id, customer_email);

CREATE TABLE IF NOT EXISTS products_master (
    -- Identifiers
    klaviyo_public_id String,
    product_id String,
    product_name String,

    -- Product Details
    sku String,
    brand String,
    category String,
    collections Array(String),
    tags Array(String),

    -- Pricing
    avg_price Decimal(10, 2),
    min_price Decimal(10, 2),
    max_price Decimal(10, 2),

    -- Sales Metrics (30/60/90 day windows)
    revenue_30d Decimal(10, 2),
    revenue_60d Decimal(10, 2),
    revenue_90d Decimal(10, 2),
    quantity_sold_30d UInt32,
    quantity_sold_60d UInt32,
    quantity_sold_90d UInt32,
    unique_customers_30d UInt32,
    unique_customers_60d UInt32,
    unique_customers_90d UInt32,

    -- Performance Metrics
    conversion_rate Float32,
    repurchase_rate Float32,
    avg_units_per_order Float32,
    revenue_per_customer Decimal(10, 2),

    -- Temporal Metrics
    first_sold_date Date,
    last_sold_date Date,
    days_on_market UInt32,
    velocity_score Float32,

    -- Rankings
    revenue_rank UInt32,
    quantity_rank UInt32,

    -- Discounts
    discount_rate Float32,
    avg_discount_amount Decimal(10, 2),

    -- Version column
    last_updated DateTime
) ENGINE = ReplacingMergeTree(last_updated)
ORDER BY (klaviyo_public_id, product_id);

CREATE TABLE IF NOT EXISTS product_relationships_optimized (
    -- Identifiers
    klaviyo_public_id String,
    product_a String,
    product_b String,

    -- Product Names
    product_a_name String,
    product_b_name String,

    -- Relationship Metrics
    co_purchase_count UInt32,
    confidence Float32,        -- P(B|A) - probability of B given A
    lift Float32,              -- How much more likely together
    support Float32,           -- P(A and B)

    -- Temporal
    first_co_purchase Date,
    last_co_purchase Date,

    -- Relationship Type
    relationship_type String,  -- 'frequently_bought', 'substitute', 'complement'

    -- Version column
    calculated_at DateTime
) ENGINE = ReplacingMergeTree(calculated_at)
ORDER BY (klaviyo_public_id, product_a, product_b);

CREATE TABLE IF NOT EXISTS campaign_daily_aggregates (
    -- Dimensions
    klaviyo_public_id String,
    date Date,
    send_channel String,  -- 'email', 'sms', 'push'

    -- Campaign Metrics
    total_campaigns UInt32,
    campaigns_sent Array(String),

    -- Volume Metrics
    total_recipients UInt64,
    total_delivered UInt64,
    total_opens UInt64,
    total_clicks UInt64,
    total_conversions UInt64,

    -- Revenue Metrics
    total_revenue Decimal(10, 2),
    avg_revenue_per_campaign Decimal(10, 2),
    avg_revenue_per_recipient Decimal(10, 2),

    -- Performance Metrics
    avg_open_rate Float32,
    avg_click_rate Float32,
    avg_conversion_rate Float32,

    -- Best/Worst Performers
    best_campaign_id String,
    best_campaign_name String,
    best_campaign_revenue Decimal(10, 2),
    worst_campaign_id String,
    worst_campaign_name String,
    worst_campaign_revenue Decimal(10, 2),

    -- Tag Analysis
    top_tags Array(String),
    tag_performance Map(String, Float64),  -- tag -> revenue

    -- Version column
    processed_at DateTime
) ENGINE = ReplacingMergeTree(processed_at)
ORDER BY (klaviyo_public_id, date, send_channel);

CREATE TABLE IF NOT EXISTS account_metrics_daily (
    -- Dimensions
    klaviyo_public_id String,
    date Date,

    -- Revenue Metrics
    total_revenue Decimal(10, 2),
    email_revenue Decimal(10, 2),
    sms_revenue Decimal(10, 2),
    flow_revenue Decimal(10, 2),
    campaign_revenue Decimal(10, 2),

    -- Order Metrics
    total_orders UInt32,
    email_orders UInt32,
    sms_orders UInt32,
    avg_order_value Decimal(10, 2),

    -- Customer Metrics
    unique_customers UInt32,
    new_customers UInt32,
    repeat_customers UInt32,
    new_customer_revenue Decimal(10, 2),
    repeat_customer_revenue Decimal(10, 2),

    -- Engagement Metrics
    total_emails_sent UInt64,
    total_sms_sent UInt64,
    total_opens UInt64,
    total_clicks UInt64,

    -- Efficiency Metrics
    revenue_per_email Decimal(10, 2),
    revenue_per_sms Decimal(10, 2),
    revenue_per_recipient Decimal(10, 2),

    -- Growth Metrics (vs previous period)
    revenue_growth_pct Float32,
    order_growth_pct Float32,
    customer_growth_pct Float32,

    -- Version column
    timestamp DateTime
) ENGINE = ReplacingMergeTree(timestamp)
ORDER BY (klaviyo_public_id, date);
