-- Run health: the last 20 runs with their counts and failed / skipped searches.
SELECT r.run_id, r.kind, r.status, r.started_at, r.finished_at - r.started_at AS took,
       r.n_images, r.n_groups, r.n_searches, r.n_snapshots, r.n_rejects,
       count(*) FILTER (WHERE t.status = 'failed')  AS failed_searches,
       count(*) FILTER (WHERE t.status = 'skipped') AS skipped_searches
FROM run AS r
LEFT JOIN search_task AS t USING (run_id)
GROUP BY r.run_id
ORDER BY r.run_id DESC
LIMIT 20;
