-- The best stored match-check score of each given listing over the given SKUs (a replay
-- restores the snapshot score from them: the archive holds no pictures).
SELECT l.platform, l.item_id, max(c.score)
FROM unnest(CAST(:platforms AS text[]), CAST(:items AS text[])) AS x(platform, item_id)
JOIN listing AS l ON l.platform = x.platform AND l.item_id = x.item_id
JOIN match_check AS c ON c.listing_id = l.listing_id AND c.sku = ANY(CAST(:skus AS text[]))
GROUP BY l.platform, l.item_id
