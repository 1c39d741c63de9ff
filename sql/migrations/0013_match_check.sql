-- Per-SKU match checks (issue 16, item 5): each search result's picture is scored against
-- each SKU's own picture in the searched group; `match` holds a (sku, listing) pair only
-- where that SKU's own check passed (or when checks are off). Every verdict, passing or
-- not, is kept in match_check; result pictures are cached by URL and content digest.

-- The newest verdict of each (sku, listing) pair.
CREATE TABLE match_check (
    sku             text        NOT NULL,
    listing_id      bigint      NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    -- match: passed, `match` row kept; rejected: the picture shows something else, no `match`
    -- row; unverified: the picture (or the SKU's own) could not be had within its limits.
    status          text        NOT NULL CHECK (status IN ('match', 'rejected', 'unverified')),
    score           real        CHECK (score >= 0 AND score <= 1),  -- NULL when unverified
    reason          text,       -- why unverified: timeout, too_large, pixel_bomb, not_an_image, …
    picture_digest  text,       -- sha256 of the result picture's bytes
    feature_version smallint,
    run_id          bigint,
    checked_at      timestamptz NOT NULL,
    PRIMARY KEY (sku, listing_id),
    CHECK ((status = 'unverified') = (score IS NULL))
);
CREATE INDEX match_check_listing_idx ON match_check (listing_id);

-- Result picture URL → the digest of what it served; reused across runs (a URL older than
-- [match_check] cache_days is fetched again).
CREATE TABLE picture_url (
    url            text        PRIMARY KEY,
    content_digest text        NOT NULL,
    fetched_at     timestamptz NOT NULL
);

-- Match-check features by content digest (result pictures and catalog images alike).
CREATE TABLE picture_feature (
    content_digest  text     NOT NULL,
    feature_version smallint NOT NULL,
    features        bytea    NOT NULL CHECK (octet_length(features) <= 65536),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_digest, feature_version)
);
