-- A new run; its id goes on every row the run writes.
INSERT INTO run (kind, catalog, config_digest, prefect_flow_run_id, slot)
VALUES (:kind, :catalog, :config_digest, :flow_run_id, :slot)
RETURNING run_id
