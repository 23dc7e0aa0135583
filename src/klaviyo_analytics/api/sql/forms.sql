-- Sign-up form performance over a date range, one row per form, from form_statistics.
SELECT
    s.form_id AS form_id,
    s.form_name AS form_name,
    s.views AS views,
    s.unique_views AS unique_views,
    s.submits AS submits,
    s.unique_submits AS unique_submits,
    s.qualified AS qualified,
    if(s.unique_views > 0, s.unique_submits / s.unique_views * 100, 0) AS submit_rate_pct
FROM
(
    SELECT
        fm.form_id AS form_id,
        argMax(fm.form_name, fm.date) AS form_name,
        sum(fm.viewed_form) AS views,
        sum(fm.viewed_form_uniques) AS unique_views,
        sum(fm.submits) AS submits,
        sum(fm.submits_unique) AS unique_submits,
        sum(fm.qualified_form) AS qualified
    FROM form_statistics AS fm FINAL
    WHERE fm.klaviyo_public_id = {kid:String}
      AND fm.date BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY fm.form_id
) AS s
