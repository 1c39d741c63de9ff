-- Fragment: how a sighting (`excluded`, a row of match_rows.sql) merges into a stored
-- match `m`: best score and rank ever, the rank of the newest sighting, one more time seen
-- per run. Shared by matches_fast.sql and matches_upsert.sql.
best_score = greatest(m.best_score, excluded.best_score),
best_rank = least(m.best_rank, excluded.best_rank),
last_rank = CASE WHEN excluded.last_seen >= m.last_seen THEN excluded.last_rank ELSE m.last_rank END,
times_seen = m.times_seen + CASE WHEN m.last_run_id IS DISTINCT FROM excluded.last_run_id THEN 1 ELSE 0 END,
last_run_id = CASE WHEN excluded.last_seen >= m.last_seen THEN excluded.last_run_id ELSE m.last_run_id END,
first_seen = least(m.first_seen, excluded.first_seen),
last_seen = greatest(m.last_seen, excluded.last_seen)
