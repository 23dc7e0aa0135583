-- Campaign performance over a date range, one row per campaign, from campaign_statistics.
-- Rates are recomputed from the summed counts (averaging daily rates would weight days equally).
SELECT
    s.campaign_id AS campaign_id,
    s.campaign_name AS campaign_name,
    s.send_channel AS send_channel,
    s.first_date AS first_date,
    s.last_date AS last_date,
    s.recipients AS recipients,
    s.delivered AS delivered,
    s.opens_unique AS opens_unique,
    s.clicks_unique AS clicks_unique,
    s.conversions AS conversions,
    s.conversion_uniques AS conversion_uniques,
    s.revenue AS revenue,
    s.unsubscribes AS unsubscribes,
    s.bounced AS bounced,
    if(s.delivered > 0, s.opens_unique / s.delivered * 100, 0) AS open_rate_pct,
    if(s.delivered > 0, s.clicks_unique / s.delivered * 100, 0) AS click_rate_pct,
    if(s.delivered > 0, s.conversion_uniques / s.delivered * 100, 0) AS conversion_rate_pct,
    if(s.delivered > 0, s.unsubscribes / s.delivered * 100, 0) AS unsubscribe_rate_pct,
    if(s.recipients > 0, s.bounced / s.recipients * 100, 0) AS bounce_rate_pct,
    if(s.recipients > 0, s.revenue / s.recipients, 0) AS revenue_per_recipient
FROM
(
    SELECT
        cs.campaign_id AS campaign_id,
        argMax(cs.campaign_name, cs.date) AS campaign_name,
        argMax(cs.send_channel, cs.date) AS send_channel,
        min(cs.date) AS first_date,
        max(cs.date) AS last_date,
        sum(cs.recipients) AS recipients,
        sum(cs.delivered) AS delivered,
        sum(cs.opens_unique) AS opens_unique,
        sum(cs.clicks_unique) AS clicks_unique,
        sum(cs.conversions) AS conversions,
        sum(cs.conversion_uniques) AS conversion_uniques,
        sum(cs.conversion_value) AS revenue,
        sum(cs.unsubscribes) AS unsubscribes,
        sum(cs.bounced) AS bounced
    FROM campaign_statistics AS cs FINAL
    WHERE cs.klaviyo_public_id = {kid:String}
      AND cs.date BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({channel:String} = '' OR cs.send_channel = {channel:String})
    GROUP BY cs.campaign_id
) AS s
