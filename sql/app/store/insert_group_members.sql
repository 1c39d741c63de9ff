-- A member of a run's near-duplicate group, with its Hamming distance (idempotent).
INSERT INTO image_group_member (run_id, group_id, catalog_item_id, distance)
VALUES (:run, :group, :item, :distance)
ON CONFLICT DO NOTHING
