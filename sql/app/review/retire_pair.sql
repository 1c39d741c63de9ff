-- Take one SKU ↔ listing match out of the current views (kept in match_retired for history).
-- Returns the rows moved.
WITH gone AS (
    DELETE FROM match AS m
    USING listing AS l
    WHERE m.listing_id = l.listing_id AND m.sku = :sku AND l.platform = :platform AND l.item_id = :item_id
    RETURNING m.sku, m.listing_id, m.best_score, m.best_rank, m.last_rank, m.times_seen,
              m.first_run_id, m.last_run_id, m.first_seen, m.last_seen
), kept AS (
    INSERT INTO match_retired (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                               first_run_id, last_run_id, first_seen, last_seen, reason)
    SELECT gone.*, CAST(:reason AS text) FROM gone
    RETURNING 1
)
SELECT count(*) FROM kept
