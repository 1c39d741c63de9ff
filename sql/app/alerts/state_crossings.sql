-- Fragment of the state rules (target_price, drop_vs_average): from `hist`, the rule's
-- condition `cond` at every snapshot of the run's listings, the crossing of each snapshot
-- where it holds, i.e. the first snapshot after the last one before it where it did not
-- hold (x_at, x_run, x_price, x_ref). While the condition keeps holding, every snapshot
-- has the same crossing, so re-evaluation adds no alert.
SELECT m.*,
       first_value(m.captured_at) OVER g AS x_at, first_value(m.run_id) OVER g AS x_run,
       first_value(m.price) OVER g AS x_price, first_value(m.ref) OVER g AS x_ref
FROM (
    SELECT h.*,
           max(CASE WHEN NOT h.cond THEN h.captured_at END) OVER (
               PARTITION BY h.rule_key, h.listing_id ORDER BY h.captured_at, h.run_id
               ROWS UNBOUNDED PRECEDING) AS last_false
    FROM hist AS h
) AS m
WHERE m.cond
WINDOW g AS (PARTITION BY m.rule_key, m.listing_id, m.last_false ORDER BY m.captured_at, m.run_id)
