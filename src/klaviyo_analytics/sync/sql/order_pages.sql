-- The parsed staging table of Placed Order pages ({table:Identifier}, ENGINE = Memory): one row
-- per page, the fields the loaders read and nothing else, typed as parse_order_pages.sql extracts
-- them (its JSONExtract type is read from this table, so the shape is written once, here).
-- Every event field is a String: a JSON number arrives re-printed in its shortest form
-- (74.97 → '74.97'), a string as is, null or a missing key as '' (the loaders' lambdas in
-- functions.sql turn them into money and counts, and refuse what is not a number).
CREATE TABLE {table:Identifier} (
    page UInt32,
    data Array(Tuple(
        attributes Tuple(
            timestamp Float64,
            datetime String,
            event_properties Tuple(
                `$value` String,
                `$event_id` String,
                `Item Count` String,
                `Discount Codes` Array(String),
                `Total Discounts` String,
                `Source Name` String,
                `$extra` Tuple(
                    id String,
                    email String,
                    total_discounts String,
                    discount_codes Array(Tuple(code String, type String)),
                    customer Tuple(email String, tags String, orders_count String,
                                   total_spent String),
                    shipping_address Tuple(city String, province String, province_code String,
                                           country String, country_code String, zip String),
                    client_details Tuple(user_agent String),
                    landing_site String,
                    line_items Array(Tuple(
                        id String, product_id String, variant_id String, title String,
                        name String, sku String, vendor String, quantity String, price String,
                        total_discount String, line_price String,
                        product Tuple(id String, title String, vendor String,
                                      product_type String, collections Array(String))))))),
        relationships Tuple(profile Tuple(data Tuple(id String))))),
    included Array(Tuple(type String, id String, attributes Tuple(email String)))
) ENGINE = Memory
