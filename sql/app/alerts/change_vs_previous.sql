-- Alert rules drop_vs_previous and rise_vs_previous, events: the run's snapshot moved at
-- least pct percent from the listing's previous one, down (direction -1) or up (+1), and at
-- least min_abs in money. The snapshot is the event, so it is the crossing.
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
WITH cur AS (
    {snapshots}
)
SELECT CAST(:rule AS text), :key, c.listing_id, c.captured_at, c.run_id, :run, c.sku, c.platform,
       c.price, p.price, round(100 * (c.price - p.price) / p.price, 2), c.currency,
       format('%s %s: %s %s, %s%s%% vs the previous snapshot (%s)', c.platform, c.item_id,
              round(c.price, 2), c.currency, CASE WHEN c.price > p.price THEN '+' ELSE '' END,
              round(100 * (c.price - p.price) / p.price, 2), round(p.price, 2))
FROM cur AS c
CROSS JOIN LATERAL (
    {previous}
) AS p
WHERE p.price > 0
  AND CAST(:direction AS integer) * (c.price - p.price) >= p.price * CAST(:pct AS numeric) / 100
  AND CAST(:direction AS integer) * (c.price - p.price) >= CAST(:min_abs AS numeric)
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
