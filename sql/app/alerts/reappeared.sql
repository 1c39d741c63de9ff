-- Alert rule reappeared, an event: the listing is back after missing at least `runs` runs.
-- A run counts as missed when, between the listing's previous snapshot and this one, it
-- returned other listings of the same platform for one of the listing's SKUs (so the SKU
-- was searched there). The steps are materialized so that, even before ANALYZE, sibling
-- snapshots are read once.
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
WITH cur AS (
    {snapshots}
), gap AS MATERIALIZED (
    SELECT c.*, p.run_id AS p_run, p.captured_at AS p_at, p.price AS p_price
    FROM cur AS c
    CROSS JOIN LATERAL (
        {previous}
    ) AS p
), sib AS MATERIALIZED (
    SELECT DISTINCT g.listing_id, m2.listing_id AS sib_id
    FROM gap AS g
    JOIN match AS m1 ON m1.listing_id = g.listing_id
    JOIN match AS m2 ON m2.sku = m1.sku AND m2.listing_id <> g.listing_id
    JOIN listing AS l2 ON l2.listing_id = m2.listing_id AND l2.platform = g.platform
), missed AS (
    SELECT g.listing_id, count(DISTINCT s2.run_id) AS missed
    FROM gap AS g
    JOIN sib USING (listing_id)
    JOIN price_snapshot AS s2 ON s2.listing_id = sib.sib_id
                             AND s2.captured_at > g.p_at AND s2.captured_at < g.captured_at
    WHERE s2.run_id NOT IN (g.run_id, g.p_run)
    GROUP BY g.listing_id
)
SELECT 'reappeared', :key, g.listing_id, g.captured_at, g.run_id, :run, g.sku, g.platform,
       g.price, g.p_price, round(100 * (g.price - g.p_price) / nullif(g.p_price, 0), 2), g.currency,
       format('%s %s: back at %s %s after missing %s runs (last seen %s at %s)', g.platform, g.item_id,
              round(g.price, 2), g.currency, x.missed, to_char(snapprice_local_day(g.p_at), 'YYYY-MM-DD'),
              round(g.p_price, 2))
FROM gap AS g
JOIN missed AS x USING (listing_id)
WHERE x.missed >= CAST(:runs AS integer)
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
