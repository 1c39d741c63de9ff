-- The raw responses received in [since, until), oldest archived first: what a replay
-- re-parses and reloads.
SELECT raw_id, run_id, group_id, platform, marketplace, protocol, page, received_at, cached, body
FROM raw_response
WHERE received_at >= :since AND received_at < :until
ORDER BY raw_id
