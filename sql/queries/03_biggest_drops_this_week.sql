-- Biggest price drops of the last 7 days (snapshot to snapshot), largest first.
SELECT c.platform, c.item_id, c.title, c.prev_price, c.price, c.change_pct, c.captured_at,
       string_agg(DISTINCT m.sku, ', ') AS skus
FROM price_change AS c
LEFT JOIN match AS m USING (listing_id)
WHERE c.captured_at >= now() - interval '7 days' AND c.change < 0
GROUP BY c.platform, c.item_id, c.title, c.prev_price, c.price, c.change_pct, c.captured_at
ORDER BY c.change_pct ASC
LIMIT 50;
