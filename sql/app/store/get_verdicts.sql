-- Cached pair verdicts of one verifier among a set of pictures (raw digests).
SELECT digest_a, digest_b, same, inliers, colour, agreement
FROM pair_verdict
WHERE verifier = :verifier
  AND digest_a = ANY(CAST(:digests AS bytea[]))
  AND digest_b = ANY(CAST(:digests AS bytea[]))
