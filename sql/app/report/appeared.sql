-- Listings first seen in the period, with their latest price (one row per listing: its
-- first matched SKU). The latest price is the listing's newest snapshot (listing_current,
-- what latest_price reads) without latest_price's per-row probe of price_snapshot.
SELECT DISTINCT ON (l.listing_id) l.listing_id, m.sku, l.platform, l.item_id, l.title, l.url,
       CAST(effective_price(c.promo_price, c.price_low) AS float8) AS price, l.first_seen AS at
FROM listing AS l
JOIN match AS m USING (listing_id)
JOIN listing_current AS c USING (listing_id)
WHERE l.first_seen >= :since_ts
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
ORDER BY l.listing_id, m.sku
