-- Price history of one SKU across platforms: the daily minimum effective price
-- (promotional price when there is one) of the listings matched to it.
-- Edit the SKU in `params`, then run in psql or any SQL client.
WITH params AS (SELECT 'SKU-00001'::text AS sku, 0.0::real AS min_score)
SELECT d.day, d.platform, min(d.min_price) AS min_price, count(DISTINCT d.listing_id) AS listings
FROM params AS p
JOIN match AS m ON m.sku = p.sku AND coalesce(m.best_score, 1) >= p.min_score
JOIN daily_price AS d ON d.listing_id = m.listing_id
GROUP BY d.day, d.platform
ORDER BY d.day, d.platform;
