-- Listings gone: absent from the newest run of the period that returned their SKU on their
-- platform (one row per listing: its first matched SKU), with their last price.
WITH seen AS (
    SELECT s.listing_id, max(s.run_id) AS last_run, max(s.captured_at) AS last_at
    FROM price_snapshot AS s
    WHERE s.captured_at >= :since_ts
    GROUP BY s.listing_id
), newest AS (
    SELECT m.sku, l.platform, max(s.run_id) AS run_id
    FROM price_snapshot AS s
    JOIN match AS m USING (listing_id)
    JOIN listing AS l USING (listing_id)
    WHERE s.captured_at >= :since_ts
    GROUP BY m.sku, l.platform
)
SELECT DISTINCT ON (l.listing_id) l.listing_id, m.sku, l.platform, l.item_id, l.title, l.url,
       CAST(lp.effective_price AS float8) AS price, seen.last_at AS at
FROM seen
JOIN listing AS l USING (listing_id)
JOIN match AS m USING (listing_id)
JOIN newest AS n ON n.sku = m.sku AND n.platform = l.platform
JOIN latest_price AS lp ON lp.listing_id = l.listing_id
WHERE seen.last_run < n.run_id
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
ORDER BY l.listing_id, m.sku
