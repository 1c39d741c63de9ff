-- A near-duplicate group of a run (idempotent).
INSERT INTO image_group (run_id, group_id, representative_id, representative_digest, n_members)
VALUES (:run, :group, :representative, :digest, :n_members)
ON CONFLICT DO NOTHING
