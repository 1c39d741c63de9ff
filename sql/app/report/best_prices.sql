-- Per SKU and platform: the cheapest current offer, when captured in the period.
SELECT m.sku, m.platform, CAST(m.effective_price AS float8) AS price, m.currency, m.title, m.url,
       m.captured_at
FROM sku_best_price AS m
WHERE m.captured_at >= :since_ts
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
