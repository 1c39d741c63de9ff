-- Cached local features by content digest, of the current feature version only.
SELECT content_digest, data
FROM image_feature
WHERE content_digest = ANY(CAST(:digests AS text[]))
  AND feature_version = :version
