-- One row per day of the range (missing days filled with zeros) from account_metrics_daily.
SELECT
    d.day AS date,
    d.total_revenue AS total_revenue,
    d.email_revenue AS email_revenue,
    d.sms_revenue AS sms_revenue,
    d.flow_revenue AS flow_revenue,
    d.campaign_revenue AS campaign_revenue,
    d.total_orders AS total_orders,
    d.unique_customers AS unique_customers,
    d.new_customers AS new_customers,
    d.emails_sent AS emails_sent,
    d.sms_sent AS sms_sent
FROM
(
    SELECT
        am.date AS day,
        toFloat64(am.total_revenue) AS total_revenue,
        toFloat64(am.email_revenue) AS email_revenue,
        toFloat64(am.sms_revenue) AS sms_revenue,
        toFloat64(am.flow_revenue) AS flow_revenue,
        toFloat64(am.campaign_revenue) AS campaign_revenue,
        toUInt64(am.total_orders) AS total_orders,
        toUInt64(am.unique_customers) AS unique_customers,
        toUInt64(am.new_customers) AS new_customers,
        toUInt64(am.total_emails_sent) AS emails_sent,
        toUInt64(am.total_sms_sent) AS sms_sent
    FROM account_metrics_daily AS am FINAL
    WHERE am.klaviyo_public_id = {kid:String}
      AND am.date BETWEEN {date_from:Date} AND {date_to:Date}
) AS d
ORDER BY d.day WITH FILL FROM {date_from:Date} TO {date_to:Date} + 1
