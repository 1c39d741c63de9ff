-- Listings whose price moved over the period: the first and the last snapshot of each, where
-- they differ; with the listing and its first matched SKU. The last is the listing's latest
-- snapshot (the period runs to now); the first is one probe of the primary key per listing,
-- bounded by the latest, so that the month partitions made ahead are pruned from every probe.
SELECT lp.listing_id, lp.platform, lp.item_id, lp.title, lp.url,
       CAST(f.price AS float8) AS first_price, CAST(lp.effective_price AS float8) AS last_price,
       f.captured_at AS first_at, lp.captured_at AS last_at, lp.currency,
       (SELECT min(m.sku) FROM match AS m WHERE m.listing_id = lp.listing_id) AS sku
FROM latest_price AS lp
CROSS JOIN LATERAL (
    SELECT s.captured_at, effective_price(s.promo_price, s.price_low) AS price
    FROM price_snapshot AS s
    WHERE s.listing_id = lp.listing_id AND s.captured_at >= :since_ts AND s.captured_at <= lp.captured_at
    ORDER BY s.captured_at
    LIMIT 1
) AS f
WHERE lp.captured_at > f.captured_at AND lp.effective_price <> f.price
  AND (CAST(:sku AS text) IS NULL
       OR lp.listing_id IN (SELECT listing_id FROM match AS m WHERE m.sku = :sku))
