-- snapprice data contract, part 6: price alerts, one row per rule, listing and crossing.
--
-- rule_key names the rule instance with its parameters ("drop_vs_average:30d:15%",
-- "target_price:SKU-1:99.00"), so changing a threshold starts a new rule.
-- crossing_at is the capture time of the snapshot where the condition became true:
-- * state rules (target_price, drop_vs_average): the first snapshot of the listing's current
--   run of snapshots that meet the condition. While it keeps holding, re-evaluation finds the
--   same crossing (no new alert); after a snapshot that does not meet it, the next one that
--   does is a new crossing and a new alert.
-- * event rules (drop_vs_previous, new_low, reappeared): the snapshot that is the event.
-- The UNIQUE key below makes evaluation idempotent, in any order and any number of times.

CREATE TABLE alert (
    alert_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule            text          NOT NULL
                                  CHECK (rule IN ('target_price', 'drop_vs_previous', 'drop_vs_average',
                                                  'new_low', 'reappeared')),
    rule_key        text          NOT NULL CHECK (rule_key <> ''),
    listing_id      bigint        NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    crossing_at     timestamptz   NOT NULL,
    run_id          bigint        REFERENCES run (run_id) ON DELETE SET NULL,  -- run of that snapshot
    evaluated_run_id bigint,      -- run whose evaluation created the alert (informational)
    sku             text,         -- the rule's SKU (target_price), else the listing's first matched SKU
    platform        text          NOT NULL,
    price           numeric(18,4) NOT NULL,
    reference_price numeric(18,4),  -- target, previous price, N-day average or previous low
    change_pct      numeric(9,2),
    currency        char(3)       NOT NULL DEFAULT 'CNY',
    message         text          NOT NULL,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (rule_key, listing_id, crossing_at)
);
CREATE INDEX alert_created_idx ON alert (created_at DESC);
CREATE INDEX alert_listing_idx ON alert (listing_id);

DO $$
BEGIN
    EXECUTE 'GRANT SELECT ON alert TO snapprice_reader';
END
$$;
