-- How many listings have a snapshot in the period (of the SKU, when sku is given): the
-- period runs to now, so these are the listings whose latest snapshot falls in it.
SELECT count(*)
FROM latest_price AS lp
WHERE lp.captured_at >= :since_ts
  AND (CAST(:sku AS text) IS NULL
       OR lp.listing_id IN (SELECT listing_id FROM match WHERE sku = :sku))
