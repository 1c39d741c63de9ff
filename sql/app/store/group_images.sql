-- A stored run's groups: each member's SKU and its own picture (per-SKU match checks).
SELECT m.group_id, c.sku, c.image_ref, c.content_digest
FROM image_group_member AS m
JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
WHERE m.run_id = :run
ORDER BY m.group_id, c.sku, c.image_ref
