-- SKUs with current matches that this catalog dropped ('sku_dropped'), or whose pictures
-- all changed ('sku_reimaged': none of today's image digests is one the SKU had before).
-- The parameters: every SKU of the catalog, and its usable pictures as (sku, digest) pairs.
-- Runs before this run's catalog items are stored.
WITH matched AS (
    SELECT DISTINCT sku FROM match
), pictures AS (
    SELECT * FROM unnest(CAST(:image_skus AS text[]), CAST(:digests AS text[])) AS p(sku, digest)
)
SELECT m.sku, 'sku_dropped' AS reason
FROM matched AS m
WHERE m.sku <> ALL(CAST(:skus AS text[]))
UNION ALL
SELECT m.sku, 'sku_reimaged'
FROM matched AS m
WHERE EXISTS (SELECT 1 FROM pictures AS p WHERE p.sku = m.sku)
  AND EXISTS (SELECT 1 FROM catalog_item AS c WHERE c.sku = m.sku AND c.content_digest IS NOT NULL)
  AND NOT EXISTS (
      SELECT 1 FROM pictures AS p JOIN catalog_item AS c ON c.sku = p.sku AND c.content_digest = p.digest
      WHERE p.sku = m.sku
  )
ORDER BY 1
