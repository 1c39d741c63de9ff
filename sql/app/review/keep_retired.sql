-- Fragment: the matches a DELETE … RETURNING took out (`gone`) kept in match_retired with the
-- reason given; the rows kept. Shared by retire_pair.sql and retire_skus.sql.
INSERT INTO match_retired (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                           first_run_id, last_run_id, first_seen, last_seen, reason)
SELECT gone.*, CAST(:reason AS text) FROM gone
RETURNING 1
