-- Bait and outlier guard: each snapshot's price gets a flag when the run ends
-- (snapprice.flags; rules in docs/schema.md). NULL: not assessed yet (a run cut off before
-- its end; the next resume assesses it). The current views count 'ok' and NULL prices only.
ALTER TABLE price_snapshot ADD COLUMN price_flag text
    CHECK (price_flag IN ('ok', 'bait_title', 'suspect_low', 'suspect_high'));
