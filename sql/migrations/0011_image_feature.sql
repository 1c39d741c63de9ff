-- Local features of an image (snapprice.dedupe.local: ORB keypoints and the object's colour
-- histogram), computed only for images that have hash candidates and cached by content digest,
-- so a daily run pays only for new pictures. feature_version is local.LOCAL_VERSION.
CREATE TABLE IF NOT EXISTS image_feature (
    content_digest  text        NOT NULL CHECK (content_digest ~ '^[0-9a-f]{64}$'),
    feature_version integer     NOT NULL,
    data            bytea       NOT NULL CHECK (octet_length(data) <= 65536),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_digest, feature_version)
);

-- The grouping rule that made a run's groups (snapprice.dedupe.grouping.DEDUPE_VERSION).
-- NULL: groups stored before this migration, which could chain different products into one
-- group; `snapprice db forget-matches --before-version 2` removes what they matched.
ALTER TABLE image_group ADD COLUMN IF NOT EXISTS dedupe_version integer;
