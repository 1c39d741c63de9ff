-- Listings gone: absent from the newest run of the period that returned their SKU on their
-- platform (that run is sku_best_price.run_id), with their last price and when they were last
-- seen in the period (latest_price). One row per listing: its first matched SKU.
SELECT DISTINCT ON (lp.listing_id) lp.listing_id, m.sku, lp.platform, lp.item_id, lp.title, lp.url,
       CAST(lp.effective_price AS float8) AS price, lp.captured_at AS at
FROM latest_price AS lp
JOIN match AS m USING (listing_id)
JOIN sku_best_price AS b ON b.sku = m.sku AND b.platform = lp.platform
WHERE lp.captured_at >= :since_ts
  AND b.captured_at >= :since_ts
  AND lp.run_id < b.run_id
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
ORDER BY lp.listing_id, m.sku
