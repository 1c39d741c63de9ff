-- Alert rule new_low, an event: the run's snapshot is below every earlier snapshot of the
-- listing in the last `days` local days (its own day included; days in snapprice_day_zone()),
-- and those earlier snapshots cover at least min_days distinct days (one earlier snapshot
-- is not a history to be low in).
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
WITH cur AS (
    {snapshots}
)
SELECT 'new_low', :key, c.listing_id, c.captured_at, c.run_id, :run, c.sku, c.platform,
       c.price, w.low, round(100 * (c.price - w.low) / nullif(w.low, 0), 2), c.currency,
       format('%s %s: %s %s, a new %s-day low (previous low %s)', c.platform, c.item_id,
              round(c.price, 2), c.currency, CAST(:days AS integer), round(w.low, 2))
FROM cur AS c
CROSS JOIN LATERAL (
    SELECT min(effective_price(s.promo_price, s.price_low)) AS low,
           count(DISTINCT snapprice_local_day(s.captured_at)) AS days
    FROM price_snapshot AS s
    WHERE s.listing_id = c.listing_id AND s.captured_at < c.captured_at AND coalesce(s.price_flag, 'ok') = 'ok'
      AND s.captured_at >= snapprice_day_start(snapprice_local_day(c.captured_at) - (CAST(:days AS integer) - 1))
) AS w
WHERE c.price < w.low AND w.days >= CAST(:min_days AS integer)
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
