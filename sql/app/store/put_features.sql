-- Local features of an image; the first ones stored for a digest and version stay.
INSERT INTO image_feature (content_digest, feature_version, data)
VALUES (:digest, :version, :data)
ON CONFLICT DO NOTHING
