-- State of the shared per-platform rate limiter (search.limiter = "postgres"): one row per
-- budget key; tat = theoretical arrival time of the next call (GCRA), paused_until = ban end.
-- UNLOGGED: limiter state needs no WAL and no crash recovery.
CREATE UNLOGGED TABLE IF NOT EXISTS snapprice_rate_limit (
    key          text        PRIMARY KEY,
    tat          timestamptz NOT NULL,
    paused_until timestamptz NOT NULL DEFAULT 'epoch'
);
