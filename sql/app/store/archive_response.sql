-- A task's (redacted) request and exact response body, archived once: for a task archived
-- before (a rerun) it returns no row, and raw_response_id.sql finds the stored one.
INSERT INTO raw_response (run_id, group_id, platform, page, marketplace, protocol,
                          requested_at, received_at, http_status, cached, quota, request, body)
VALUES (:run, :group, :platform, :page, :marketplace, :protocol,
        :requested_at, :received_at, :http_status, :cached, :quota,
        CAST(:request AS jsonb), CAST(:body AS jsonb))
ON CONFLICT (run_id, group_id, platform, page) DO NOTHING
RETURNING raw_id
