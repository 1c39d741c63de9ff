-- snapprice data contract: reviews that stick, and matches taken out of the current views.
--
-- match_decision: a person's word on one SKU ↔ listing pair, keyed by the marketplace's own
-- ids (platform, item_id) so that it holds before a listing is stored, after it is
-- re-created, and across re-runs, re-dedupes and re-matches. 'reject': the listing is never
-- again matched to the SKU (the loader skips the pair; an existing match moves to
-- match_retired). 'confirm': the pair is kept whatever a match check scores it.
CREATE TABLE match_decision (
    sku        text        NOT NULL CHECK (sku <> ''),
    platform   text        NOT NULL CHECK (platform <> ''),
    item_id    text        NOT NULL CHECK (item_id <> ''),
    decision   text        NOT NULL CHECK (decision IN ('reject', 'confirm')),
    note       text,
    source     text        NOT NULL DEFAULT 'cli',   -- 'cli', or the imported file's name
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sku, platform, item_id)
);

-- match_retired: matches that no longer count for their SKU, kept for history: a rejected
-- pair, or the matches of a SKU that the catalog dropped or gave another picture. The
-- current views read `match` only; a retired pair found again later is a new match.
CREATE TABLE match_retired (
    retired_id   bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku          text        NOT NULL,
    listing_id   bigint      NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    best_score   real,
    best_rank    integer,
    last_rank    integer,
    times_seen   integer     NOT NULL,
    first_run_id bigint,
    last_run_id  bigint,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    retired_at   timestamptz NOT NULL DEFAULT now(),
    reason       text        NOT NULL CHECK (reason IN ('rejected', 'sku_dropped', 'sku_reimaged'))
);
CREATE INDEX match_retired_sku_idx ON match_retired (sku, listing_id);
