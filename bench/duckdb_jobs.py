"""The five aggregate jobs in DuckDB, from docs/metrics.md (bench peers of the chDB jobs).

The store's synced rows are pulled out of chDB once (FINAL, as Arrow) and loaded into native
DuckDB tables (:func:`load`); each job then runs on its own, like a standalone cron job: it
recomputes the counted orders (non-cancelled, up to the as-of day) itself and materialises its
result with ``CREATE OR REPLACE TABLE`` (DuckDB in memory; chDB writes a MergeTree table and
deletes the older version, which DuckDB does not need to do). The customers job pulls its
grouped BG/NBD summary, fits it with the project's scipy fitter (the same call as the chDB job)
and evaluates P(alive) in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import duckdb
import numpy as np
import pyarrow as pa

from klaviyo_analytics.aggregates import bgnbd

SEGMENT_GRID = """[
    ['Lost', 'Lost', 'At Risk', 'Can''t Lose Them', 'Can''t Lose Them'],
    ['Hibernating', 'Hibernating', 'Need Attention', 'At Risk', 'At Risk'],
    ['About To Sleep', 'About To Sleep', 'Need Attention', 'Loyal Customers', 'Loyal Customers'],
    ['Promising', 'Potential Loyalist', 'Loyal Customers', 'Champions', 'Champions'],
    ['New Customers', 'Potential Loyalist', 'Potential Loyalist', 'Champions', 'Champions']
]"""


def connect(threads: int = 2) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    return con


def load(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Copy the exported Arrow tables into native DuckDB tables ``src_<name>``."""
    for name, table in tables.items():
        con.register(f"arrow_{name}", table)
        con.execute(f"CREATE OR REPLACE TABLE src_{name} AS SELECT * FROM arrow_{name}")
        con.unregister(f"arrow_{name}")


