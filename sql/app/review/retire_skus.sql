-- Take every match of these SKUs out of the current views (kept in match_retired for
-- history), because the catalog dropped them or gave them another picture.
-- Returns the rows moved.
WITH gone AS (
    DELETE FROM match AS m
    WHERE m.sku = ANY(CAST(:skus AS text[]))
    RETURNING m.sku, m.listing_id, m.best_score, m.best_rank, m.last_rank, m.times_seen,
              m.first_run_id, m.last_run_id, m.first_seen, m.last_seen  -- match_retired's order
), kept AS (
    {keep}
)
SELECT count(*) FROM kept
