-- The decisions people made, newest first, optionally for one SKU.
SELECT d.sku, d.platform, d.item_id, d.decision, d.note, d.source, d.decided_at, l.title
FROM match_decision AS d
LEFT JOIN listing AS l ON l.platform = d.platform AND l.item_id = d.item_id
WHERE CAST(:sku AS text) IS NULL OR d.sku = :sku
ORDER BY d.decided_at DESC, d.sku, d.platform, d.item_id
