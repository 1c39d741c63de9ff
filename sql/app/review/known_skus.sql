-- Which of these SKUs the database knows (from a catalog or a match).
SELECT k.sku
FROM unnest(CAST(:skus AS text[])) AS k(sku)
WHERE EXISTS (SELECT 1 FROM catalog_item AS c WHERE c.sku = k.sku)
   OR EXISTS (SELECT 1 FROM match AS m WHERE m.sku = k.sku)
   OR EXISTS (SELECT 1 FROM match_retired AS r WHERE r.sku = k.sku)
