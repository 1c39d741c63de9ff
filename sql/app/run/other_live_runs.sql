-- The other runs live right now: each holds the session advisory lock (LIVE_LOCK, run_id) while a
-- process works on it (run.live), and a killed process lets go of it with its connection.
SELECT objid::bigint
FROM pg_locks
WHERE locktype = 'advisory'
  AND granted
  AND objsubid = 2
  AND classid = CAST(:lock AS bigint)::oid
  AND objid <> CAST(:run AS bigint)::oid
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
