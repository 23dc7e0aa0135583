-- Raw Placed Order pages ({pages:Identifier}: one row per page, the JSON:API document as Klaviyo
-- sent it) → the parsed staging table ({parsed:Identifier}, order_pages.sql). Each page is parsed
-- once here; line_items_from_pages.sql and orders_from_pages.sql both read the parsed table.
-- {row_type:String} is `Tuple(data <type of data>, included <type of included>)` as the parsed
-- table declares them (sync/pages.py reads them from it), so a field missing from a page, or of
-- another JSON type, is read as its type's default ('' for the String event fields).
INSERT INTO {parsed:Identifier} (page, data, included)
SELECT page, doc.data, doc.included
FROM (SELECT page, JSONExtract(body, {row_type:String}) AS doc FROM {pages:Identifier})
