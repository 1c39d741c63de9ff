-- Price history of one SKU across platforms: per local day (docs/schema.md) and platform, the
-- minimum effective price (promotional price when there is one) of the listings matched to
-- it, flagged prices (deposits, accessories, decoys: docs/schema.md) left out as in the
-- report's charts (view sku_daily_price holds the same per day without min_score). Edit the SKU in `params`, then run in psql or any SQL client. (It reads that SKU's
-- listings' snapshots by the primary key: milliseconds, whatever the history's size.)
WITH params AS (SELECT 'SKU-00001'::text AS sku, 0.0::real AS min_score)
SELECT snapprice_local_day(s.captured_at) AS day, l.platform,
       min(effective_price(s.promo_price, s.price_low)) AS min_price, count(DISTINCT s.listing_id) AS listings
FROM params AS p
JOIN match AS m ON m.sku = p.sku AND coalesce(m.best_score, 1) >= p.min_score
JOIN listing AS l ON l.listing_id = m.listing_id
JOIN price_snapshot AS s ON s.listing_id = m.listing_id AND coalesce(s.price_flag, 'ok') = 'ok'
GROUP BY 1, 2
ORDER BY 1, 2;
