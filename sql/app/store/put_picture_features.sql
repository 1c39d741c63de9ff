-- Keep match-check features by content digest; features of one version never change.
INSERT INTO picture_feature (content_digest, feature_version, features)
SELECT x.digest, CAST(:version AS smallint), x.features
FROM unnest(CAST(:digests AS text[]), CAST(:features AS bytea[])) AS x(digest, features)
ON CONFLICT (content_digest, feature_version) DO NOTHING
