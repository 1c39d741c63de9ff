-- The SKUs that some run searched (a done task of a group they belong to) between lo and
-- hi (hi NULL: no upper bound), or that a backfill run searched at any time after lo: a
-- backfill fills the slots before it.
SELECT DISTINCT c.sku
FROM search_task AS t
JOIN run AS r ON r.run_id = t.run_id
JOIN image_group_member AS m ON m.run_id = t.run_id AND m.group_id = t.group_id
JOIN catalog_item AS c ON c.catalog_item_id = m.catalog_item_id
WHERE t.status = 'done'
  AND t.updated_at >= :lo
  AND (CAST(:hi AS timestamptz) IS NULL OR t.updated_at < :hi OR r.kind = 'backfill')
