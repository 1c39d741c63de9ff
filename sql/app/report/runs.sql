-- The runs started in the period, newest first, with their searches, failures, snapshots
-- and rejects.
SELECT r.run_id, r.kind, r.status, r.started_at, r.finished_at,
       (SELECT count(*) FROM search_task AS t WHERE t.run_id = r.run_id AND t.status = 'done') AS searches,
       (SELECT count(*) FROM search_task AS t WHERE t.run_id = r.run_id AND t.status = 'failed') AS failed,
       (SELECT count(*) FROM price_snapshot AS s WHERE s.run_id = r.run_id) AS snapshots,
       (SELECT count(*) FROM reject AS j WHERE j.run_id = r.run_id) AS rejects
FROM run AS r
WHERE r.started_at >= :since_ts
ORDER BY r.run_id DESC
