-- Fragment: whether match_merge_set.sql changes the figures of the stored match `m`;
-- matches it leaves as they are are not updated (an UPDATE of an unchanged row still
-- writes a new version of it).
(m.best_score, m.best_rank, m.last_rank, m.last_run_id, m.last_seen)
IS DISTINCT FROM
(greatest(m.best_score, excluded.best_score), least(m.best_rank, excluded.best_rank), excluded.last_rank,
 excluded.last_run_id, greatest(m.last_seen, excluded.last_seen))
