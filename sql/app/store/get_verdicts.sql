-- Cached pair verdicts of one verifier (its key) among a set of pictures (raw digests).
SELECT v.digest_a, v.digest_b, v.same, v.inliers, v.colour, v.agreement
FROM pair_verdict AS v
JOIN pair_verifier AS k ON k.verifier = v.verifier
WHERE k.key = :verifier
  AND v.digest_a = ANY(CAST(:digests AS bytea[]))
  AND v.digest_b = ANY(CAST(:digests AS bytea[]))
