-- The loader's staging table: one batch of snapshots (one row per listing) is COPYed in,
-- then merged into listing, price_snapshot and match by the statements beside this one.
-- Temporary, so private to the connection; its rows go at commit.
CREATE TEMP TABLE IF NOT EXISTS snapprice_stage (
    platform          text,
    item_id           text,
    title             text,
    shop              text,
    url               text,
    pic_url           text,
    price_low         numeric,
    price_high        numeric,
    promo_price       numeric,
    original_price    numeric,
    currency          text,
    sales_lower_bound bigint,
    sales_text        text,
    rank              integer,
    score             real,
    shipping_fee      numeric,
    coupon_amount     numeric,
    price_after_coupon numeric,
    location          text,
    shop_type         text,
    repurchase_rate   real,
    pack_unit         text,
    pack_count        numeric
) ON COMMIT DELETE ROWS
