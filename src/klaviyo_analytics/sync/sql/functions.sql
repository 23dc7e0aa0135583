-- Shared lambdas of the page loaders (`-- include: functions.sql` in a statement is replaced by
-- this WITH clause). Event fields arrive as JSON text: a JSON number is re-printed in its
-- shortest form (74.97 → '74.97'), a string as is, null or a missing key as ''.
--   amount(s):   the money value as Decimal(38, 9); '' / true / false → 0; anything else that
--                is not a number stops the statement with "unparseable money value in an event".
--   money(s):    amount(s) rounded half away from zero to whole cents, as the shop's own books
--                round ("1.005" → 1.01); cents(s) is the same as an Int64 number of cents.
--   count_of(s): an integer count ("3", 3, 3.0); '' → 0; anything else stops the statement.
WITH
    (s -> trim(BOTH ' ' FROM s)) AS clean,
    (s -> toDecimal128OrNull(clean(s), 9)) AS decimal_or_null,
    (s -> ifNull(decimal_or_null(s), toDecimal128(0, 9))
          + toDecimal128(throwIf(clean(s) NOT IN ('', 'true', 'false')
                                 AND isNull(decimal_or_null(s)),
                                 'unparseable money value in an event'), 9)) AS amount,
    (s -> round(amount(s), 2)) AS money,
    (s -> toInt64(money(s) * 100)) AS cents,
    (s -> toInt64(ifNull(toFloat64OrNull(clean(s)), 0))
          + throwIf(clean(s) != '' AND isNull(toFloat64OrNull(clean(s))),
                    'unparseable count in an event')) AS count_of
