-- One page-1 search task per group of the run and platform. Idempotent: tasks already
-- planned (and their status) stay as they are.
INSERT INTO search_task (run_id, group_id, platform, page)
SELECT g.run_id, g.group_id, p.platform, 1
FROM image_group AS g
CROSS JOIN unnest(CAST(:platforms AS text[])) AS p(platform)
WHERE g.run_id = :run
ON CONFLICT DO NOTHING
