-- Flow performance over a date range, one row per flow (its messages summed), from
-- flow_statistics. Rates are recomputed from the summed counts.
SELECT
    s.flow_id AS flow_id,
    s.flow_name AS flow_name,
    s.channels AS channels,
    s.messages AS messages,
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
        fs.flow_id AS flow_id,
        argMax(fs.flow_name, fs.date) AS flow_name,
        arrayStringConcat(arraySort(groupUniqArray(fs.send_channel)), ',') AS channels,
        uniqExact(fs.flow_message_id) AS messages,
        sum(fs.recipients) AS recipients,
        sum(fs.delivered) AS delivered,
        sum(fs.opens_unique) AS opens_unique,
        sum(fs.clicks_unique) AS clicks_unique,
        sum(fs.conversions) AS conversions,
        sum(fs.conversion_uniques) AS conversion_uniques,
        sum(fs.conversion_value) AS revenue,
        sum(fs.unsubscribes) AS unsubscribes,
        sum(fs.bounced) AS bounced
    FROM flow_statistics AS fs FINAL
    WHERE fs.klaviyo_public_id = {kid:String}
      AND fs.date BETWEEN {date_from:Date} AND {date_to:Date}
      AND ({channel:String} = '' OR fs.send_channel = {channel:String})
    GROUP BY fs.flow_id
) AS s
