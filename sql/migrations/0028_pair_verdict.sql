-- Pair verdicts of the dedupe verifier (snapprice.dedupe.verdicts), cached by the unordered
-- pair of content digests (raw SHA-256, the smaller first) and `verifier`: the feature and
-- verdict versions and every threshold (verdicts.verifier_key()), so a change of any of them
-- reads none of the old rows. A daily run verifies only the pairs this table lacks.
-- Rows of an old verifier are dead weight: DELETE FROM pair_verdict WHERE verifier <> '…'.
CREATE TABLE IF NOT EXISTS pair_verdict (
    verifier  text    NOT NULL,
    digest_a  bytea   NOT NULL CHECK (octet_length(digest_a) = 32),
    digest_b  bytea   NOT NULL CHECK (octet_length(digest_b) = 32),
    same      boolean NOT NULL,
    inliers   integer NOT NULL,
    colour    real    NOT NULL,  -- L1 of the object colour histograms (0 … 2)
    agreement real,              -- the aligned check's worst cell; NULL where it did not run
    CHECK (digest_a < digest_b),
    PRIMARY KEY (verifier, digest_a, digest_b)
);
