-- campaign_daily_aggregates: one row per account-local day and send channel, from
-- campaign_statistics (a campaign's whole lifetime sits on its send date), up to the as-of day.
-- Tags come from campaign_tags (migration 0004), filled from the campaigns' metadata.
INSERT INTO campaign_daily_aggregates (
    klaviyo_public_id, date, send_channel, total_campaigns, campaigns_sent, total_recipients,
    total_delivered, total_opens, total_clicks, total_conversions, total_revenue,
    avg_revenue_per_campaign, avg_revenue_per_recipient, avg_open_rate, avg_click_rate,
    avg_conversion_rate, best_campaign_id, best_campaign_name, best_campaign_revenue,
    worst_campaign_id, worst_campaign_name, worst_campaign_revenue, top_tags, tag_performance,
    processed_at
)
WITH
    -- one level of aggregation: FINAL leaves one row per campaign and day (the table's key), so
    -- each row below is one campaign; these aliases are expressions, not output columns
    sum(c.recipients) AS recipients,
    sum(c.delivered) AS delivered,
    sum(c.conversion_value) AS revenue,
    -- best: the highest revenue, ties to the smallest id; worst: the lowest, same ties
    argMin((c.campaign_id, c.conversion_value, c.campaign_name), (-c.conversion_value, c.campaign_id))
        AS best,
    argMin((c.campaign_id, c.conversion_value, c.campaign_name), (c.conversion_value, c.campaign_id))
        AS worst,
    -- revenue per tag: each campaign's revenue counts once for each of its tags
    arrayFlatten(groupArray(t.tags)) AS tag_list,
    arrayFlatten(groupArray(arrayWithConstant(length(t.tags), c.conversion_value))) AS tag_values,
    arraySort(arrayDistinct(tag_list)) AS tag_names,
    arrayMap(tag -> arraySum(arrayFilter((v, t) -> t = tag, tag_values, tag_list)), tag_names)
        AS tag_sums
SELECT
    {store:String} AS klaviyo_public_id,
    c.date AS date,
    lower(c.send_channel) AS send_channel,
    toUInt32(count()) AS total_campaigns,
    arraySort(groupArray(c.campaign_id)) AS campaigns_sent,
    toUInt64(round(recipients)) AS total_recipients,
    toUInt64(round(delivered)) AS total_delivered,
    toUInt64(round(sum(c.opens))) AS total_opens,
    toUInt64(round(sum(c.clicks))) AS total_clicks,
    toUInt64(round(sum(c.conversions))) AS total_conversions,
    toDecimal64(round(toDecimal128(revenue, 6), 2), 2) AS total_revenue,
    toDecimal64(round(toDecimal128(revenue / count(), 6), 2), 2) AS avg_revenue_per_campaign,
    toDecimal64(if(recipients > 0, round(toDecimal128(revenue / recipients, 6), 2), 0), 2)
        AS avg_revenue_per_recipient,
    -- delivered-weighted means; nothing delivered: the plain mean
    toFloat32(if(delivered > 0, sum(c.open_rate_pct * c.delivered) / delivered,
        avg(c.open_rate_pct))) AS avg_open_rate,
    toFloat32(if(delivered > 0, sum(c.click_rate_pct * c.delivered) / delivered,
        avg(c.click_rate_pct))) AS avg_click_rate,
    toFloat32(if(delivered > 0, sum(c.conversion_rate_pct * c.delivered) / delivered,
        avg(c.conversion_rate_pct))) AS avg_conversion_rate,
    best.1 AS best_campaign_id,
    best.3 AS best_campaign_name,
    toDecimal64(round(toDecimal128(best.2, 6), 2), 2) AS best_campaign_revenue,
    worst.1 AS worst_campaign_id,
    worst.3 AS worst_campaign_name,
    toDecimal64(round(toDecimal128(worst.2, 6), 2), 2) AS worst_campaign_revenue,
    -- top tags: the highest tag revenue first, ties by tag name
    arraySlice(arraySort((tag, v) -> (-v, tag), tag_names, tag_sums), 1, 5) AS top_tags,
    mapFromArrays(tag_names, tag_sums) AS tag_performance,
    {version:DateTime} AS processed_at
FROM campaign_statistics AS c FINAL
LEFT JOIN (
    -- each campaign's distinct non-empty tags (none: an empty array)
    SELECT ct.campaign_id AS campaign_id, arrayFilter(tag -> tag != '', arrayDistinct(ct.tags)) AS tags
    FROM campaign_tags AS ct FINAL
    WHERE ct.klaviyo_public_id = {store:String}
) AS t ON t.campaign_id = c.campaign_id
WHERE c.klaviyo_public_id = {store:String} AND c.date <= {as_of:Date}
GROUP BY date, send_channel
