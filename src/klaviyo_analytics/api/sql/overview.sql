-- KPIs of one store for one date range: orders and revenue from klaviyo_orders (cancelled
-- orders do not count, as in account_metrics_daily), refunds from refund_cancelled_orders,
-- channel attribution and send volume from account_metrics_daily.
SELECT
    o.orders AS orders,
    o.revenue AS revenue,
    o.customers AS customers,
    o.new_customers AS new_customers,
    r.refunds AS refunds,
    m.email_revenue AS email_revenue,
    m.sms_revenue AS sms_revenue,
    m.flow_revenue AS flow_revenue,
    m.campaign_revenue AS campaign_revenue,
    m.emails_sent AS emails_sent,
    m.sms_sent AS sms_sent
FROM
(
    SELECT
        count() AS orders,
        toFloat64(sum(ko.order_value)) AS revenue,
        uniqExact(ko.customer_email) AS customers,
        countIf(ko.is_first_order = 1) AS new_customers
    FROM klaviyo_orders AS ko FINAL
    WHERE ko.klaviyo_public_id = {kid:String}
      AND ko.order_date BETWEEN {date_from:Date} AND {date_to:Date}
      AND ko.order_id NOT IN (
          SELECT cx.original_order_id
          FROM refund_cancelled_orders AS cx FINAL
          WHERE cx.klaviyo_public_id = {kid:String}
            AND lower(cx.event_type) IN ('cancelled', 'canceled')
      )
) AS o
CROSS JOIN
(
    SELECT toFloat64(sum(rc.refund_amount)) AS refunds
    FROM refund_cancelled_orders AS rc FINAL
    WHERE rc.klaviyo_public_id = {kid:String}
      AND lower(rc.event_type) = 'refund'
      AND toDate(rc.event_timestamp) BETWEEN {date_from:Date} AND {date_to:Date}
) AS r
CROSS JOIN
(
    SELECT
        toFloat64(sum(am.email_revenue)) AS email_revenue,
        toFloat64(sum(am.sms_revenue)) AS sms_revenue,
        toFloat64(sum(am.flow_revenue)) AS flow_revenue,
        toFloat64(sum(am.campaign_revenue)) AS campaign_revenue,
        toUInt64(sum(am.total_emails_sent)) AS emails_sent,
        toUInt64(sum(am.total_sms_sent)) AS sms_sent
    FROM account_metrics_daily AS am FINAL
    WHERE am.klaviyo_public_id = {kid:String}
      AND am.date BETWEEN {date_from:Date} AND {date_to:Date}
) AS m
