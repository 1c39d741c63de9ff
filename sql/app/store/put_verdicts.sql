-- Keep the staged verdicts; a pair already decided under this verifier stays as it is.
INSERT INTO pair_verdict (verifier, same, inliers, colour, agreement, digest_a, digest_b)
SELECT k.verifier, s.same, s.inliers, s.colour, s.agreement, s.digest_a, s.digest_b
FROM pair_verdict_stage AS s
CROSS JOIN pair_verifier AS k
WHERE k.key = :verifier
ON CONFLICT (verifier, digest_a, digest_b) DO NOTHING
