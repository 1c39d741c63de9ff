-- snapprice data contract, part 2: listings, monthly-partitioned price snapshots, matches.

CREATE TABLE listing (
    listing_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform    text        NOT NULL CHECK (platform <> ''),   -- marketplace: taobao, 1688, jd, ...
    item_id     text        NOT NULL CHECK (item_id <> ''),
    title       text,
    shop        text,
    url         text,
    pic_url     text,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    -- Informational run ids (no foreign key: the loader upserts these in bulk and a
    -- per-row trigger would halve its throughput; price_snapshot holds the real links).
    first_run_id bigint,
    last_run_id  bigint,
    UNIQUE (platform, item_id),
    CHECK (last_seen >= first_seen)
);

-- One row per (listing, run); captured_at is the real time the response was received.
-- The primary key carries captured_at because PostgreSQL requires the partition key in it;
-- in this column order it also serves "newest snapshots of a listing" scans;
-- the loader keeps (listing_id, run_id) unique under a per-run advisory lock.
CREATE TABLE price_snapshot (
    listing_id        bigint        NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    run_id            bigint        NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,
    captured_at       timestamptz   NOT NULL,
    price_low         numeric(18,4) CHECK (price_low >= 0),
    price_high        numeric(18,4) CHECK (price_high >= 0),
    promo_price       numeric(18,4) CHECK (promo_price >= 0),
    original_price    numeric(18,4) CHECK (original_price >= 0),
    currency          char(3)       NOT NULL DEFAULT 'CNY' CHECK (currency ~ '^[A-Z]{3}$'),
    sales_lower_bound bigint        CHECK (sales_lower_bound >= 0),
    sales_text        text,
    rank              integer       CHECK (rank >= 1),
    score             real          CHECK (score >= 0 AND score <= 1),
    cached            boolean       NOT NULL DEFAULT false,
    group_id          integer,
    raw_id            bigint,
    PRIMARY KEY (listing_id, captured_at, run_id),  -- also serves per-listing time series
    CHECK (price_low IS NULL OR price_high IS NULL OR price_high >= price_low),
    CHECK (price_low IS NOT NULL OR promo_price IS NOT NULL)
) PARTITION BY RANGE (captured_at);

CREATE TABLE price_snapshot_default PARTITION OF price_snapshot DEFAULT;
CREATE INDEX price_snapshot_captured_brin ON price_snapshot USING brin (captured_at);
CREATE INDEX price_snapshot_run_idx ON price_snapshot (run_id);

-- Creates the monthly partitions covering [from_ts, from_ts + months_ahead months] that do not
-- exist yet, moving any strays of those months out of the default partition first.
-- Returns how many partitions it created. Safe to call concurrently and repeatedly.
CREATE OR REPLACE FUNCTION snapprice_ensure_partitions(from_ts timestamptz, months_ahead integer DEFAULT 2)
RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    month_start timestamptz;
    month_end   timestamptz;
    part        text;
    created     integer := 0;
BEGIN
    -- Fast path without the lock: every partition asked for exists already.
    IF NOT EXISTS (
        SELECT 1 FROM generate_series(0, months_ahead) AS i
        WHERE to_regclass(quote_ident('price_snapshot_' || to_char(
            date_trunc('month', from_ts AT TIME ZONE 'UTC') + make_interval(months => i), 'YYYYMM'))) IS NULL
    ) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('snapprice_ensure_partitions'));
    FOR i IN 0..months_ahead LOOP
        month_start := date_trunc('month', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                       + make_interval(months => i);
        month_end := month_start + interval '1 month';
        part := 'price_snapshot_' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
        CONTINUE WHEN to_regclass(quote_ident(part)) IS NOT NULL;
        EXECUTE format('CREATE TABLE %I (LIKE price_snapshot INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM price_snapshot_default WHERE captured_at >= %L AND captured_at < %L RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved', month_start, month_end, part);
        EXECUTE format('ALTER TABLE price_snapshot ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       part, month_start, month_end);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;

DO $$ BEGIN PERFORM snapprice_ensure_partitions(now() - interval '1 month', 3); END $$;

CREATE TABLE match (
    sku          text        NOT NULL,
    listing_id   bigint      NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    best_score   real        CHECK (best_score >= 0 AND best_score <= 1),
    best_rank    integer     CHECK (best_rank >= 1),
    last_rank    integer     CHECK (last_rank >= 1),
    times_seen   integer     NOT NULL DEFAULT 1 CHECK (times_seen >= 1),
    first_run_id bigint,     -- informational, like listing's
    last_run_id  bigint,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (sku, listing_id)
);
CREATE INDEX match_listing_idx ON match (listing_id);
