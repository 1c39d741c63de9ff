-- A confirmed pair that a reject had retired comes back: the newest retired row of the pair
-- returns to `match` (a row matched again since then is left as it is). Returns the rows restored.
WITH last AS (
    SELECT r.*
    FROM match_retired AS r
    JOIN listing AS l ON l.listing_id = r.listing_id
    WHERE r.sku = :sku AND l.platform = :platform AND l.item_id = :item_id AND r.reason = 'rejected'
    ORDER BY r.retired_at DESC, r.retired_id DESC
    LIMIT 1
), back AS (
    INSERT INTO match (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                       first_run_id, last_run_id, first_seen, last_seen)
    SELECT sku, listing_id, best_score, best_rank, last_rank, times_seen,
           first_run_id, last_run_id, first_seen, last_seen
    FROM last
    ON CONFLICT (sku, listing_id) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM back
