-- Price history of one SKU across platforms: the daily minimum effective price
-- (promotional price when there is one) of the listings matched to it, by local day.
-- Edit the SKU in `params`, then run in psql or any SQL client. (LATERAL hands each
-- listing id to daily_price, so only that SKU's snapshots are read.)
WITH params AS (SELECT 'SKU-0001'::text AS sku, 0.0::real AS min_score)
SELECT d.day, d.platform, min(d.min_price) AS min_price, count(DISTINCT d.listing_id) AS listings
FROM params AS p
JOIN match AS m ON m.sku = p.sku AND coalesce(m.best_score, 1) >= p.min_score
CROSS JOIN LATERAL (SELECT * FROM daily_price AS dp WHERE dp.listing_id = m.listing_id) AS d
GROUP BY d.day, d.platform
ORDER BY d.day, d.platform;
