-- A refused row, once per run, stage, source and reason: loading the same bad batch again
-- adds nothing (the first detail stays).
INSERT INTO reject (run_id, stage, source, reason, detail)
VALUES (:run_id, :stage, :source, :reason, :detail)
ON CONFLICT (coalesce(run_id, 0), stage, source, reason) DO NOTHING
