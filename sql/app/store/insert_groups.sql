-- A near-duplicate group of a run and the grouping rule that made it (idempotent).
INSERT INTO image_group (run_id, group_id, representative_id, representative_digest, n_members, dedupe_version)
VALUES (:run, :group, :representative, :digest, :n_members, :version)
ON CONFLICT DO NOTHING
