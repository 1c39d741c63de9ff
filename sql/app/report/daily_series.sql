-- Per SKU, platform and UTC day since `since`: the cheapest matched offer. sku NULL: every SKU.
SELECT m.sku, d.platform, d.day, CAST(min(d.min_price) AS float8) AS price, min(d.currency) AS currency
FROM daily_price AS d
JOIN match AS m USING (listing_id)
WHERE d.day >= :since
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
GROUP BY m.sku, d.platform, d.day
ORDER BY 1, 2, 3
