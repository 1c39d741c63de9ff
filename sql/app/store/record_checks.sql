-- Store a page's per-SKU match checks (newest verdict per (sku, listing); an "unverified"
-- one never replaces a verdict that saw the pictures), and remove the `match` rows of
-- pairs now rejected: their listing and snapshots stay. Returns (checks written, matches
-- removed). The pairs arrive deduplicated, each with the time it was checked.
WITH c AS (
    SELECT x.sku, l.listing_id, x.status, x.score, x.reason, x.digest, x.at
    FROM unnest(CAST(:skus AS text[]), CAST(:platforms AS text[]), CAST(:items AS text[]),
                CAST(:statuses AS text[]), CAST(:scores AS real[]), CAST(:reasons AS text[]),
                CAST(:digests AS text[]), CAST(:ats AS timestamptz[]))
         AS x(sku, platform, item_id, status, score, reason, digest, at)
    JOIN listing AS l ON l.platform = x.platform AND l.item_id = x.item_id
), saved AS (
    INSERT INTO match_check AS m (sku, listing_id, status, score, reason, picture_digest,
                                  feature_version, run_id, checked_at)
    SELECT sku, listing_id, status, score, reason, digest, CAST(:version AS smallint),
           CAST(:run AS bigint), at
    FROM c
    ON CONFLICT (sku, listing_id) DO UPDATE
    SET status = excluded.status, score = excluded.score, reason = excluded.reason,
        picture_digest = excluded.picture_digest, feature_version = excluded.feature_version,
        run_id = excluded.run_id, checked_at = excluded.checked_at
    WHERE excluded.checked_at >= m.checked_at
      AND (excluded.status <> 'unverified' OR m.status = 'unverified')
      AND (m.status, m.score, m.reason, m.picture_digest, m.feature_version, m.run_id)
          IS DISTINCT FROM (excluded.status, excluded.score, excluded.reason,
                            excluded.picture_digest, excluded.feature_version, excluded.run_id)
    RETURNING 1
), dropped AS (
    DELETE FROM match AS mt
    USING c
    WHERE c.status = 'rejected' AND mt.sku = c.sku AND mt.listing_id = c.listing_id
    RETURNING 1
)
SELECT (SELECT count(*) FROM saved), (SELECT count(*) FROM dropped)
