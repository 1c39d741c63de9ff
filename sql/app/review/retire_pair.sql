-- Take one SKU ↔ listing match out of the current views (kept in match_retired for history).
-- Returns the rows moved.
WITH gone AS (
    DELETE FROM match AS m
    USING listing AS l
    WHERE m.listing_id = l.listing_id AND m.sku = :sku AND l.platform = :platform AND l.item_id = :item_id
    RETURNING m.sku, m.listing_id, m.best_score, m.best_rank, m.last_rank, m.times_seen,
              m.first_run_id, m.last_run_id, m.first_seen, m.last_seen  -- match_retired's order
), kept AS (
    {keep}
)
SELECT count(*) FROM kept
