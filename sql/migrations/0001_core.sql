-- snapprice data contract, part 1: runs, catalog, hashes, groups, search state, archive.
-- Public contract: names documented in docs/schema.md. Forward-only; never edit once released.

CREATE TABLE run (
    run_id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind                text        NOT NULL CHECK (kind IN ('scheduled', 'manual', 'backfill', 'demo')),
    status              text        NOT NULL DEFAULT 'running'
                                    CHECK (status IN ('running', 'succeeded', 'partial', 'failed')),
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    catalog             text,
    config_digest       text,
    prefect_flow_run_id uuid,
    slot                timestamptz,          -- scheduled slot a backfill run fills
    n_images            integer     NOT NULL DEFAULT 0 CHECK (n_images >= 0),
    n_groups            integer     NOT NULL DEFAULT 0 CHECK (n_groups >= 0),
    n_searches          integer     NOT NULL DEFAULT 0 CHECK (n_searches >= 0),
    n_snapshots         integer     NOT NULL DEFAULT 0 CHECK (n_snapshots >= 0),
    n_rejects           integer     NOT NULL DEFAULT 0 CHECK (n_rejects >= 0),
    message             text,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX run_status_idx ON run (status, started_at DESC);

CREATE TABLE catalog_item (
    catalog_item_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku             text        NOT NULL CHECK (sku <> ''),
    image_ref       text        NOT NULL CHECK (image_ref <> ''),
    title           text,
    cat             text,
    content_digest  text        CHECK (content_digest ~ '^[0-9a-f]{64}$'),
    extra           jsonb,
    first_seen      timestamptz NOT NULL DEFAULT now(),
    last_seen       timestamptz NOT NULL DEFAULT now(),
    last_run_id     bigint      REFERENCES run (run_id) ON DELETE SET NULL,
    UNIQUE (sku, image_ref)
);
CREATE INDEX catalog_item_digest_idx ON catalog_item (content_digest);

CREATE TABLE image_hash (
    content_digest text        NOT NULL CHECK (content_digest ~ '^[0-9a-f]{64}$'),
    hash_version   integer     NOT NULL,        -- snapprice.hashing.HASH_VERSION that made it
    phash          bigint      NOT NULL,        -- 64-bit pHash stored as signed bigint
    colour         bigint,                      -- optional second signal
    width          integer     NOT NULL CHECK (width > 0),
    height         integer     NOT NULL CHECK (height > 0),
    nbytes         bigint      NOT NULL CHECK (nbytes > 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (content_digest, hash_version)
);

CREATE TABLE image_group (
    run_id            bigint  NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    group_id          integer NOT NULL CHECK (group_id >= 0),
    representative_id bigint  NOT NULL REFERENCES catalog_item (catalog_item_id),
    representative_digest text NOT NULL,
    n_members         integer NOT NULL CHECK (n_members >= 1),
    PRIMARY KEY (run_id, group_id)
);

CREATE TABLE image_group_member (
    run_id          bigint  NOT NULL,
    group_id        integer NOT NULL,
    catalog_item_id bigint  NOT NULL REFERENCES catalog_item (catalog_item_id),
    distance        integer NOT NULL DEFAULT 0 CHECK (distance >= 0),
    PRIMARY KEY (run_id, catalog_item_id),
    FOREIGN KEY (run_id, group_id) REFERENCES image_group (run_id, group_id) ON DELETE CASCADE
);
CREATE INDEX image_group_member_group_idx ON image_group_member (run_id, group_id);

CREATE TABLE search_task (
    run_id      bigint      NOT NULL,
    group_id    integer     NOT NULL,
    platform    text        NOT NULL,   -- configured platform (route/account) name
    page        integer     NOT NULL CHECK (page >= 1),
    status      text        NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    n_items     integer     CHECK (n_items >= 0),
    has_more    boolean,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, group_id, platform, page),
    FOREIGN KEY (run_id, group_id) REFERENCES image_group (run_id, group_id) ON DELETE CASCADE
);
CREATE INDEX search_task_open_idx ON search_task (run_id, status) WHERE status = 'pending';

CREATE TABLE raw_response (
    raw_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       bigint      NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    group_id     integer     NOT NULL,
    platform     text        NOT NULL,
    marketplace  text        NOT NULL,
    protocol     text        NOT NULL,
    page         integer     NOT NULL CHECK (page >= 1),
    requested_at timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    http_status  integer     NOT NULL,
    cached       boolean     NOT NULL DEFAULT false,
    quota        text,
    request      jsonb       NOT NULL,   -- redacted: never holds a key, secret or signature
    body         jsonb       NOT NULL,   -- exactly as received (secrets echoed back are redacted)
    UNIQUE (run_id, group_id, platform, page)
);
CREATE INDEX raw_response_received_idx ON raw_response (received_at);

CREATE TABLE reject (
    reject_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     bigint      REFERENCES run (run_id) ON DELETE CASCADE,
    stage      text        NOT NULL CHECK (stage <> ''),
    source     text        NOT NULL,
    reason     text        NOT NULL CHECK (reason <> ''),
    detail     text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- One row per refused thing per run: a resumed run does not record it twice.
CREATE UNIQUE INDEX reject_once_idx ON reject (coalesce(run_id, 0), stage, source, reason);
