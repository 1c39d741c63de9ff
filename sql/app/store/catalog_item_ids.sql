-- The ids of catalog items, by (sku, image_ref) pairs given as two parallel arrays.
SELECT sku, image_ref, catalog_item_id
FROM catalog_item
WHERE (sku, image_ref) IN (SELECT * FROM unnest(CAST(:skus AS text[]), CAST(:refs AS text[])))
