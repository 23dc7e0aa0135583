-- 0001: the seven tables cron_sync writes, exactly as spec/data-model.md defines them.
-- Frozen once applied: change the schema with a new numbered migration.

CREATE TABLE IF NOT EXISTS campaign_statistics (
    -- Identifiers
    klaviyo_public_id String,
    campaign_id String,
    campaign_name String,
    send_channel String,  -- 'email', 'sms', 'push'
    date Date,

    -- Delivery Metrics
    recipients Float64,
    delivered Float64,
    bounced Float64,
    failed Float64,

    -- Engagement Metrics
    opens Float64,
    opens_unique Float64,
    clicks Float64,
    clicks_unique Float64,

    -- Conversion Metrics
    conversions Float64,
    conversion_uniques Float64,
    conversion_value Float64,

    -- List Health Metrics
    unsubscribes Float64,

    -- Rate Metrics (stored as percentages)
    open_rate_pct Float64,
    click_rate_pct Float64,
    conversion_rate_pct Float64,
    unsubscribe_rate_pct Float64,
    bounce_rate_pct Float64,
    delivery_rate_pct Float64,

    -- Version column for RMT
    updated_at DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (klaviyo_public_id, campaign_id, date);

CREATE TABLE IF NOT EXISTS flow_statistics (
    -- Identifiers
    klaviyo_public_id String,
    flow_id String,
    flow_name String,
    flow_message_id String,
    flow_message_name String,
    send_channel String,
    date Date,

    -- Delivery Metrics
    recipients Float64,
    delivered Float64,
    bounced Float64,
    failed Float64,

    -- Engagement Metrics
    opens Float64,
    opens_unique Float64,
    clicks Float64,
    clicks_unique Float64,

    -- Conversion Metrics
    conversions Float64,
    conversion_uniques Float64,
    conversion_value Float64,

    -- List Health Metrics
    unsubscribes Float64,

    -- Rate Metrics (stored as percentages)
    open_rate_pct Float64,
    click_rate_pct Float64,
    conversion_rate_pct Float64,
    unsubscribe_rate_pct Float64,
    bounce_rate_pct Float64,
    delivery_rate_pct Float64,

    -- Version column for RMT
    updated_at DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (klaviyo_public_id, flow_id, flow_message_id, date);

CREATE TABLE IF NOT EXISTS form_statistics (
    -- Identifiers
    klaviyo_public_id String,
    form_id String,
    form_name String,
    date Date,

    -- Engagement Metrics
    viewed_form Float64,
    viewed_form_uniques Float64,
    submits Float64,
    submits_unique Float64,  -- Note: API field is submits_unique, not submits_uniques
    qualified_form Float64,
    qualified_form_uniques Float64,

    -- Version column for RMT
    updated_at DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (klaviyo_public_id, form_id, date);

CREATE TABLE IF NOT EXISTS segment_statistics (
    -- Identifiers
    klaviyo_public_id String,
    segment_id String,
    segment_name String,
    date Date,

    -- Membership Metrics
    total_members Int64,
    new_members Int64,
    removed_members Int64,
    daily_change Int64,

    -- Version column for RMT
    updated_at DateTime
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (klaviyo_public_id, segment_id, date);

CREATE TABLE IF NOT EXISTS klaviyo_orders (
    -- Identifiers
    klaviyo_public_id String,
    order_id String,
    customer_id String,
    customer_email String,

    -- Order Details
    order_value Decimal(10, 2),
    order_date Date,
    order_timestamp DateTime64(3),
    item_count UInt32,
    product_count UInt32,

    -- Customer Context
    is_first_order UInt8,
    order_count_for_customer UInt32,
    days_since_last_order Int32,

    -- Channel & Location
    channel String DEFAULT 'web',
    device_type String,
    shipping_city String,
    shipping_state String,
    shipping_country String,
    shipping_zip String,

    -- Discounts
    discount_amount Decimal(10, 2),
    discount_code String,
    discount_type String,

    -- Customer Attributes at Order Time
    customer_tags Array(String),
    customer_total_spent Decimal(10, 2),
    customer_order_count UInt32,

    -- UTM Tracking
    utm_source String,
    utm_medium String,
    utm_campaign String,

    -- Metadata
    synced_at DateTime,
    inserted_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(inserted_at)
ORDER BY (klaviyo_public_id, order_id);

CREATE TABLE IF NOT EXISTS klaviyo_order_line_items (
    -- Identifiers
    klaviyo_public_id String,
    order_id String,
    line_item_id String,
    product_id String,
    variant_id String,

    -- Product Info
    product_name String,
    product_brand String,
    sku String,
    collections Array(String),
    product_type String,

    -- Quantities & Pricing
    quantity UInt32,
    unit_price Decimal(10, 2),
    line_total Decimal(10, 2),

    -- Discounts
    discount_amount Decimal(10, 2),
    discount_per_item Decimal(10, 2),

    -- Metadata
    synced_at DateTime,
    inserted_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(inserted_at)
ORDER BY (klaviyo_public_id, order_id, line_item_id);

CREATE TABLE IF NOT EXISTS refund_cancelled_orders (
    -- Identifiers
    klaviyo_public_id String,
    event_id String,
    event_timestamp DateTime64(3),
    event_type String,  -- 'refund' or 'cancelled'

    -- Original Order Reference
    original_order_id String,
    original_order_timestamp DateTime64(3),

    -- Customer Information
    customer_id String,
    customer_email String,

    -- Refund/Cancellation Details
    refund_amount Decimal(10, 2),
    refund_reason String,
    refund_currency String DEFAULT 'USD',

    -- Line Item Details (if partial refund)
    line_items_affected Array(String),
    products_affected Array(String),
    quantities_refunded Array(UInt32),

    -- Klaviyo Event Metadata
    metric_id String,
    metric_name String,
    profile_id String,

    -- Additional Properties
    event_properties String,  -- JSON string
    profile_properties String, -- JSON string

    -- Store Identification
    store_public_ids Array(String),

    -- Sync Metadata
    synced_at DateTime,
    inserted_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(inserted_at)
ORDER BY (klaviyo_public_id, event_id, customer_id);
