-- How many alerts crossed in the period (of the SKU, when sku is given): the true count
-- beside the newest ones the page embeds. Same filters as alerts/fetch_alerts.sql.
SELECT count(*)
FROM alert AS a
WHERE a.crossing_at >= :since_ts
  AND (CAST(:sku AS text) IS NULL OR a.sku = :sku
       OR a.listing_id IN (SELECT listing_id FROM match WHERE match.sku = :sku))
