-- Listings gone: absent from the newest run of the period that returned their SKU on their
-- platform, with their last price and when they were last seen in the period. One row per
-- listing: its first matched SKU. Both read listing_current (each listing's newest
-- snapshot): the newest run per (SKU, platform) is a hash aggregate over the matches.
WITH seen AS (
    SELECT m.sku, l.platform, l.listing_id, l.item_id, l.title, l.url, c.run_id, c.captured_at,
           effective_price(c.promo_price, c.price_low) AS price
    FROM match AS m
    JOIN listing AS l USING (listing_id)
    JOIN listing_current AS c USING (listing_id)
    WHERE c.captured_at >= :since_ts
      AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
), newest AS (
    SELECT sku, platform, max(run_id) AS run_id FROM seen GROUP BY sku, platform
)
SELECT DISTINCT ON (s.listing_id) s.listing_id, s.sku, s.platform, s.item_id, s.title, s.url,
       CAST(s.price AS float8) AS price, s.captured_at AS at
FROM seen AS s
JOIN newest AS n USING (sku, platform)
WHERE s.run_id < n.run_id
ORDER BY s.listing_id, s.sku