class DuckJobs:
    """The five jobs for one as-of day and timezone on a loaded connection."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, as_of: date, tz: str = "UTC", min_co: int = 3
    ) -> None:
        self.con = con
        self.as_of = f"DATE '{as_of.isoformat()}'"
        self.tz = tz
        self.min_co = min_co

    def jobs(self) -> dict[str, Callable[[], int]]:
        return {
            "campaign-daily": self.campaign_daily,
            "account-daily": self.account_daily,
            "customers": self.customers,
            "products": self.products,
            "relationships": self.relationships,
        }

    def _local(self, col: str) -> str:
        return f"timezone('{self.tz}', {col})"

    def _counted_orders(self) -> str:
        """CTE body: counted orders with local day/hour/ISO weekday and customer identity."""
        a = self.as_of
        return f"""
            SELECT o.order_id, o.customer_id, o.customer_email, o.order_value,
                o.order_timestamp AS ts, o.is_first_order, o.discount_amount,
                CAST({self._local("o.order_timestamp")} AS DATE) AS day,
                hour({self._local("o.order_timestamp")}) AS hour,
                isodow({self._local("o.order_timestamp")}) AS dow,
                CASE WHEN o.customer_email <> '' THEN o.customer_email ELSE o.customer_id END
                    AS customer
            FROM src_orders AS o
            WHERE CAST({self._local("o.order_timestamp")} AS DATE) <= {a}
              AND o.order_id NOT IN (
                SELECT original_order_id FROM src_refunds
                WHERE lower(event_type) IN ('cancelled', 'canceled')
                  AND CAST({self._local("event_timestamp")} AS DATE) <= {a})"""

    def _counted_lines(self) -> str:
        return """
            SELECT l.*, o.customer, o.customer_email, o.day, o.ts,
                l.line_total - l.discount_amount AS net
            FROM src_lines AS l JOIN counted AS o ON o.order_id = l.order_id"""

    def _create(self, name: str, sql: str) -> int:
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql}")
        row = self.con.execute(f"SELECT count(*) FROM {name}").fetchone()
        return int(row[0]) if row else 0

    # -- campaign_daily_aggregates ------------------------------------------------------------
    def campaign_daily(self) -> int:
        return self._create(
            "out_campaign_daily",
            f"""
            WITH c AS (
                SELECT *, lower(send_channel) AS ch FROM src_campaigns WHERE date <= {self.as_of}
            ),
            tag_rev AS (
                SELECT c.date, c.ch, t.tag, sum(c.conversion_value) AS rev
                FROM c JOIN (SELECT DISTINCT campaign_id, unnest(tags) AS tag FROM src_tags) AS t
                    ON t.campaign_id = c.campaign_id
                WHERE t.tag <> ''
                GROUP BY ALL
            ),
            tp AS (
                SELECT date, ch,
                    map(list(tag ORDER BY tag), list(rev ORDER BY tag)) AS tag_performance,
                    list(tag ORDER BY rev DESC, tag)[1:5] AS top_tags
                FROM tag_rev GROUP BY ALL
            ),
            g AS (
                SELECT date, ch AS send_channel,
                    count(DISTINCT campaign_id) AS total_campaigns,
                    list(campaign_id ORDER BY campaign_id) AS campaigns_sent,
                    round(sum(recipients)) AS total_recipients,
                    round(sum(delivered)) AS total_delivered,
                    round(sum(opens)) AS total_opens,
                    round(sum(clicks)) AS total_clicks,
                    round(sum(conversions)) AS total_conversions,
                    round(sum(conversion_value), 2) AS total_revenue,
                    sum(conversion_value) / count(DISTINCT campaign_id)
                        AS avg_revenue_per_campaign,
                    CASE WHEN sum(recipients) > 0 THEN sum(conversion_value) / sum(recipients)
                        ELSE 0 END AS avg_revenue_per_recipient,
                    CASE WHEN sum(delivered) > 0
                        THEN sum(open_rate_pct * delivered) / sum(delivered)
                        ELSE avg(open_rate_pct) END AS avg_open_rate,
                    CASE WHEN sum(delivered) > 0
                        THEN sum(click_rate_pct * delivered) / sum(delivered)
                        ELSE avg(click_rate_pct) END AS avg_click_rate,
                    CASE WHEN sum(delivered) > 0
                        THEN sum(conversion_rate_pct * delivered) / sum(delivered)
                        ELSE avg(conversion_rate_pct) END AS avg_conversion_rate,
                    first(campaign_id ORDER BY conversion_value DESC, campaign_id)
                        AS best_campaign_id,
                    first(campaign_name ORDER BY conversion_value DESC, campaign_id)
                        AS best_campaign_name,
                    max(conversion_value) AS best_campaign_revenue,
                    first(campaign_id ORDER BY conversion_value, campaign_id) AS worst_campaign_id,
                    first(campaign_name ORDER BY conversion_value, campaign_id)
                        AS worst_campaign_name,
                    min(conversion_value) AS worst_campaign_revenue
                FROM c GROUP BY ALL
            )
            SELECT g.*, coalesce(tp.top_tags, []) AS top_tags,
                coalesce(tp.tag_performance, MAP {{}}::MAP(VARCHAR, DOUBLE)) AS tag_performance
            FROM g LEFT JOIN tp ON tp.date = g.date AND tp.ch = g.send_channel""",
        )

    # -- account_metrics_daily ----------------------------------------------------------------
    def account_daily(self) -> int:
        a = self.as_of
        return self._create(
            "out_account_daily",
            f"""
            WITH counted AS ({self._counted_orders()}),
            per_cust AS (
                SELECT day, customer, sum(order_value) AS rev, count(*) AS n,
                    max(is_first_order) AS new
                FROM counted GROUP BY ALL
            ),
            od AS (
                SELECT day, sum(rev) AS total_revenue, sum(n) AS total_orders,
                    count(*) AS unique_customers, count(*) FILTER (new = 1) AS new_customers,
                    coalesce(sum(rev) FILTER (new = 1), 0) AS new_customer_revenue
                FROM per_cust GROUP BY day
            ),
            msg AS (
                SELECT date AS day, 'campaign' AS src, lower(send_channel) AS ch, recipients,
                    opens, clicks, conversions, conversion_value
                FROM src_campaigns WHERE date <= {a}
                UNION ALL
                SELECT date, 'flow', lower(send_channel), recipients, opens, clicks,
                    conversions, conversion_value
                FROM src_flows WHERE date <= {a}
            ),
            md AS (
                SELECT day,
                    coalesce(sum(conversion_value) FILTER (ch = 'email'), 0) AS email_revenue,
                    coalesce(sum(conversion_value) FILTER (ch = 'sms'), 0) AS sms_revenue,
                    coalesce(sum(conversion_value) FILTER (src = 'flow'), 0) AS flow_revenue,
                    coalesce(sum(conversion_value) FILTER (src = 'campaign'), 0)
                        AS campaign_revenue,
                    coalesce(sum(conversions) FILTER (ch = 'email'), 0) AS email_orders,
                    coalesce(sum(conversions) FILTER (ch = 'sms'), 0) AS sms_orders,
                    coalesce(sum(recipients) FILTER (ch = 'email'), 0) AS emails_sent,
                    coalesce(sum(recipients) FILTER (ch = 'sms'), 0) AS sms_sent,
                    sum(recipients) AS recipients, sum(opens) AS opens, sum(clicks) AS clicks
                FROM msg GROUP BY day
            ),
            f AS (
                SELECT coalesce(od.day, md.day) AS day,
                    coalesce(total_revenue, 0) AS total_revenue,
                    coalesce(total_orders, 0) AS total_orders,
                    coalesce(unique_customers, 0) AS unique_customers,
                    coalesce(new_customers, 0) AS new_customers,
                    coalesce(new_customer_revenue, 0) AS new_customer_revenue,
                    coalesce(email_revenue, 0) AS email_revenue,
                    coalesce(sms_revenue, 0) AS sms_revenue,
                    coalesce(flow_revenue, 0) AS flow_revenue,
                    coalesce(campaign_revenue, 0) AS campaign_revenue,
                    coalesce(email_orders, 0) AS email_orders,
                    coalesce(sms_orders, 0) AS sms_orders,
                    coalesce(emails_sent, 0) AS emails_sent, coalesce(sms_sent, 0) AS sms_sent,
                    coalesce(recipients, 0) AS recipients, coalesce(opens, 0) AS opens,
                    coalesce(clicks, 0) AS clicks
                FROM od FULL OUTER JOIN md ON md.day = od.day
            )
            SELECT f.day AS date, f.total_revenue,
                round(f.email_revenue, 2) AS email_revenue, round(f.sms_revenue, 2) AS sms_revenue,
                round(f.flow_revenue, 2) AS flow_revenue,
                round(f.campaign_revenue, 2) AS campaign_revenue,
                f.total_orders, round(f.email_orders) AS email_orders,
                round(f.sms_orders) AS sms_orders,
                CASE WHEN f.total_orders > 0 THEN round(f.total_revenue / f.total_orders, 2)
                    ELSE 0 END AS avg_order_value,
                f.unique_customers, f.new_customers,
                f.unique_customers - f.new_customers AS repeat_customers,
                f.new_customer_revenue,
                f.total_revenue - f.new_customer_revenue AS repeat_customer_revenue,
                round(f.emails_sent) AS total_emails_sent, round(f.sms_sent) AS total_sms_sent,
                round(f.opens) AS total_opens, round(f.clicks) AS total_clicks,
                CASE WHEN f.emails_sent > 0 THEN round(f.email_revenue / f.emails_sent, 2)
                    ELSE 0 END AS revenue_per_email,
                CASE WHEN f.sms_sent > 0 THEN round(f.sms_revenue / f.sms_sent, 2)
                    ELSE 0 END AS revenue_per_sms,
                CASE WHEN f.recipients > 0
                    THEN round((f.flow_revenue + f.campaign_revenue) / f.recipients, 2)
                    ELSE 0 END AS revenue_per_recipient,
                CASE WHEN coalesce(p.total_revenue, 0) > 0
                    THEN (f.total_revenue - p.total_revenue) * 100 / p.total_revenue
                    ELSE 0 END AS revenue_growth_pct,
                CASE WHEN coalesce(p.total_orders, 0) > 0
                    THEN (f.total_orders - p.total_orders) * 100 / p.total_orders
                    ELSE 0 END AS order_growth_pct,
                CASE WHEN coalesce(p.unique_customers, 0) > 0
                    THEN (f.unique_customers - p.unique_customers) * 100 / p.unique_customers
                    ELSE 0 END AS customer_growth_pct
            FROM f LEFT JOIN f AS p ON p.day = f.day - INTERVAL 1 DAY""",
        )

    # -- customer_profiles ----------------------------------------------------------------------
    def _customer_ctes(self) -> str:
        return f"""
            counted AS ({self._counted_orders()}),
            o AS (SELECT * FROM counted WHERE customer_email <> '')"""

    def bgnbd_params(self) -> bgnbd.BgNbdParams:
        summary = self.con.execute(
            f"""WITH {self._customer_ctes()},
            pc AS (
                SELECT count(DISTINCT day) - 1 AS x, max(day) - min(day) AS t_x,
                    {self.as_of} - min(day) AS big_t
                FROM o GROUP BY customer_email
            )
            SELECT x::DOUBLE AS x, t_x::DOUBLE AS t_x, big_t::DOUBLE AS big_t,
                count(*)::DOUBLE AS n
            FROM pc GROUP BY ALL ORDER BY ALL"""
        ).fetchnumpy()
        if len(summary["x"]) == 0:
            return bgnbd.fallback()
        return bgnbd.fit_or_fallback(
            np.asarray(summary["x"]),
            np.asarray(summary["t_x"]),
            np.asarray(summary["big_t"]),
            np.asarray(summary["n"]),
        )

    def customers(self) -> int:
        p = self.bgnbd_params()
        a = self.as_of
        return self._create(
            "out_customers",
            f"""
            WITH {self._customer_ctes()},
            refunds AS (
                SELECT original_order_id, sum(refund_amount) AS amount FROM src_refunds
                WHERE event_type = 'refund'
                  AND CAST({self._local("event_timestamp")} AS DATE) <= {a}
                GROUP BY 1
            ),
            oo AS (
                SELECT o.*, least(coalesce(r.amount, 0), o.order_value) AS refund
                FROM o LEFT JOIN refunds AS r ON r.original_order_id = o.order_id
            ),
            base AS (
                SELECT customer_email,
                    arg_max(customer_id, ts) AS customer_id,
                    count(*) AS total_orders, sum(order_value) AS total_revenue,
                    sum(refund) AS total_refunds, min(day) AS first_day, max(day) AS last_day,
                    count(DISTINCT day) AS n_days,
                    count(*) FILTER (discount_amount > 0) AS n_disc,
                    avg(discount_amount) FILTER (discount_amount > 0) AS avg_disc,
                    count(*) FILTER (dow >= 6) AS weekend_orders
                FROM oo GROUP BY 1
            ),
            hours AS (
                SELECT customer_email, arg_max(hour, c * 24 + 23 - hour) AS preferred_order_hour
                FROM (SELECT customer_email, hour, count(*) AS c FROM o GROUP BY ALL)
                GROUP BY 1
            ),
            l AS (
                SELECT o.customer_email, li.product_id, li.product_type, li.product_brand,
                    li.line_total - li.discount_amount AS net
                FROM src_lines AS li JOIN o ON o.order_id = li.order_id
            ),
            fav_cat AS (
                SELECT customer_email, product_type AS fav
                FROM (SELECT customer_email, product_type, sum(net) AS net FROM l
                      WHERE product_type <> '' GROUP BY ALL)
                QUALIFY row_number() OVER (
                    PARTITION BY customer_email ORDER BY net DESC, product_type) = 1
            ),
            fav_brand AS (
                SELECT customer_email, product_brand AS fav
                FROM (SELECT customer_email, product_brand, sum(net) AS net FROM l
                      WHERE product_brand <> '' GROUP BY ALL)
                QUALIFY row_number() OVER (
                    PARTITION BY customer_email ORDER BY net DESC, product_brand) = 1
            ),
            lp AS (
                SELECT customer_email,
                    list_sort(list(DISTINCT product_type) FILTER (product_type <> ''))
                        AS categories_purchased,
                    list_sort(list(DISTINCT product_brand) FILTER (product_brand <> ''))
                        AS brands_purchased,
                    count(DISTINCT product_id) AS unique_products_purchased
                FROM l GROUP BY 1
            ),
            s AS (
                SELECT b.*, {a} - b.last_day AS days_since_last_order,
                    b.total_revenue - b.total_refunds AS net_revenue,
                    b.n_days - 1 AS x, b.last_day - b.first_day AS t_x, {a} - b.first_day AS big_t
                FROM base AS b
            ),
            scored AS (
                SELECT s.*,
                    1 + (5 * (rank() OVER (ORDER BY days_since_last_order DESC) - 1))
                        // count(*) OVER () AS recency_score,
                    1 + (5 * (rank() OVER (ORDER BY total_orders) - 1)) // count(*) OVER ()
                        AS frequency_score,
                    1 + (5 * (rank() OVER (ORDER BY net_revenue) - 1)) // count(*) OVER ()
                        AS monetary_score
                FROM s
            )
            SELECT sc.customer_email, sc.customer_id, sc.total_orders, sc.total_revenue,
                sc.total_refunds, sc.net_revenue,
                round(sc.total_revenue / sc.total_orders, 2) AS avg_order_value,
                sc.first_day AS first_order_date, sc.last_day AS last_order_date,
                sc.days_since_last_order,
                CASE WHEN sc.total_orders > 1
                    THEN (sc.last_day - sc.first_day) / (sc.total_orders - 1) ELSE 0 END
                    AS avg_days_between_orders,
                sc.recency_score, sc.frequency_score, sc.monetary_score,
                concat(sc.recency_score, sc.frequency_score, sc.monetary_score) AS rfm_score,
                {SEGMENT_GRID}[sc.recency_score][
                    CAST(ceil((sc.frequency_score + sc.monetary_score) / 2) AS INTEGER)]
                    AS rfm_segment,
                coalesce(fc.fav, '') AS favorite_category, coalesce(fb.fav, '') AS favorite_brand,
                coalesce(lp.categories_purchased, []) AS categories_purchased,
                coalesce(lp.brands_purchased, []) AS brands_purchased,
                coalesce(lp.unique_products_purchased, 0) AS unique_products_purchased,
                sc.n_disc / sc.total_orders AS discount_usage_rate,
                coalesce(round(sc.avg_disc, 2), 0) AS avg_discount_amount,
                CAST(sc.weekend_orders * 2 > sc.total_orders AS INTEGER) AS weekend_buyer,
                h.preferred_order_hour,
                CASE WHEN sc.x > 0 THEN 1 - 1 / (1 + exp(
                    ln({p.a}) - ln({p.b} + sc.x - 1)
                    + least(({p.r} + sc.x) * (ln({p.alpha} + sc.big_t) - ln({p.alpha} + sc.t_x)),
                            700)))
                    ELSE 0 END AS churn_risk_score,
                sc.big_t AS customer_age_days
            FROM scored AS sc
            LEFT JOIN hours AS h USING (customer_email)
            LEFT JOIN fav_cat AS fc USING (customer_email)
            LEFT JOIN fav_brand AS fb USING (customer_email)
            LEFT JOIN lp USING (customer_email)""",
        )

    # -- products_master ------------------------------------------------------------------------
    def products(self) -> int:
        a = self.as_of
        return self._create(
            "out_products",
            f"""
            WITH counted AS ({self._counted_orders()}),
            l AS (SELECT *, {a} - day AS age FROM ({self._counted_lines()})),
            since AS (
                SELECT day, sum(n) OVER (ORDER BY day DESC) AS orders_since
                FROM (SELECT day, count(*) AS n FROM counted GROUP BY day)
            ),
            pc AS (
                SELECT product_id, customer, count(*) AS n, min(age) AS min_age
                FROM (SELECT DISTINCT product_id, customer, order_id, age FROM l)
                GROUP BY ALL
            ),
            per_cust AS (
                SELECT product_id, avg(CAST(n >= 2 AS DOUBLE)) AS repurchase_rate,
                    sum(n) AS n_orders, count(*) AS n_customers,
                    count(*) FILTER (min_age < 30) AS unique_customers_30d,
                    count(*) FILTER (min_age < 60) AS unique_customers_60d,
                    count(*) FILTER (min_age < 90) AS unique_customers_90d
                FROM pc GROUP BY 1
            ),
            p AS (
                SELECT product_id,
                    arg_max(product_name, ts) AS product_name,
                    arg_max(sku, ts) AS sku,
                    arg_max(product_brand, ts) AS brand,
                    arg_max(product_type, ts) AS category,
                    arg_max(collections, ts) AS collections,
                    sum(line_total) / sum(quantity) AS avg_price,
                    min(unit_price) AS min_price, max(unit_price) AS max_price,
                    coalesce(sum(net) FILTER (age < 30), 0) AS revenue_30d,
                    coalesce(sum(net) FILTER (age < 60), 0) AS revenue_60d,
                    coalesce(sum(net) FILTER (age < 90), 0) AS revenue_90d,
                    coalesce(sum(quantity) FILTER (age < 30), 0) AS quantity_sold_30d,
                    coalesce(sum(quantity) FILTER (age < 60), 0) AS quantity_sold_60d,
                    coalesce(sum(quantity) FILTER (age < 90), 0) AS quantity_sold_90d,
                    sum(quantity) AS quantity, sum(net) AS revenue,
                    sum(discount_amount) AS discount, sum(line_total) AS gross,
                    avg(discount_amount) FILTER (discount_amount > 0) AS avg_disc,
                    min(day) AS first_sold_date, max(day) AS last_sold_date
                FROM l GROUP BY product_id
            ),
            r AS (
                SELECT p.*, per_cust.* EXCLUDE (product_id),
                    {a} - first_sold_date AS days_on_market,
                    row_number() OVER (ORDER BY revenue DESC, product_id) AS revenue_rank,
                    row_number() OVER (ORDER BY quantity DESC, product_id) AS quantity_rank,
                    count(*) OVER () AS n_products,
                    CASE WHEN gross > 0 THEN discount / gross ELSE 0 END AS discount_rate
                FROM p JOIN per_cust USING (product_id)
            )
            SELECT r.product_id, r.product_name, r.sku, r.brand, r.category, r.collections,
                list_filter([
                    CASE WHEN revenue_rank <= greatest(1, floor(n_products * 0.1))
                        THEN 'bestseller' END,
                    CASE WHEN days_on_market < 30 THEN 'new' END,
                    CASE WHEN days_on_market >= 60 AND quantity_sold_30d * 2 >= quantity_sold_90d
                        THEN 'trending' END,
                    CASE WHEN days_on_market >= 60 AND quantity_sold_60d = 0
                        THEN 'slow_mover' END,
                    CASE WHEN discount_rate >= 0.2 THEN 'discounted' END
                ], lambda t: t IS NOT NULL) AS tags,
                round(avg_price, 2) AS avg_price, min_price, max_price,
                revenue_30d, revenue_60d, revenue_90d, quantity_sold_30d, quantity_sold_60d,
                quantity_sold_90d, unique_customers_30d, unique_customers_60d,
                unique_customers_90d,
                n_orders / since.orders_since AS conversion_rate, repurchase_rate,
                quantity / n_orders AS avg_units_per_order,
                round(revenue / n_customers, 2) AS revenue_per_customer,
                first_sold_date, last_sold_date, days_on_market,
                quantity_sold_30d / least(30, days_on_market + 1) AS velocity_score,
                revenue_rank, quantity_rank, discount_rate,
                coalesce(round(avg_disc, 2), 0) AS avg_discount_amount
            FROM r JOIN since ON since.day = r.first_sold_date""",
        )

    # -- product_relationships_optimized --------------------------------------------------------
    def relationships(self) -> int:
        return self._create(
            "out_relationships",
            f"""
            WITH counted AS ({self._counted_orders()}),
            l AS ({self._counted_lines()}),
            b AS (SELECT DISTINCT order_id, product_id, day FROM l),
            n AS (SELECT count(DISTINCT order_id) AS n FROM b),
            ic AS (SELECT product_id, count(*) AS c FROM b GROUP BY 1),
            info AS (
                SELECT product_id, arg_max(product_name, ts) AS name,
                    arg_max(product_type, ts) AS category
                FROM l GROUP BY 1
            ),
            pairs AS (
                SELECT x.product_id AS a, y.product_id AS b, count(*) AS c,
                    min(x.day) AS first_co, max(x.day) AS last_co
                FROM b AS x JOIN b AS y ON x.order_id = y.order_id AND x.product_id < y.product_id
                GROUP BY ALL HAVING count(*) >= {self.min_co}
            ),
            s AS (
                SELECT p.*, ca.c AS ca, cb.c AS cb, n.n,
                    p.c * n.n / (ca.c * cb.c) AS lift,
                    greatest(p.c / ca.c, p.c / cb.c) AS best,
                    ia.name AS name_a, ib.name AS name_b,
                    ia.category <> '' AND ia.category = ib.category AS same_cat
                FROM pairs AS p, n
                JOIN ic AS ca ON ca.product_id = p.a JOIN ic AS cb ON cb.product_id = p.b
                JOIN info AS ia ON ia.product_id = p.a JOIN info AS ib ON ib.product_id = p.b
            ),
            t AS (
                SELECT s.*, CASE WHEN lift >= 2 AND best >= 0.2 THEN 'frequently_bought'
                    WHEN lift < 1 AND same_cat THEN 'substitute' ELSE 'complement' END AS kind
                FROM s
            )
            SELECT a AS product_a, b AS product_b, name_a AS product_a_name,
                name_b AS product_b_name, c AS co_purchase_count, c / n AS support,
                c / ca AS confidence, lift, first_co AS first_co_purchase,
                last_co AS last_co_purchase, kind AS relationship_type
            FROM t
            UNION ALL
            SELECT b, a, name_b, name_a, c, c / n, c / cb, lift, first_co, last_co, kind FROM t""",
        )
