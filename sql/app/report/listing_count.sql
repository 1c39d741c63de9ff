-- How many listings have a snapshot in the period (of the SKU, when sku is given).
SELECT count(DISTINCT s.listing_id)
FROM price_snapshot AS s
WHERE s.captured_at >= :since_ts
  AND (CAST(:sku AS text) IS NULL
       OR s.listing_id IN (SELECT listing_id FROM match WHERE sku = :sku))
