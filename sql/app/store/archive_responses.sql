-- The (redacted) requests and exact response bodies of a batch of tasks of one run,
-- archived once each in one statement: a task archived before (a rerun) returns no row, and
-- raw_response_ids.sql finds the stored one. Returns each new row's task and raw_id.
-- The requests and bodies come as one JSON array each, in the tasks' order: one text
-- parameter apiece, where a text[] of JSON documents would be quoted character by
-- character on the way.
INSERT INTO raw_response (run_id, group_id, platform, page, marketplace, protocol,
                          requested_at, received_at, http_status, cached, quota, request, body)
SELECT :run, x.group_id, x.platform, x.page, x.marketplace, x.protocol, x.requested_at,
       x.received_at, x.http_status, x.cached, x.quota, rq.value, bd.value
FROM unnest(CAST(:groups AS int[]), CAST(:platforms AS text[]), CAST(:pages AS int[]),
            CAST(:marketplaces AS text[]), CAST(:protocols AS text[]),
            CAST(:requested AS timestamptz[]), CAST(:received AS timestamptz[]),
            CAST(:statuses AS int[]), CAST(:cached AS boolean[]), CAST(:quotas AS text[]))
     WITH ORDINALITY AS x (group_id, platform, page, marketplace, protocol, requested_at,
                           received_at, http_status, cached, quota, n)
JOIN jsonb_array_elements(CAST(:requests AS jsonb)) WITH ORDINALITY AS rq (value, n) ON rq.n = x.n
JOIN jsonb_array_elements(CAST(:bodies AS jsonb)) WITH ORDINALITY AS bd (value, n) ON bd.n = x.n
ON CONFLICT (run_id, group_id, platform, page) DO NOTHING
RETURNING group_id, platform, page, raw_id
