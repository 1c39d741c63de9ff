-- The limiter's table, when it is not there yet: migration 0007 makes the default one; tests
-- and benchmarks give the limiter scratch tables of their own. UNLOGGED: the state of a rate
-- limit needs no WAL and no crash safety (an empty table just starts the budget afresh).
CREATE UNLOGGED TABLE IF NOT EXISTS {t} (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL,                        -- theoretical arrival time of the next call
    paused_until timestamptz NOT NULL DEFAULT 'epoch'  -- a ban announced by any process
)
