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
    camp AS (
        SELECT
            c.date AS day,
            lower(c.send_channel) AS channel,
            c.campaign_id AS campaign_id,
            argMax(c.campaign_name, c.updated_at) AS campaign_name,
            sum(c.recipients) AS recipients,
            sum(c.delivered) AS delivered,
            sum(c.opens) AS opens,
            sum(c.clicks) AS clicks,
            sum(c.conversions) AS conversions,
            sum(c.conversion_value) AS revenue,
            sum(c.open_rate_pct * c.delivered) AS open_w,
            sum(c.click_rate_pct * c.delivered) AS click_w,
            sum(c.conversion_rate_pct * c.delivered) AS conv_w,
            avg(c.open_rate_pct) AS open_mean,
            avg(c.click_rate_pct) AS click_mean,
            avg(c.conversion_rate_pct) AS conv_mean
        FROM campaign_statistics AS c FINAL
        WHERE c.klaviyo_public_id = {store:String} AND c.date <= {as_of:Date}
        GROUP BY day, channel, campaign_id
    ),
    camp_tags AS (
        -- each campaign's distinct non-empty tags (none: an empty array)
        SELECT camp.*, arrayFilter(tag -> tag != '', arrayDistinct(t.tags)) AS tags
        FROM camp
        LEFT JOIN (
            SELECT ct.campaign_id AS campaign_id, ct.tags AS tags
            FROM campaign_tags AS ct FINAL
            WHERE ct.klaviyo_public_id = {store:String}
        ) AS t ON t.campaign_id = camp.campaign_id
    ),
    daily AS (
        SELECT
            day,
            channel,
            count() AS total_campaigns,
            arraySort(groupArray(campaign_id)) AS campaigns_sent,
            sum(recipients) AS day_recipients,
            sum(delivered) AS day_delivered,
            sum(opens) AS day_opens,
            sum(clicks) AS day_clicks,
            sum(conversions) AS day_conversions,
            sum(revenue) AS day_revenue,
            if(sum(delivered) > 0, sum(open_w) / sum(delivered), avg(open_mean)) AS open_rate,
            if(sum(delivered) > 0, sum(click_w) / sum(delivered), avg(click_mean)) AS click_rate,
            if(sum(delivered) > 0, sum(conv_w) / sum(delivered), avg(conv_mean)) AS conv_rate,
            -- best: highest revenue, ties to the smallest campaign id; worst: the reverse
            arraySort(p -> (-p.2, p.1), groupArray((campaign_id, revenue, campaign_name)))[1] AS best,
            arraySort(p -> (p.2, p.1), groupArray((campaign_id, revenue, campaign_name)))[1] AS worst,
            -- revenue per tag: each campaign's revenue counts once for each of its tags
            arrayFlatten(groupArray(arrayMap(tag -> (tag, revenue), tags))) AS tag_revenues,
            arraySort(arrayDistinct(arrayMap(p -> p.1, tag_revenues))) AS tag_names,
            arrayMap(
                tag -> arraySum(arrayMap(p -> p.2, arrayFilter(p -> p.1 = tag, tag_revenues))),
                tag_names
            ) AS tag_sums
        FROM camp_tags
        GROUP BY day, channel
    )
SELECT
    {store:String} AS klaviyo_public_id,
    d.day AS date,
    d.channel AS send_channel,
    toUInt32(d.total_campaigns) AS total_campaigns,
    d.campaigns_sent AS campaigns_sent,
    toUInt64(round(d.day_recipients)) AS total_recipients,
    toUInt64(round(d.day_delivered)) AS total_delivered,
    toUInt64(round(d.day_opens)) AS total_opens,
    toUInt64(round(d.day_clicks)) AS total_clicks,
    toUInt64(round(d.day_conversions)) AS total_conversions,
    toDecimal64(round(toDecimal128(d.day_revenue, 6), 2), 2) AS total_revenue,
    toDecimal64(round(toDecimal128(d.day_revenue / d.total_campaigns, 6), 2), 2) AS avg_revenue_per_campaign,
    toDecimal64(if(d.day_recipients > 0, round(toDecimal128(d.day_revenue / d.day_recipients, 6), 2), 0), 2)
        AS avg_revenue_per_recipient,
    toFloat32(d.open_rate) AS avg_open_rate,
    toFloat32(d.click_rate) AS avg_click_rate,
    toFloat32(d.conv_rate) AS avg_conversion_rate,
    d.best.1 AS best_campaign_id,
    d.best.3 AS best_campaign_name,
    toDecimal64(round(toDecimal128(d.best.2, 6), 2), 2) AS best_campaign_revenue,
    d.worst.1 AS worst_campaign_id,
    d.worst.3 AS worst_campaign_name,
    toDecimal64(round(toDecimal128(d.worst.2, 6), 2), 2) AS worst_campaign_revenue,
    -- top tags: the highest tag revenue first, ties by tag name
    arraySlice(arrayMap(p -> p.2, arraySort(p -> (-p.1, p.2), arrayZip(d.tag_sums, d.tag_names))), 1, 5)
        AS top_tags,
    mapFromArrays(d.tag_names, d.tag_sums) AS tag_performance,
    {version:DateTime} AS processed_at
FROM daily AS d
