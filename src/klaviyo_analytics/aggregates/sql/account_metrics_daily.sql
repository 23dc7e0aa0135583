-- account_metrics_daily: one row per account-local day that has counted orders or campaign/flow
-- statistics, up to the as-of day. Cancelled orders do not count; revenue is gross (refunds
-- are subtracted in customer_profiles.net_revenue). Channel and attribution revenue are
-- Klaviyo's attributed conversion_value from campaign_statistics and flow_statistics.
INSERT INTO account_metrics_daily (
    klaviyo_public_id, date, total_revenue, email_revenue, sms_revenue, flow_revenue,
    campaign_revenue, total_orders, email_orders, sms_orders, avg_order_value, unique_customers,
    new_customers, repeat_customers, new_customer_revenue, repeat_customer_revenue,
    total_emails_sent, total_sms_sent, total_opens, total_clicks, revenue_per_email,
    revenue_per_sms, revenue_per_recipient, revenue_growth_pct, order_growth_pct,
    customer_growth_pct, timestamp
)
WITH
    orders AS (
        -- the run's counted orders (agg_run_orders, runner.prepare_inputs)
        SELECT day, customer_no, order_value, is_first_order FROM agg_run_orders
    ),
    customer_days AS (
        -- customer_no: the run's integer number of the customer (email, else customer id)
        SELECT day, customer_no, max(is_first_order) AS is_new, sum(order_value) AS revenue,
            count() AS orders
        FROM orders
        GROUP BY day, customer_no
    ),
    order_days AS (
        SELECT
            day,
            sum(revenue) AS total_revenue,
            sum(orders) AS total_orders,
            count() AS unique_customers,
            countIf(is_new = 1) AS new_customers,
            sumIf(revenue, is_new = 1) AS new_customer_revenue
        FROM customer_days
        GROUP BY day
    ),
    messages AS (
        SELECT c.date AS day, 'campaign' AS source, lower(c.send_channel) AS channel,
            c.recipients AS recipients, c.opens AS opens, c.clicks AS clicks,
            c.conversions AS conversions, c.conversion_value AS conversion_value
        FROM campaign_statistics AS c FINAL
        WHERE c.klaviyo_public_id = {store:String} AND c.date <= {as_of:Date}
        UNION ALL
        SELECT f.date AS day, 'flow' AS source, lower(f.send_channel) AS channel,
            f.recipients AS recipients, f.opens AS opens, f.clicks AS clicks,
            f.conversions AS conversions, f.conversion_value AS conversion_value
        FROM flow_statistics AS f FINAL
        WHERE f.klaviyo_public_id = {store:String} AND f.date <= {as_of:Date}
    ),
    message_days AS (
        SELECT
            day,
            sumIf(conversion_value, channel = 'email') AS email_revenue,
            sumIf(conversion_value, channel = 'sms') AS sms_revenue,
            sumIf(conversion_value, source = 'flow') AS flow_revenue,
            sumIf(conversion_value, source = 'campaign') AS campaign_revenue,
            sumIf(conversions, channel = 'email') AS email_orders,
            sumIf(conversions, channel = 'sms') AS sms_orders,
            sumIf(recipients, channel = 'email') AS emails_sent,
            sumIf(recipients, channel = 'sms') AS sms_sent,
            sum(recipients) AS all_recipients,
            sum(opens) AS all_opens,
            sum(clicks) AS all_clicks
        FROM messages
        GROUP BY day
    ),
    days AS (
        SELECT day FROM order_days
        UNION DISTINCT
        SELECT day FROM message_days
    ),
    joined AS (
        SELECT
            d.day AS day,
            od.total_revenue AS total_revenue,
            od.total_orders AS total_orders,
            od.unique_customers AS unique_customers,
            od.new_customers AS new_customers,
            od.new_customer_revenue AS new_customer_revenue,
            md.email_revenue AS email_revenue,
            md.sms_revenue AS sms_revenue,
            md.flow_revenue AS flow_revenue,
            md.campaign_revenue AS campaign_revenue,
            md.email_orders AS email_orders,
            md.sms_orders AS sms_orders,
            md.emails_sent AS emails_sent,
            md.sms_sent AS sms_sent,
            md.all_recipients AS recipients,
            md.all_opens AS opens,
            md.all_clicks AS clicks
        FROM days AS d
        LEFT JOIN order_days AS od ON od.day = d.day
        LEFT JOIN message_days AS md ON md.day = d.day
    ),
    with_prev AS (
        -- the previous calendar day's measures (the row dated day - 1; 0 when there is none):
        -- a one-day RANGE frame over the days instead of a second evaluation of joined
        SELECT
            *,
            sum(total_revenue) OVER previous_day AS prev_revenue,
            sum(total_orders) OVER previous_day AS prev_orders,
            sum(unique_customers) OVER previous_day AS prev_customers
        FROM joined
        WINDOW previous_day AS (ORDER BY day RANGE BETWEEN 1 PRECEDING AND 1 PRECEDING)
    )
