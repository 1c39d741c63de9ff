-- Matches of SKUs that were a non-representative member of a group made by an older grouping
-- rule (dedupe_version below the version asked for; NULL: stored before versions were recorded, when groups
-- could chain different products): such a SKU was matched through another SKU's picture.
-- The next run searches them under today's rule and matches them again where they belong.
WITH stale AS (
    SELECT DISTINCT c.sku
    FROM image_group AS g
    JOIN image_group_member AS m ON m.run_id = g.run_id AND m.group_id = g.group_id
    JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
    JOIN catalog_item AS r ON r.catalog_item_id = g.representative_id
    WHERE (g.dedupe_version IS NULL OR g.dedupe_version < :version)
      AND c.sku <> r.sku
)
DELETE FROM match AS x
USING stale
WHERE x.sku = stale.sku
RETURNING x.sku
