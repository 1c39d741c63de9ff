-- Fragment: the evaluated run's snapshots, the `cur` of every alert rule, each with its
-- listing and (for display) the first SKU matched to it. With a min_score above 0, only
-- listings matched at least that well count. A snapshot served from a cache is never an
-- alert (it is not news), nor is a flagged price (bait or an outlier: price_flag).
SELECT *
FROM (
    SELECT s.listing_id, s.run_id, s.captured_at, effective_price(s.promo_price, s.price_low) AS price,
           s.currency, l.platform, l.item_id,
           (SELECT min(m.sku)
            FROM match AS m
            WHERE m.listing_id = s.listing_id
              AND (CAST(:min_score AS real) = 0 OR m.best_score >= :min_score)) AS sku
    FROM price_snapshot AS s
    JOIN listing AS l USING (listing_id)
    WHERE s.run_id = :run AND NOT s.cached AND coalesce(s.price_flag, 'ok') = 'ok'
) AS c0
WHERE CAST(:min_score AS real) = 0 OR sku IS NOT NULL
