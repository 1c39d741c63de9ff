-- Per SKU, across platforms, as of today: the 30-day average and the 90-day low
-- (sql/migrations/0005_window_stats.sql has their exact meaning). Read through the view,
-- which a read path may keep stored, rather than recomputed for every SKU.
SELECT m.sku, CAST(m.avg_30 AS float8) AS avg_30, CAST(m.low_90 AS float8) AS low_90,
       CAST(m.pct_vs_avg_30 AS float8) AS pct_vs_avg_30, m.is_lowest_90, m.days_90
FROM sku_window_stats AS m
WHERE m.platform IS NULL
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
