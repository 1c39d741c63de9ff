-- The run's tasks still to execute: pending, or skipped because their platform was
-- stopped. With platforms NULL, of every platform. Page 1 of every group comes first.
SELECT run_id, group_id, platform, page, attempts
FROM search_task
WHERE run_id = :run
  AND status IN ('pending', 'skipped')
  AND (CAST(:platforms AS text[]) IS NULL OR platform = ANY(CAST(:platforms AS text[])))
ORDER BY page, group_id, platform
