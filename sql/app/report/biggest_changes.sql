-- A run's largest price moves against each listing's previous snapshot.
SELECT c.platform, c.item_id, left(c.title, 40) AS title, c.prev_price, c.price, c.change_pct
FROM price_change AS c
JOIN price_snapshot AS s ON s.listing_id = c.listing_id AND s.captured_at = c.captured_at
WHERE s.run_id = :run
ORDER BY abs(c.change_pct) DESC NULLS LAST
LIMIT :limit
