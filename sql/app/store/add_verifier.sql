-- The id of a verifier's key, added the first time verdicts are kept under it.
INSERT INTO pair_verifier (key) VALUES (:verifier)
ON CONFLICT (key) DO NOTHING
