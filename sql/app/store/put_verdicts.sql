-- Keep the staged verdicts; a pair already decided under this verifier stays as it is.
INSERT INTO pair_verdict (verifier, digest_a, digest_b, same, inliers, colour, agreement)
SELECT :verifier, digest_a, digest_b, same, inliers, colour, agreement
FROM pair_verdict_stage
ON CONFLICT (verifier, digest_a, digest_b) DO NOTHING
