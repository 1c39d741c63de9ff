-- Alerts people keep: rises as well as drops, and a per-SKU daily cap.
--
-- rise_vs_previous: the price rose by at least X % since the listing's previous snapshot.
-- suppressed: over `[alerts] max_per_sku_per_day` (the SKU's day already had that many
-- alerts, the strongest first): kept in the table, not delivered to the webhook or channels.
ALTER TABLE alert DROP CONSTRAINT IF EXISTS alert_rule_check;
ALTER TABLE alert ADD CONSTRAINT alert_rule_check
    CHECK (rule IN ('target_price', 'drop_vs_previous', 'rise_vs_previous', 'drop_vs_average',
                    'new_low', 'reappeared'));
ALTER TABLE alert ADD COLUMN suppressed boolean NOT NULL DEFAULT false;
