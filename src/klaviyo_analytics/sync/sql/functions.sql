-- Shared lambdas of the page loaders (`-- include: functions.sql` in a statement is replaced by
-- this WITH clause). Event fields arrive as JSON text: a JSON number is re-printed in its
-- shortest form (74.97 → '74.97'), a string as is, null or a missing key as ''.
--   amount(s):   the money value as Decimal(38, 9); '' / true / false → 0; anything else that
--                is not a number stops the statement with "unparseable money value in an event".
--                Callers round it half away from zero to cents, as the shop's books do
--                (round(amount('1.005'), 2) = 1.01).
--   count_of(s): an integer count ("3", 3, 3.0); '' → 0; anything else stops the statement.
--   event_ms(datetime, timestamp): the event time in epoch milliseconds, from the ISO
--                `datetime` (sub-second precision kept), else the epoch-seconds `timestamp`.
-- (Flat on purpose: ClickHouse inlines a lambda at every use; with lambdas calling lambdas each
-- use cost ~1 ms of query analysis, measured, paid once per batch and statement.)
WITH
    (s -> ifNull(toDecimal128OrNull(trimBoth(s), 9), toDecimal128(0, 9))
          + toDecimal128(throwIf(trimBoth(s) NOT IN ('', 'true', 'false')
                                 AND isNull(toDecimal128OrNull(trimBoth(s), 9)),
                                 'unparseable money value in an event'), 9)) AS amount,
    (s -> toInt64(ifNull(toFloat64OrNull(trimBoth(s)), 0))
          + throwIf(trimBoth(s) != '' AND isNull(toFloat64OrNull(trimBoth(s))),
                    'unparseable count in an event')) AS count_of,
    ((dt, ts) -> coalesce(toUnixTimestamp64Milli(parseDateTime64BestEffortOrNull(dt, 3, 'UTC')),
                          toInt64(round(ts * 1000)))) AS event_ms
