-- klaviyo_orders from parsed Placed Order pages ({pages:Identifier}: one row per page,
-- order_pages.sql, filled by parse_order_pages.sql from pages sent with `include=profile`).
-- ClickHouse parses the JSON; nothing of it becomes a Python object. Field mapping: docs/event-payloads.md; fallbacks: docs/sync.md.
-- The customer-context columns are written as pending, (0, 0, 0), and re-derived from the store's
-- whole history by context_changes.sql and context_write.sql at the end of the run (or of the next one after a crash).
-- An event repeated across pages is written twice with the same version; FINAL shows one row. An event without an order
-- id is not an order: it is counted and reported by the caller, not written.
-- include: orders_insert.sql
-- include: functions.sql
SELECT
    {kid:String},
    order_id,
    if(e.profile_id != '', e.profile_id, customer_email) AS customer_id,
    multiIf(p.email != '', p.email, x.email != '', x.email, x.customer.email) AS customer_email,
    toDecimal64(round(amount(props.`$value`), 2), 2),
    toDate(fromUnixTimestamp64Milli(ts_ms, 'UTC'), {tz:String}),
    fromUnixTimestamp64Milli(ts_ms, 'UTC'),
    toUInt32(if(props.`Item Count` != '', count_of(props.`Item Count`),
                arraySum(li -> count_of(li.quantity), x.line_items))),
    toUInt32(length(arrayDistinct(arrayMap(
        li -> if(li.product_id != '', li.product_id, li.product.id), x.line_items)))),
    0,  -- is_first_order, order_count_for_customer, days_since_last_order: pending (0 orders)
    0,
    0,
    if(props.`Source Name` != '', props.`Source Name`, 'web'),
    multiIf(
        x.client_details.user_agent = '', '',
        match(x.client_details.user_agent, '(?i)ipad|tablet|kindle|silk')
            OR (match(x.client_details.user_agent, '(?i)android')
                AND NOT match(x.client_details.user_agent, '(?i)android.*mobile')), 'tablet',
        match(x.client_details.user_agent,
              '(?i)iphone|ipod|android.+mobile|windows phone|blackberry|mobile'), 'mobile',
        'desktop'),
    x.shipping_address.city,
    if(x.shipping_address.province_code != '', x.shipping_address.province_code,
       x.shipping_address.province),
    if(x.shipping_address.country_code != '', x.shipping_address.country_code,
       x.shipping_address.country),
    x.shipping_address.zip,
    toDecimal64(round(amount(if(props.`Total Discounts` != '', props.`Total Discounts`,
                         x.total_discounts)), 2), 2),
    if(notEmpty(props.`Discount Codes`), props.`Discount Codes`[1], x.discount_codes[1].code),
    x.discount_codes[1].type,
    -- Shopify sends customer tags as one comma-separated string; a JSON list is accepted too.
    arrayFilter(t -> t != '', arrayMap(t -> trim(BOTH ' ' FROM t),
        if(startsWith(x.customer.tags, '['), JSONExtract(x.customer.tags, 'Array(String)'),
           splitByChar(',', x.customer.tags)))),
    toDecimal64(round(amount(x.customer.total_spent), 2), 2),
    toUInt32(count_of(x.customer.orders_count)),
    decodeURLFormComponent(extractURLParameter(x.landing_site, 'utm_source')),
    decodeURLFormComponent(extractURLParameter(x.landing_site, 'utm_medium')),
    decodeURLFormComponent(extractURLParameter(x.landing_site, 'utm_campaign')),
    {synced_at:DateTime},
    {version:DateTime}
FROM (
    SELECT
        page,
        ev.relationships.profile.data.id AS profile_id,
        ev.attributes.event_properties AS props,
        props.`$extra` AS x,
        if(props.`$event_id` != '', props.`$event_id`, x.id) AS order_id,
        event_ms(ev.attributes.datetime, ev.attributes.timestamp) AS ts_ms
    FROM {pages:Identifier}
    ARRAY JOIN data AS ev
    WHERE order_id != ''
) AS e
-- the event's profile from `included` (its e-mail), matched within the same page
ANY LEFT JOIN (
    SELECT page, profile.id AS id, profile.attributes.email AS email
    FROM {pages:Identifier}
    ARRAY JOIN included AS profile
    WHERE profile.type = 'profile'
) AS p ON e.page = p.page AND e.profile_id = p.id
