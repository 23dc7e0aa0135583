-- 0004: helper table of cron_aggregates (not one of the 12 spec tables).
-- campaign_tags: the tag names of each campaign (Klaviyo GET /api/campaigns?include=tags), which
-- no spec table carries; campaign_daily_aggregates reads it for top_tags and tag_performance.
-- Frozen once applied: change the schema with a new numbered migration.

CREATE TABLE IF NOT EXISTS campaign_tags (
    klaviyo_public_id String,
    campaign_id String,
    tags Array(String),
    updated_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (klaviyo_public_id, campaign_id);
