-- Noise control: of a SKU's alerts on one local day, at most `cap` are delivered. The alerts
-- delivered earlier that day count first, then the new ones by the size of the change;
-- the new ones over the cap are marked suppressed (kept, not delivered). Returns their ids.
WITH fresh AS (
    SELECT alert_id, coalesce(sku, 'listing ' || listing_id) AS who,
           snapprice_local_day(crossing_at) AS day
    FROM alert
    WHERE alert_id = ANY(CAST(:ids AS bigint[]))
), ranked AS (
    SELECT a.alert_id,
           row_number() OVER (
               PARTITION BY coalesce(a.sku, 'listing ' || a.listing_id), snapprice_local_day(a.crossing_at)
               ORDER BY a.alert_id = ANY(CAST(:ids AS bigint[])), abs(coalesce(a.change_pct, 0)) DESC, a.alert_id
           ) AS n
    FROM alert AS a
    WHERE NOT a.suppressed
      AND (coalesce(a.sku, 'listing ' || a.listing_id), snapprice_local_day(a.crossing_at))
          IN (SELECT who, day FROM fresh)
)
UPDATE alert AS a
SET suppressed = true
FROM ranked AS r
WHERE a.alert_id = r.alert_id AND r.n > CAST(:cap AS integer) AND a.alert_id = ANY(CAST(:ids AS bigint[]))
RETURNING a.alert_id
