-- Pair verdicts of the dedupe verifier (snapprice.dedupe.verdicts), cached by the unordered
-- pair of content digests (raw SHA-256, the smaller first) and the verifier they were decided
-- under: `pair_verifier.key` names the feature and verdict versions and every threshold
-- (verdicts.verifier_key()), so a change of any of them reads none of the old rows. A daily
-- run verifies only the pairs this table lacks.
-- Rows of an old verifier are dead weight:
--   DELETE FROM pair_verdict WHERE verifier IN (SELECT verifier FROM pair_verifier WHERE key <> '…');
CREATE TABLE IF NOT EXISTS pair_verifier (
    verifier   smallint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key        text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- ~40 rows per picture (its candidate pairs): fixed-width columns first, so the row pads
-- least; the verifier is a 2-byte id (its key as text cost 65 bytes a row, twice with the
-- index). No foreign key to pair_verifier: a trigger per row would slow the bulk writes.
CREATE TABLE IF NOT EXISTS pair_verdict (
    verifier  smallint NOT NULL,
    same      boolean  NOT NULL,
    inliers   integer  NOT NULL,
    colour    real     NOT NULL,  -- L1 of the object colour histograms (0 … 2)
    agreement real,               -- the aligned check's worst cell; NULL where it did not run
    digest_a  bytea    NOT NULL CHECK (octet_length(digest_a) = 32),
    digest_b  bytea    NOT NULL CHECK (octet_length(digest_b) = 32),
    CHECK (digest_a < digest_b),
    PRIMARY KEY (verifier, digest_a, digest_b)
);
