-- Segment size and growth over a date range, one row per segment, from segment_statistics.
SELECT
    sg.segment_id AS segment_id,
    argMax(sg.segment_name, sg.date) AS segment_name,
    argMax(sg.total_members, sg.date) AS total_members,
    argMin(sg.total_members, sg.date) AS start_members,
    sum(sg.new_members) AS new_members,
    sum(sg.removed_members) AS removed_members,
    sum(sg.daily_change) AS net_change,
    max(sg.date) AS as_of
FROM segment_statistics AS sg FINAL
WHERE sg.klaviyo_public_id = {kid:String}
  AND sg.date BETWEEN {date_from:Date} AND {date_to:Date}
GROUP BY sg.segment_id
