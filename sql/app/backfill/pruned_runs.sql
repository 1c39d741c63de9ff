-- Runs started in [since, until) that have snapshots but no archived response left: their
-- raw responses were pruned (snapprice db prune, [retention] raw_days), so a replay cannot
-- re-parse them.
SELECT r.run_id
FROM run AS r
WHERE r.started_at >= :since AND r.started_at < :until
  AND EXISTS (SELECT 1 FROM price_snapshot AS s WHERE s.run_id = r.run_id)
  AND NOT EXISTS (SELECT 1 FROM raw_response AS a WHERE a.run_id = r.run_id)
ORDER BY r.run_id
