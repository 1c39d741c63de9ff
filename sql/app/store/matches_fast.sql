-- Matches of the staged batch to the skus, fast path (as listings_fast.sql): new pairs by
-- plain INSERT, known ones by UPDATE; a pair another loader adds meanwhile fails on the
-- primary key, and the loader runs matches_upsert.sql instead. Returns the rows written.
WITH seen AS (
    {rows}
), new AS (
    INSERT INTO match (sku, listing_id, best_score, best_rank, last_rank, times_seen,
                       first_run_id, last_run_id, first_seen, last_seen)
    SELECT * FROM seen
    WHERE NOT EXISTS (SELECT 1 FROM match AS o WHERE o.sku = seen.sku AND o.listing_id = seen.listing_id)
    RETURNING 1
), old AS (
    UPDATE match AS m
    SET {merge}
    FROM seen AS excluded
    WHERE m.sku = excluded.sku AND m.listing_id = excluded.listing_id
      AND {changed}
    RETURNING 1
), matched AS (
    SELECT 1 FROM new
    UNION ALL
    SELECT 1 FROM old
)
SELECT count(*) FROM matched
