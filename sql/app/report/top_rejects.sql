-- The ten most frequent reject reasons of the period's runs.
SELECT j.stage, j.reason, count(*) AS n
FROM reject AS j
JOIN run AS r USING (run_id)
WHERE r.started_at >= :since_ts
GROUP BY 1, 2
ORDER BY 3 DESC, 1, 2
LIMIT 10