SELECT
    {store:String} AS klaviyo_public_id,
    cur.day AS date,
    toDecimal64(cur.total_revenue, 2) AS total_revenue,
    toDecimal64(round(toDecimal128(cur.email_revenue, 6), 2), 2) AS email_revenue,
    toDecimal64(round(toDecimal128(cur.sms_revenue, 6), 2), 2) AS sms_revenue,
    toDecimal64(round(toDecimal128(cur.flow_revenue, 6), 2), 2) AS flow_revenue,
    toDecimal64(round(toDecimal128(cur.campaign_revenue, 6), 2), 2) AS campaign_revenue,
    toUInt32(cur.total_orders) AS total_orders,
    toUInt32(round(cur.email_orders)) AS email_orders,
    toUInt32(round(cur.sms_orders)) AS sms_orders,
    toDecimal64(if(cur.total_orders > 0,
        round(toDecimal128(toFloat64(cur.total_revenue) / cur.total_orders, 6), 2), 0), 2) AS avg_order_value,
    toUInt32(cur.unique_customers) AS unique_customers,
    toUInt32(cur.new_customers) AS new_customers,
    toUInt32(cur.unique_customers - cur.new_customers) AS repeat_customers,
    toDecimal64(cur.new_customer_revenue, 2) AS new_customer_revenue,
    toDecimal64(cur.total_revenue - cur.new_customer_revenue, 2) AS repeat_customer_revenue,
    toUInt64(round(cur.emails_sent)) AS total_emails_sent,
    toUInt64(round(cur.sms_sent)) AS total_sms_sent,
    toUInt64(round(cur.opens)) AS total_opens,
    toUInt64(round(cur.clicks)) AS total_clicks,
    toDecimal64(if(cur.emails_sent > 0, round(toDecimal128(cur.email_revenue / cur.emails_sent, 6), 2), 0), 2)
        AS revenue_per_email,
    toDecimal64(if(cur.sms_sent > 0, round(toDecimal128(cur.sms_revenue / cur.sms_sent, 6), 2), 0), 2)
        AS revenue_per_sms,
    toDecimal64(if(cur.recipients > 0,
        round(toDecimal128((cur.flow_revenue + cur.campaign_revenue) / cur.recipients, 6), 2), 0), 2)
        AS revenue_per_recipient,
    -- growth versus the previous calendar day; 0 when that day had none of the measure
    toFloat32(if(cur.prev_revenue > 0,
        (toFloat64(cur.total_revenue) - toFloat64(cur.prev_revenue))
            / toFloat64(cur.prev_revenue) * 100, 0)) AS revenue_growth_pct,
    toFloat32(if(cur.prev_orders > 0,
        (toFloat64(cur.total_orders) - cur.prev_orders) / cur.prev_orders * 100, 0))
        AS order_growth_pct,
    toFloat32(if(cur.prev_customers > 0,
        (toFloat64(cur.unique_customers) - cur.prev_customers) / cur.prev_customers * 100,
        0)) AS customer_growth_pct,
    {version:DateTime} AS timestamp
FROM with_prev AS cur
SETTINGS join_use_nulls = 0
