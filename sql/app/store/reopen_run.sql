-- A run taken up again by `snapprice run --resume`; it keeps its flow-run id unless a new
-- flow run resumes it.
UPDATE run
SET status = 'running',
    finished_at = NULL,
    prefect_flow_run_id = coalesce(:flow_run_id, prefect_flow_run_id)
WHERE run_id = :run
