-- Listings whose price moved over the period: the first and the last snapshot of each, where
-- they differ; with the listing and its first matched SKU.
WITH s AS (
    SELECT s.listing_id, s.captured_at, effective_price(s.promo_price, s.price_low) AS price, s.currency,
           row_number() OVER (PARTITION BY s.listing_id ORDER BY s.captured_at) AS nth_first,
           row_number() OVER (PARTITION BY s.listing_id ORDER BY s.captured_at DESC) AS nth_last
    FROM price_snapshot AS s
    WHERE s.captured_at >= :since_ts
), ends AS (
    SELECT listing_id,
           CAST(min(price) FILTER (WHERE nth_first = 1) AS float8) AS first_price,
           CAST(min(price) FILTER (WHERE nth_last = 1) AS float8) AS last_price,
           min(captured_at) AS first_at, max(captured_at) AS last_at,
           min(currency) FILTER (WHERE nth_last = 1) AS currency
    FROM s
    WHERE nth_first = 1 OR nth_last = 1
    GROUP BY listing_id
)
SELECT e.*, l.platform, l.item_id, l.title, l.url,
       (SELECT min(m.sku) FROM match AS m WHERE m.listing_id = e.listing_id) AS sku
FROM ends AS e
JOIN listing AS l USING (listing_id)
WHERE e.last_at > e.first_at AND e.last_price <> e.first_price
  AND (CAST(:sku AS text) IS NULL
       OR e.listing_id IN (SELECT listing_id FROM match AS m WHERE m.sku = :sku))
