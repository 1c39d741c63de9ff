-- Cached perceptual hashes by content digest, of the current hash version only.
SELECT content_digest, phash, colour, width, height, nbytes, dup
FROM image_hash
WHERE content_digest = ANY(CAST(:digests AS text[]))
  AND hash_version = :version
