-- Alert rule target_price, a state: a listing matched to a SKU with a target price is at
-- or below it. One rule instance per SKU (skus, targets and keys are parallel arrays).
INSERT INTO alert (rule, rule_key, listing_id, crossing_at, run_id, evaluated_run_id, sku, platform,
                   price, reference_price, change_pct, currency, message)
WITH cur AS (
    {snapshots}
), hist AS (
    SELECT t.key AS rule_key, t.sku, s.listing_id, s.run_id, s.captured_at,
           effective_price(s.promo_price, s.price_low) AS price, t.target AS ref,
           effective_price(s.promo_price, s.price_low) <= t.target AS cond
    FROM unnest(CAST(:skus AS text[]), CAST(:targets AS numeric[]), CAST(:keys AS text[])) AS t(sku, target, key)
    JOIN match AS m ON m.sku = t.sku AND (CAST(:min_score AS real) = 0 OR m.best_score >= :min_score)
    JOIN price_snapshot AS s ON s.listing_id = m.listing_id AND coalesce(s.price_flag, 'ok') = 'ok'
    WHERE m.listing_id IN (SELECT listing_id FROM cur)
), crossing AS (
    {crossings}
)
SELECT 'target_price', x.rule_key, x.listing_id, x.x_at, x.x_run, :run, x.sku, c.platform,
       x.x_price, x.x_ref, round(100 * (x.x_price - x.x_ref) / nullif(x.x_ref, 0), 2), c.currency,
       format('%s %s: %s %s, at or below the target %s for %s', c.platform, c.item_id,
              round(x.x_price, 2), c.currency, round(x.x_ref, 2), x.sku)
FROM crossing AS x
JOIN cur AS c ON c.listing_id = x.listing_id AND c.run_id = x.run_id
ON CONFLICT (rule_key, listing_id, crossing_at) DO NOTHING
RETURNING alert_id
