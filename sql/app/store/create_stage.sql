-- The loader's staging table: the results of one or more sightings (a search response
-- each: one row per listing and sighting) are COPYed in, then merged into listing,
-- price_snapshot and match by the statements beside this one. `seq` names the sighting (a
-- row of snapprice_stage_task); `snap` marks the row a listing's snapshot comes from (its
-- first sighting of the load), `newest` the row its listing takes its values from (its
-- newest sighting), and `first_seen` is that listing's earliest capture in the load where
-- it differs from the newest row's (NULL: the same). A load of one sighting has every row
-- `snap` and `newest`. Temporary, so private to the connection; its rows go at commit.
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
    pack_count        numeric,
    seq               integer,
    snap              boolean,
    newest            boolean,
    first_seen        timestamptz
) ON COMMIT DELETE ROWS
