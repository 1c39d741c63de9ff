-- Fragment: the match rows of the staged load in the columns of `match`: each staged
-- listing with each SKU of its sighting, one row per (SKU, listing) — best score and rank
-- of the load's sightings, the rank of the newest, first and last seen over them. Shared
-- by matches_fast.sql and matches_upsert.sql. Where a sighting is `checked` (match checks
-- on), only the pairs whose newest check passed, with that check's score.
SELECT x.sku, x.listing_id, max(x.score) AS best_score, min(x.rank) AS best_rank,
       (array_agg(x.rank ORDER BY x.captured_at DESC, x.seq DESC))[1] AS last_rank,
       1 AS times_seen, CAST(:run AS bigint) AS first_run_id, CAST(:run AS bigint) AS last_run_id,
       min(x.captured_at) AS first_seen, max(x.captured_at) AS last_seen
FROM (
    SELECT k.sku, l.listing_id, s.seq, s.rank, t.captured_at,
           CASE WHEN t.checked THEN c.score ELSE s.score END AS score
    FROM snapprice_stage AS s
    JOIN snapprice_stage_task AS t ON t.seq = s.seq
    JOIN listing AS l ON l.platform = s.platform AND l.item_id = s.item_id
    CROSS JOIN unnest(t.skus) AS k(sku)
    LEFT JOIN match_check AS c
        ON t.checked AND c.sku = k.sku AND c.listing_id = l.listing_id
    WHERE (NOT t.checked OR c.status = 'match'
           OR EXISTS (SELECT 1 FROM match_decision AS d
                      WHERE d.sku = k.sku AND d.platform = s.platform AND d.item_id = s.item_id
                        AND d.decision = 'confirm'))
      AND NOT EXISTS (
        SELECT 1 FROM match_decision AS d
        WHERE d.sku = k.sku AND d.platform = s.platform AND d.item_id = s.item_id AND d.decision = 'reject'
    )
) AS x
GROUP BY x.sku, x.listing_id
