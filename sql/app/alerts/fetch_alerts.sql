-- Alerts with their listing's item id, title and URL, newest first. Each filter is off
-- when NULL: ids; since (crossing time); sku (the alert's SKU, or any SKU matched to its listing).
SELECT a.*, l.item_id, l.title, l.url
FROM alert AS a
JOIN listing AS l USING (listing_id)
WHERE (CAST(:ids AS bigint[]) IS NULL OR a.alert_id = ANY(CAST(:ids AS bigint[])))
  AND (CAST(:since AS timestamptz) IS NULL OR a.crossing_at >= :since)
  AND (CAST(:sku AS text) IS NULL OR a.sku = :sku
       OR a.listing_id IN (SELECT listing_id FROM match WHERE match.sku = :sku))
ORDER BY a.crossing_at DESC, a.alert_id DESC
LIMIT :limit
