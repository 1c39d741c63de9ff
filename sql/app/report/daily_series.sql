-- Per SKU, platform and day since `since`: the cheapest matched offer (the minimum of
-- daily_price.min_price over the SKU's listings), unflagged prices only (as sku_best_price
-- and sku_window_stats: a deposit or an accessory is never a point of the SKU's chart). sku NULL: every SKU. Read from the
-- period's snapshots directly: a filter on daily_price's day cannot skip the older
-- partitions, a bound on captured_at does. Days are cut as daily_price cuts them (in
-- snapprice_day_zone()), the zone read once: snapprice_local_day() per row reads it per row.
SELECT m.sku, l.platform, (s.captured_at AT TIME ZONE (SELECT snapprice_day_zone()))::date AS day,
       CAST(min(effective_price(s.promo_price, s.price_low)) AS float8) AS price, min(s.currency) AS currency
FROM price_snapshot AS s
JOIN listing AS l USING (listing_id)
JOIN match AS m USING (listing_id)
WHERE s.captured_at >= snapprice_day_start(:since)
  AND coalesce(s.price_flag, 'ok') = 'ok'
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
GROUP BY 1, 2, 3  -- no ORDER BY: a hash aggregate, the page sorts the lines itself
