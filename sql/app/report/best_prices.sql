-- Per SKU and platform: the cheapest current offer, when captured in the period; with its
-- landed price (shipping included, NULL when the route gave no fee) and its price per unit
-- (per piece, litre or kilogram: pack_unit says which; NULL when the title gives no pack).
SELECT m.sku, m.platform, CAST(m.effective_price AS float8) AS price, m.currency, m.title, m.url,
       m.captured_at, CAST(m.landed_price AS float8) AS landed, CAST(m.unit_price AS float8) AS unit_price,
       CASE l.pack_unit WHEN 'ml' THEN 'l' WHEN 'g' THEN 'kg' ELSE l.pack_unit END AS unit, m.item_id
FROM sku_best_price AS m
JOIN listing AS l ON l.listing_id = m.listing_id
WHERE m.captured_at >= :since_ts
  AND (CAST(:sku AS text) IS NULL OR m.sku = :sku)
