-- A stored run's groups: the representative's image and digest, and the SKUs of the members.
SELECT g.group_id, rc.image_ref, g.representative_digest, array_agg(DISTINCT c.sku ORDER BY c.sku)
FROM image_group AS g
JOIN catalog_item AS rc ON rc.catalog_item_id = g.representative_id
JOIN image_group_member AS m ON m.run_id = g.run_id AND m.group_id = g.group_id
JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
WHERE g.run_id = :run
GROUP BY g.group_id, rc.image_ref, g.representative_digest
