-- The next page of a search that said it has more (idempotent).
INSERT INTO search_task (run_id, group_id, platform, page)
VALUES (:run, :group, :platform, :page)
ON CONFLICT DO NOTHING
