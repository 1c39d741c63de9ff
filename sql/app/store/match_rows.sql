-- Fragment: the match rows of this sighting, each staged listing with each of the skus, in
-- the columns of `match`. Shared by matches_fast.sql and matches_upsert.sql. When match
-- checks are on, only the pairs whose newest check passed, with that check's score.
SELECT k.sku, j.listing_id,
       CASE WHEN CAST(:checked AS boolean) THEN c.score ELSE j.score END AS best_score,
       j.rank AS best_rank, j.rank AS last_rank,
       1 AS times_seen, CAST(:run AS bigint) AS first_run_id, CAST(:run AS bigint) AS last_run_id,
       CAST(:at AS timestamptz) AS first_seen, CAST(:at AS timestamptz) AS last_seen
FROM (
    SELECT l.listing_id, s.*
    FROM snapprice_stage AS s
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
) AS j
CROSS JOIN unnest(CAST(:skus AS text[])) AS k(sku)
LEFT JOIN match_check AS c
    ON CAST(:checked AS boolean) AND c.sku = k.sku AND c.listing_id = j.listing_id
WHERE (NOT CAST(:checked AS boolean) OR c.status = 'match'
       OR EXISTS (SELECT 1 FROM match_decision AS d
                  WHERE d.sku = k.sku AND d.platform = j.platform AND d.item_id = j.item_id
                    AND d.decision = 'confirm'))
  AND NOT EXISTS (
    SELECT 1 FROM match_decision AS d
    WHERE d.sku = k.sku AND d.platform = j.platform AND d.item_id = j.item_id AND d.decision = 'reject'
)
