-- Alert rule drop_vs_average, a state: the snapshot is at least pct percent below the
-- listing's reference, the day-weighted average of the `days` local days before the
-- snapshot's day (each day with data counts once), given at least min_days such days, and
-- at least min_abs below it in money.
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
WITH cur AS (
    {snapshots}
), daily AS (
    SELECT s.listing_id, snapprice_local_day(s.captured_at) - DATE '2000-01-01' AS dayn,
           avg(effective_price(s.promo_price, s.price_low)) AS davg
    FROM price_snapshot AS s
    WHERE s.listing_id IN (SELECT listing_id FROM cur) AND coalesce(s.price_flag, 'ok') = 'ok'
    GROUP BY 1, 2
), ref AS (
    SELECT listing_id, dayn, avg(davg) OVER w AS ref_avg, count(*) OVER w AS ref_days
    FROM daily
    WINDOW w AS (PARTITION BY listing_id ORDER BY dayn
                 RANGE BETWEEN CAST(:days AS integer) PRECEDING AND 1 PRECEDING)
), hist AS (
    SELECT CAST(:key AS text) AS rule_key, c2.sku, s.listing_id, s.run_id, s.captured_at,
           effective_price(s.promo_price, s.price_low) AS price, round(r.ref_avg, 2) AS ref,
           coalesce(r.ref_days >= CAST(:min_days AS integer)
                    AND effective_price(s.promo_price, s.price_low)
                        <= r.ref_avg * (1 - CAST(:pct AS numeric) / 100)
                    AND r.ref_avg - effective_price(s.promo_price, s.price_low) >= CAST(:min_abs AS numeric),
                    false) AS cond
    FROM price_snapshot AS s
    JOIN cur AS c2 ON c2.listing_id = s.listing_id AND coalesce(s.price_flag, 'ok') = 'ok'
    JOIN ref AS r ON r.listing_id = s.listing_id
                 AND r.dayn = snapprice_local_day(s.captured_at) - DATE '2000-01-01'
), crossing AS (
    {crossings}
)
SELECT 'drop_vs_average', x.rule_key, x.listing_id, x.x_at, x.x_run, :run, x.sku, c.platform,
       x.x_price, x.x_ref, round(100 * (x.x_price - x.x_ref) / nullif(x.x_ref, 0), 2), c.currency,
       format('%s %s: %s %s, %s%% vs its %s-day average %s', c.platform, c.item_id,
              round(x.x_price, 2), c.currency, round(100 * (x.x_price - x.x_ref) / x.x_ref, 2),
              CAST(:days AS integer), round(x.x_ref, 2))
FROM crossing AS x
JOIN cur AS c ON c.listing_id = x.listing_id AND c.run_id = x.run_id
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
