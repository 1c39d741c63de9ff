-- Matches of the staged batch when another loader raced matches_fast.sql: one upsert.
-- Returns the rows written.
WITH seen AS (
    {rows}
), matched AS (
    INSERT INTO match AS m (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                            first_run_id, last_run_id, first_seen, last_seen)
    SELECT * FROM seen
    ON CONFLICT (sku, listing_id) DO UPDATE
    SET {merge}
    WHERE {changed}
    RETURNING 1
)
SELECT count(*) FROM matched
