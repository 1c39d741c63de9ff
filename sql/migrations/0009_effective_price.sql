-- snapprice data contract, part 9: effective_price(), the one definition of a snapshot's
-- effective price: the promotional price when there is one, else the (low end of the) price.
-- The views that spelled it out are re-created on it, with the same columns, in the same
-- order and of the same types (they are an API: docs/schema.md).
--
-- A single-expression SQL function that is IMMUTABLE and not STRICT: the planner inlines it
-- into the coalesce() it stands for, so plans and speed are those of the written-out form.

CREATE OR REPLACE FUNCTION effective_price(promo_price numeric, price_low numeric)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT coalesce(promo_price, price_low)
$fn$;

COMMENT ON FUNCTION effective_price(numeric, numeric) IS
    'The effective price of a snapshot: its promotional price when there is one, else price_low.';

GRANT EXECUTE ON FUNCTION effective_price(numeric, numeric) TO snapprice_reader;

-- A function returns plain numeric, where coalesce() of two numeric(18,4) columns is
-- numeric(18,4): the casts below keep the columns that were numeric(18,4) so (a view's
-- column may not change its type). Once the call is inlined, the planner drops the cast,
-- as the value is numeric(18,4) already.

CREATE OR REPLACE VIEW latest_price AS
SELECT DISTINCT ON (s.listing_id)
    l.listing_id,
    l.platform,
    l.item_id,
    l.title,
    l.shop,
    l.url,
    s.run_id,
    s.captured_at,
    s.price_low,
    s.price_high,
    s.promo_price,
    CAST(effective_price(s.promo_price, s.price_low) AS numeric(18,4)) AS effective_price,
    s.currency,
    s.sales_lower_bound,
    s.sales_text,
    s.rank,
    s.score
FROM price_snapshot AS s
JOIN listing AS l USING (listing_id)
ORDER BY s.listing_id, s.captured_at DESC;

-- Per listing and UTC day: min / max / average / last effective price.
CREATE OR REPLACE VIEW daily_price AS
SELECT
    l.listing_id,
    l.platform,
    l.item_id,
    (s.captured_at AT TIME ZONE 'UTC')::date                                             AS day,
    min(effective_price(s.promo_price, s.price_low))                                    AS min_price,
    max(effective_price(s.promo_price, s.price_low))                                    AS max_price,
    round(avg(effective_price(s.promo_price, s.price_low)), 2)                          AS avg_price,
    (array_agg(effective_price(s.promo_price, s.price_low) ORDER BY s.captured_at DESC))[1] AS last_price,
    max(s.sales_lower_bound)                                                            AS sales_lower_bound,
    count(*)                                                                            AS n_snapshots,
    min(s.currency)                                                                     AS currency
FROM price_snapshot AS s
JOIN listing AS l USING (listing_id)
GROUP BY l.listing_id, l.platform, l.item_id, (s.captured_at AT TIME ZONE 'UTC')::date;

-- Per SKU and marketplace: the cheapest listing among the SKU's matches in the newest run
-- that returned any of them (what is on offer now, not the cheapest price ever seen).
CREATE OR REPLACE VIEW sku_best_price AS
WITH matched AS (
    SELECT m.sku, l.platform, m.listing_id, m.best_score, s.run_id, s.captured_at,
           CAST(effective_price(s.promo_price, s.price_low) AS numeric(18,4)) AS effective_price,
           s.price_low, s.promo_price, s.currency, s.sales_lower_bound,
           l.item_id, l.title, l.shop, l.url
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN price_snapshot AS s ON s.listing_id = m.listing_id
), newest AS (
    SELECT sku, platform, max(run_id) AS run_id FROM matched GROUP BY sku, platform
)
SELECT DISTINCT ON (mt.sku, mt.platform)
    mt.sku, mt.platform, mt.listing_id, mt.item_id, mt.title, mt.shop, mt.url,
    mt.effective_price, mt.price_low, mt.promo_price, mt.currency, mt.sales_lower_bound,
    mt.best_score AS score, mt.run_id, mt.captured_at
FROM matched AS mt
JOIN newest AS n USING (sku, platform, run_id)
ORDER BY mt.sku, mt.platform, mt.effective_price ASC, mt.listing_id;

-- Snapshot-to-snapshot changes of the effective price, with the change in percent.
CREATE OR REPLACE VIEW price_change AS
SELECT listing_id, platform, item_id, title, currency,
       prev_captured_at, captured_at, prev_price, price,
       price - prev_price AS change,
       CASE WHEN prev_price > 0 THEN round(100 * (price - prev_price) / prev_price, 2) END AS change_pct
FROM (
    SELECT l.listing_id, l.platform, l.item_id, l.title, s.currency, s.captured_at,
           CAST(effective_price(s.promo_price, s.price_low) AS numeric(18,4)) AS price,
           lag(effective_price(s.promo_price, s.price_low)) OVER w AS prev_price,
           lag(s.captured_at) OVER w AS prev_captured_at
    FROM price_snapshot AS s
    JOIN listing AS l USING (listing_id)
    WINDOW w AS (PARTITION BY s.listing_id ORDER BY s.captured_at)
) AS t
WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;
