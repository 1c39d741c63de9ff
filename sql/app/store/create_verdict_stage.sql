-- Pair verdicts COPYed in before they are merged into pair_verdict (put_verdicts.sql).
-- Temporary, so private to the connection; its rows go at commit.
CREATE TEMP TABLE IF NOT EXISTS pair_verdict_stage (
    digest_a  bytea,
    digest_b  bytea,
    same      boolean,
    inliers   integer,
    colour    real,
    agreement real
) ON COMMIT DELETE ROWS
