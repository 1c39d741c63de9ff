-- A daily rollup per SKU and platform: the cheapest unflagged offer among the SKU's matched
-- listings on each local day. The report's charts and `sku_daily_price` read it instead of
-- every snapshot of the period (issue 17: the chart series was most of the report's time).
--
-- Kept right the way sku_window is (0012): price_snapshot's and match's own triggers list
-- the (SKU, day) pairs a write touched in sku_day_dirty, in the writer's transaction; the
-- end of every run recomputes those pairs (snapprice_refresh_days(), a probe of the primary
-- key per matched listing and day); until then readers compute them from the snapshots.
-- A new day zone empties the rollup (its days were cut in the old zone): readers compute
-- everything from the snapshots until the next run's end or `snapprice db refresh`.

CREATE TABLE sku_day (
    sku      text          NOT NULL,
    platform text          NOT NULL,
    day      date          NOT NULL,
    price    numeric(18,4) NOT NULL,
    currency text,
    PRIMARY KEY (sku, platform, day)
);
CREATE INDEX sku_day_day_idx ON sku_day (day);

CREATE TABLE sku_day_dirty (
    dirty_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku      text NOT NULL,
    day      date NOT NULL
);
CREATE INDEX sku_day_dirty_key_idx ON sku_day_dirty (sku, day);

-- One row once sku_day holds every day in the current zone.
CREATE TABLE sku_day_built (built_at timestamptz NOT NULL DEFAULT now());

-- Mark the (SKU, day) pairs of these (listing, day) pairs dirty: one per SKU matched to the listing.
CREATE FUNCTION snapprice_mark_days(ids bigint[], days date[]) RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO sku_day_dirty (sku, day)
    SELECT DISTINCT m.sku, t.day
    FROM unnest(ids, days) AS t (listing_id, day)
    JOIN match AS m ON m.listing_id = t.listing_id
    WHERE NOT EXISTS (SELECT 1 FROM sku_day_dirty AS d WHERE d.sku = m.sku AND d.day = t.day);
$fn$;

CREATE FUNCTION snapprice_snapshot_days() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids bigint[];
    days date[];
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT array_agg(listing_id), array_agg(day) INTO ids, days
        FROM (SELECT DISTINCT listing_id, snapprice_local_day(captured_at) AS day FROM old_rows) AS k;
    ELSE
        SELECT array_agg(listing_id), array_agg(day) INTO ids, days
        FROM (SELECT DISTINCT listing_id, snapprice_local_day(captured_at) AS day FROM new_rows) AS k;
    END IF;
    IF ids IS NOT NULL THEN
        PERFORM snapprice_mark_days(ids, days);
    END IF;
    RETURN NULL;
END
$fn$;

-- A match made or taken away changes its SKU on every day its listing has a snapshot.
CREATE FUNCTION snapprice_match_days() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO sku_day_dirty (sku, day)
    SELECT DISTINCT r.sku, snapprice_local_day(s.captured_at)
    FROM changed_rows AS r
    JOIN price_snapshot AS s ON s.listing_id = r.listing_id
    WHERE NOT EXISTS (SELECT 1 FROM sku_day_dirty AS d
                      WHERE d.sku = r.sku AND d.day = snapprice_local_day(s.captured_at));
    RETURN NULL;
END
$fn$;

CREATE TRIGGER snapprice_snapshot_days_inserted AFTER INSERT ON price_snapshot
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshot_days();
-- A flag set, a replay's rewrite: the new rows' days (an update keeps captured_at).
CREATE TRIGGER snapprice_snapshot_days_updated AFTER UPDATE ON price_snapshot
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshot_days();
CREATE TRIGGER snapprice_snapshot_days_deleted AFTER DELETE ON price_snapshot
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshot_days();
CREATE TRIGGER snapprice_match_days_inserted AFTER INSERT ON match
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_match_days();
CREATE TRIGGER snapprice_match_days_deleted AFTER DELETE ON match
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_match_days();

-- What sku_day holds for the (SKU, day) pairs given, computed from the snapshots.
CREATE FUNCTION snapprice_sku_days_of(skus text[], days date[])
RETURNS TABLE (sku text, platform text, day date, price numeric, currency text)
LANGUAGE sql STABLE AS $fn$
    SELECT k.sku, l.platform, k.day, min(effective_price(s.promo_price, s.price_low)), min(s.currency)
    FROM (SELECT DISTINCT * FROM unnest(skus, days) AS u (sku, day)) AS k
    JOIN match AS m ON m.sku = k.sku
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN price_snapshot AS s
      ON s.listing_id = m.listing_id
     AND s.captured_at >= snapprice_day_start(k.day) AND s.captured_at < snapprice_day_start(k.day + 1)
    WHERE coalesce(s.price_flag, 'ok') = 'ok'
    GROUP BY 1, 2, 3
$fn$;

-- Every (SKU, platform, day) computed from the snapshots: the rollup from scratch.
CREATE FUNCTION snapprice_sku_days_all()
RETURNS TABLE (sku text, platform text, day date, price numeric, currency text)
LANGUAGE sql STABLE AS $fn$
    SELECT m.sku, l.platform, (s.captured_at AT TIME ZONE (SELECT snapprice_day_zone()))::date,
           min(effective_price(s.promo_price, s.price_low)), min(s.currency)
    FROM price_snapshot AS s
    JOIN match AS m ON m.listing_id = s.listing_id
    JOIN listing AS l ON l.listing_id = s.listing_id
    WHERE coalesce(s.price_flag, 'ok') = 'ok'
    GROUP BY 1, 2, 3
$fn$;

-- Recompute the pairs written since the last refresh (everything: the whole rollup, also
-- when it is not built). Returns how many pairs it recomputed (-1: all).
CREATE FUNCTION snapprice_refresh_days(everything boolean DEFAULT false) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    seen bigint[];
    skus text[];
    days date[];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('snapprice.sku_day'));
    SELECT coalesce(array_agg(dirty_id), '{}') INTO seen FROM sku_day_dirty;
    IF everything OR NOT EXISTS (SELECT 1 FROM sku_day_built) THEN
        DELETE FROM sku_day;
        DELETE FROM sku_day_built;
        INSERT INTO sku_day SELECT * FROM snapprice_sku_days_all();
        INSERT INTO sku_day_built DEFAULT VALUES;
        DELETE FROM sku_day_dirty WHERE dirty_id = ANY (seen);
        ANALYZE sku_day, sku_day_dirty;
        RETURN -1;
    END IF;
    SELECT array_agg(sku), array_agg(day) INTO skus, days
    FROM (SELECT DISTINCT sku, day FROM sku_day_dirty WHERE dirty_id = ANY (seen)) AS k;
    IF skus IS NOT NULL THEN
        DELETE FROM sku_day AS d
        USING unnest(skus, days) AS k (sku, day)
        WHERE d.sku = k.sku AND d.day = k.day;
        INSERT INTO sku_day SELECT * FROM snapprice_sku_days_of(skus, days);
    END IF;
    DELETE FROM sku_day_dirty WHERE dirty_id = ANY (seen);
    -- Readers anti-join every stored day with this table: planned with stale statistics (a
    -- run's 10 k pairs, or the dead rows they leave) that join took 10 s instead of 1 s.
    ANALYZE sku_day_dirty;
    RETURN coalesce(array_length(skus, 1), 0);
END
$fn$;

-- Per SKU, platform and local day: the cheapest unflagged matched offer. Stored pairs that
-- were not written since the last refresh, the others computed now; everything computed
-- while the rollup is not built (a new zone, before the next refresh).
CREATE VIEW sku_daily_price AS
SELECT d.sku, d.platform, d.day, d.price AS min_price, d.currency
FROM sku_day AS d
WHERE EXISTS (SELECT 1 FROM sku_day_built)
  AND NOT EXISTS (SELECT 1 FROM sku_day_dirty AS x WHERE x.sku = d.sku AND x.day = d.day)
UNION ALL
-- (the pair's own columns, so that a filter on sku or day reaches the dirty pairs)
SELECT k.sku, f.platform, k.day, f.price, f.currency
FROM (SELECT DISTINCT x.sku, x.day FROM sku_day_dirty AS x) AS k
CROSS JOIN LATERAL snapprice_sku_days_of(ARRAY[k.sku], ARRAY[k.day]) AS f
WHERE EXISTS (SELECT 1 FROM sku_day_built)
UNION ALL
SELECT a.sku, a.platform, a.day, a.price, a.currency
FROM snapprice_sku_days_all() AS a
WHERE NOT EXISTS (SELECT 1 FROM sku_day_built);

-- `snapprice db refresh` and a new zone take the rollup along.
CREATE OR REPLACE FUNCTION snapprice_refresh() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('snapprice.refresh'));
    PERFORM snapprice_rebuild_listings(NULL);
    PERFORM snapprice_refresh_windows(true);
    PERFORM snapprice_refresh_days(true);
END
$fn$;

CREATE OR REPLACE FUNCTION snapprice_set_day_zone(zone text) RETURNS boolean
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM now() AT TIME ZONE zone;  -- an unknown zone is an error here
    IF zone = snapprice_day_zone() THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE OR REPLACE FUNCTION snapprice_day_zone() RETURNS text '
                   'LANGUAGE sql IMMUTABLE PARALLEL SAFE AS %L', format('SELECT %L::text', zone));
    DELETE FROM sku_window;
    DELETE FROM sku_window_day;
    DELETE FROM sku_day;
    DELETE FROM sku_day_built;
    DELETE FROM sku_day_dirty;
    RETURN true;
END
$fn$;

DO $$
BEGIN
    EXECUTE 'GRANT SELECT ON sku_day, sku_day_dirty, sku_day_built, sku_daily_price TO snapprice_reader';
    EXECUTE 'GRANT EXECUTE ON FUNCTION snapprice_sku_days_of(text[], date[]), snapprice_sku_days_all() '
            'TO snapprice_reader';
END
$$;

-- The history already stored.
DO $$ BEGIN PERFORM snapprice_refresh_days(true); END $$;
