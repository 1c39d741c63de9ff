-- The archived raw responses received before the cutoff: how many, their time span and runs.
SELECT count(*) AS n_rows, min(received_at) AS oldest, max(received_at) AS newest,
       count(DISTINCT run_id) AS n_runs
FROM raw_response
WHERE received_at < :cutoff
