-- Whether a SKU is known: in the catalog or matched to a listing at some time.
SELECT EXISTS (SELECT 1 FROM catalog_item WHERE sku = :sku)
    OR EXISTS (SELECT 1 FROM match WHERE sku = :sku)
