-- Cached match-check features of pictures (results and catalog images) by content digest.
SELECT content_digest, features
FROM picture_feature
WHERE content_digest = ANY(CAST(:digests AS text[])) AND feature_version = :version
