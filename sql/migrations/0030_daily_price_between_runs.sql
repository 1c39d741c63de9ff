-- sku_daily_price between runs (issue 17): when nothing was written since the last refresh
-- (sku_day_dirty empty: the state after every run's end), the rollup is read as it is,
-- with no per-row look into sku_day_dirty. The anti-join of 0025 ran a (cheap but not
-- free) probe for each of the 1.2 M rows a 30-day report of 10 k SKUs reads, which was a
-- third of that read. Same columns, same rows.
CREATE OR REPLACE VIEW sku_daily_price AS
SELECT d.sku, d.platform, d.day, d.price AS min_price, d.currency
FROM sku_day AS d
WHERE EXISTS (SELECT 1 FROM sku_day_built)
  AND NOT EXISTS (SELECT 1 FROM sku_day_dirty)
UNION ALL
SELECT d.sku, d.platform, d.day, d.price AS min_price, d.currency
FROM sku_day AS d
WHERE EXISTS (SELECT 1 FROM sku_day_built)
  AND EXISTS (SELECT 1 FROM sku_day_dirty)
  AND NOT EXISTS (SELECT 1 FROM sku_day_dirty AS x WHERE x.sku = d.sku AND x.day = d.day)
UNION ALL
-- (the pair's own columns, so that a filter on sku or day reaches the dirty pairs)
SELECT k.sku, f.platform, k.day, f.price, f.currency
FROM (SELECT DISTINCT x.sku, x.day FROM sku_day_dirty AS x) AS k
CROSS JOIN LATERAL snapprice_sku_days_of(ARRAY[k.sku], ARRAY[k.day]) AS f
WHERE EXISTS (SELECT 1 FROM sku_day_built)
UNION ALL
SELECT a.sku, a.platform, a.day, a.price, a.currency
FROM snapprice_sku_days_all() AS a
WHERE NOT EXISTS (SELECT 1 FROM sku_day_built);
