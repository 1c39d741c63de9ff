-- Per platform over the period: requests, cache hits and errors, and the quota text of
-- its newest response that reported one (used and limit are parsed from it in Python).
SELECT q.platform, q.requests, q.cached, q.errors, z.quota, NULL AS used, NULL AS limit
FROM (
    SELECT platform,
           count(*) FILTER (WHERE NOT cached) AS requests,
           count(*) FILTER (WHERE cached) AS cached,
           count(*) FILTER (WHERE http_status >= 400) AS errors
    FROM raw_response
    WHERE received_at >= :since_ts
    GROUP BY platform
) AS q
LEFT JOIN LATERAL (
    SELECT r.quota
    FROM raw_response AS r
    WHERE r.platform = q.platform AND r.quota IS NOT NULL
    ORDER BY r.received_at DESC
    LIMIT 1
) AS z ON true
ORDER BY q.platform
