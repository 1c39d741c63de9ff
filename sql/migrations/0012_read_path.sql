-- snapprice data contract, part 12: the read path. The views answer one SKU or listing in
-- milliseconds and all of them in well under a second after a year of daily runs, because
-- they read tables that price_snapshot's own triggers keep in the same transaction as the
-- snapshots (whoever writes them: the loader, a replay, a bulk COPY), never all history.
--
-- * listing_current: each listing's newest snapshot (latest_price, sku_best_price).
-- * listing_change:  each snapshot whose effective price differs from the listing's previous
--                    one (price_change).
-- * sku_window:      sku_window_stats as of today and tomorrow, computed by
--                    snapprice_refresh_windows() (at the end of every run, and by
--                    `snapprice db refresh`); SKUs with snapshots or matches written since are
--                    listed in sku_window_dirty and computed on read until the next refresh.
-- snapprice_refresh() rebuilds all of it from price_snapshot (`snapprice db refresh`): for
-- history written with the triggers off (session_replication_role = replica, a restore).
--
-- Days are the user's days: daily_price, the window statistics and the alert rules' N-day
-- windows cut days in snapprice_day_zone(): the [report] timezone, which snapprice sets with
-- snapprice_set_day_zone() whenever it opens the database (UTC until then).

-- The zone is the function's constant body, rewritten by snapprice_set_day_zone(): the
-- planner folds it into every query (a day costs one AT TIME ZONE per row, not a lookup),
-- and redefining it invalidates the plans that folded the old one.
CREATE FUNCTION snapprice_day_zone() RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$ SELECT 'UTC'::text $fn$;

-- The local day of a time, and the time a local day starts.
CREATE FUNCTION snapprice_local_day(at timestamptz) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$ SELECT (at AT TIME ZONE snapprice_day_zone())::date $fn$;

CREATE FUNCTION snapprice_day_start(day date) RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$ SELECT day::timestamp AT TIME ZONE snapprice_day_zone() $fn$;

CREATE FUNCTION snapprice_today() RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$ SELECT snapprice_local_day(now()) $fn$;

-- One row per listing: its newest snapshot (by captured_at, then run_id).
CREATE TABLE listing_current (
    listing_id        bigint        PRIMARY KEY REFERENCES listing (listing_id) ON DELETE CASCADE,
    run_id            bigint        NOT NULL,
    captured_at       timestamptz   NOT NULL,
    price_low         numeric(18,4),
    price_high        numeric(18,4),
    promo_price       numeric(18,4),
    currency          char(3)       NOT NULL,
    sales_lower_bound bigint,
    sales_text        text,
    rank              integer,
    score             real
) WITH (fillfactor = 80);  -- room for HOT updates: every run rewrites every row

-- One row per snapshot whose effective price differs from the listing's snapshot before it.
CREATE TABLE listing_change (
    listing_id       bigint        NOT NULL REFERENCES listing (listing_id) ON DELETE CASCADE,
    captured_at      timestamptz   NOT NULL,
    run_id           bigint        NOT NULL,
    prev_captured_at timestamptz   NOT NULL,
    prev_price       numeric       NOT NULL,
    price            numeric(18,4) NOT NULL,
    currency         char(3)       NOT NULL,
    PRIMARY KEY (listing_id, captured_at, run_id)
);
CREATE INDEX listing_change_captured_idx ON listing_change (captured_at);

-- SKUs whose window statistics changed since sku_window was computed.
CREATE TABLE sku_window_dirty (
    dirty_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku      text NOT NULL
);
CREATE INDEX sku_window_dirty_sku_idx ON sku_window_dirty (sku);

-- The days sku_window holds every SKU for.
CREATE TABLE sku_window_day (as_of_day date PRIMARY KEY);

-- Rebuild listing_current and listing_change of some listings (NULL: all) from price_snapshot.
CREATE FUNCTION snapprice_rebuild_listings(ids bigint[] DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    IF ids IS NULL THEN
        DELETE FROM listing_current;
        DELETE FROM listing_change;
        INSERT INTO listing_current
        SELECT DISTINCT ON (s.listing_id) s.listing_id, s.run_id, s.captured_at, s.price_low, s.price_high,
               s.promo_price, s.currency, s.sales_lower_bound, s.sales_text, s.rank, s.score
        FROM price_snapshot AS s
        ORDER BY s.listing_id, s.captured_at DESC, s.run_id DESC;
    ELSE
        DELETE FROM listing_current WHERE listing_id = ANY (ids);
        DELETE FROM listing_change WHERE listing_id = ANY (ids);
        INSERT INTO listing_current
        SELECT s.listing_id, s.run_id, s.captured_at, s.price_low, s.price_high, s.promo_price, s.currency,
               s.sales_lower_bound, s.sales_text, s.rank, s.score
        FROM unnest(ids) AS i(id)
        CROSS JOIN LATERAL (
            SELECT * FROM price_snapshot AS p WHERE p.listing_id = i.id
            ORDER BY p.captured_at DESC, p.run_id DESC LIMIT 1
        ) AS s;
    END IF;
    INSERT INTO listing_change (listing_id, captured_at, run_id, prev_captured_at, prev_price, price, currency)
    SELECT listing_id, captured_at, run_id, prev_at, prev_price, price, currency
    FROM (
        SELECT s.listing_id, s.captured_at, s.run_id, s.currency,
               CAST(effective_price(s.promo_price, s.price_low) AS numeric(18,4)) AS price,
               lag(effective_price(s.promo_price, s.price_low)) OVER w AS prev_price,
               lag(s.captured_at) OVER w AS prev_at
        FROM price_snapshot AS s
        WHERE ids IS NULL OR s.listing_id = ANY (ids)
        WINDOW w AS (PARTITION BY s.listing_id ORDER BY s.captured_at, s.run_id)
    ) AS t
    WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;
END
$fn$;

-- Snapshots inserted: in-order ones (newer than the listing's current snapshot) extend its
-- changes and replace it; a listing that got an older snapshot is rebuilt from its history.
CREATE FUNCTION snapprice_snapshots_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    late bigint[];
BEGIN
    SELECT array_agg(DISTINCT n.listing_id) INTO late
    FROM new_rows AS n JOIN listing_current AS c USING (listing_id)
    WHERE (n.captured_at, n.run_id) <= (c.captured_at, c.run_id);

    INSERT INTO listing_change (listing_id, captured_at, run_id, prev_captured_at, prev_price, price, currency)
    SELECT listing_id, captured_at, run_id, prev_at, prev_price, price, currency
    FROM (
        SELECT q.*, lag(q.price) OVER w AS prev_price, lag(q.captured_at) OVER w AS prev_at
        FROM (
            SELECT n.listing_id, n.captured_at, n.run_id, n.currency, false AS known,
                   CAST(effective_price(n.promo_price, n.price_low) AS numeric(18,4)) AS price
            FROM new_rows AS n
            WHERE late IS NULL OR n.listing_id <> ALL (late)
            UNION ALL
            SELECT c.listing_id, c.captured_at, c.run_id, c.currency, true,
                   CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4))
            FROM listing_current AS c
            WHERE c.listing_id IN (SELECT listing_id FROM new_rows)
              AND (late IS NULL OR c.listing_id <> ALL (late))
        ) AS q
        WINDOW w AS (PARTITION BY q.listing_id ORDER BY q.captured_at, q.run_id)
    ) AS t
    WHERE NOT known AND prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;

    INSERT INTO listing_current AS c
    SELECT DISTINCT ON (n.listing_id) n.listing_id, n.run_id, n.captured_at, n.price_low, n.price_high,
           n.promo_price, n.currency, n.sales_lower_bound, n.sales_text, n.rank, n.score
    FROM new_rows AS n
    WHERE late IS NULL OR n.listing_id <> ALL (late)
    ORDER BY n.listing_id, n.captured_at DESC, n.run_id DESC
    ON CONFLICT (listing_id) DO UPDATE
    SET run_id = excluded.run_id, captured_at = excluded.captured_at, price_low = excluded.price_low,
        price_high = excluded.price_high, promo_price = excluded.promo_price, currency = excluded.currency,
        sales_lower_bound = excluded.sales_lower_bound, sales_text = excluded.sales_text,
        rank = excluded.rank, score = excluded.score
    WHERE (excluded.captured_at, excluded.run_id) > (c.captured_at, c.run_id);

    IF late IS NOT NULL THEN
        PERFORM snapprice_rebuild_listings(late);
    END IF;

    INSERT INTO sku_window_dirty (sku)
    SELECT DISTINCT m.sku FROM match AS m
    WHERE m.listing_id IN (SELECT listing_id FROM new_rows)
      AND NOT EXISTS (SELECT 1 FROM sku_window_dirty AS d WHERE d.sku = m.sku);
    RETURN NULL;
END
$fn$;

-- Snapshots rewritten (a replay after a parser fix) or deleted: rebuild their listings.
CREATE FUNCTION snapprice_snapshots_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    ids bigint[];
BEGIN
    SELECT array_agg(DISTINCT listing_id) INTO ids FROM old_rows;
    IF ids IS NOT NULL THEN
        PERFORM snapprice_rebuild_listings(ids);
        INSERT INTO sku_window_dirty (sku)
        SELECT DISTINCT m.sku FROM match AS m
        WHERE m.listing_id = ANY (ids)
          AND NOT EXISTS (SELECT 1 FROM sku_window_dirty AS d WHERE d.sku = m.sku);
    END IF;
    RETURN NULL;
END
$fn$;

-- A listing matched to a SKU (or no longer) changes the SKU's series.
CREATE FUNCTION snapprice_matches_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO sku_window_dirty (sku)
    SELECT DISTINCT r.sku FROM changed_rows AS r
    WHERE NOT EXISTS (SELECT 1 FROM sku_window_dirty AS d WHERE d.sku = r.sku);
    RETURN NULL;
END
$fn$;

CREATE TRIGGER snapprice_snapshots_inserted AFTER INSERT ON price_snapshot
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshots_inserted();
CREATE TRIGGER snapprice_snapshots_updated AFTER UPDATE ON price_snapshot
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshots_changed();
CREATE TRIGGER snapprice_snapshots_deleted AFTER DELETE ON price_snapshot
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_snapshots_changed();
CREATE TRIGGER snapprice_matches_inserted AFTER INSERT ON match
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_matches_changed();
CREATE TRIGGER snapprice_matches_deleted AFTER DELETE ON match
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION snapprice_matches_changed();

-- The views, on the tables above; same names, columns and types (docs/schema.md).
CREATE OR REPLACE VIEW latest_price AS
SELECT l.listing_id, l.platform, l.item_id, l.title, l.shop, l.url, c.run_id, c.captured_at,
       c.price_low, c.price_high, c.promo_price,
       CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
       c.currency, c.sales_lower_bound, c.sales_text, c.rank, c.score
FROM listing_current AS c
JOIN listing AS l USING (listing_id);

-- Per listing and local day (snapprice_day_zone()): min / max / average / last effective price.
-- A filter on listing_id reaches price_snapshot's primary key.
CREATE OR REPLACE VIEW daily_price AS
SELECT
    l.listing_id,
    l.platform,
    l.item_id,
    snapprice_local_day(s.captured_at)                                                  AS day,
    min(effective_price(s.promo_price, s.price_low))                                    AS min_price,
    max(effective_price(s.promo_price, s.price_low))                                    AS max_price,
    round(avg(effective_price(s.promo_price, s.price_low)), 2)                          AS avg_price,
    (array_agg(effective_price(s.promo_price, s.price_low) ORDER BY s.captured_at DESC))[1] AS last_price,
    max(s.sales_lower_bound)                                                            AS sales_lower_bound,
    count(*)                                                                            AS n_snapshots,
    min(s.currency)                                                                     AS currency
FROM price_snapshot AS s
JOIN listing AS l USING (listing_id)
GROUP BY l.listing_id, l.platform, l.item_id, snapprice_local_day(s.captured_at);

-- Per SKU and marketplace: the cheapest listing among the SKU's matches in the newest run
-- that returned any of them. A listing's newest snapshot is its snapshot of the newest run
-- that returned it, so the run and its offers are read from listing_current.
CREATE OR REPLACE VIEW sku_best_price AS
SELECT DISTINCT ON (t.sku, t.platform)
    t.sku, t.platform, t.listing_id, t.item_id, t.title, t.shop, t.url,
    t.effective_price, t.price_low, t.promo_price, t.currency, t.sales_lower_bound,
    t.score, t.run_id, t.captured_at
FROM (
    SELECT m.sku, l.platform, m.listing_id, l.item_id, l.title, l.shop, l.url,
           CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
           c.price_low, c.promo_price, c.currency, c.sales_lower_bound, m.best_score AS score,
           c.run_id, c.captured_at,
           max(c.run_id) OVER (PARTITION BY m.sku, l.platform) AS newest_run
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN listing_current AS c ON c.listing_id = m.listing_id
) AS t
WHERE t.run_id = t.newest_run
ORDER BY t.sku, t.platform, t.effective_price ASC, t.listing_id;

CREATE OR REPLACE VIEW price_change AS
SELECT c.listing_id, l.platform, l.item_id, l.title, c.currency,
       c.prev_captured_at, c.captured_at, c.prev_price, c.price,
       c.price - c.prev_price AS change,
       CASE WHEN c.prev_price > 0 THEN round(100 * (c.price - c.prev_price) / c.prev_price, 2) END AS change_pct
FROM listing_change AS c
JOIN listing AS l USING (listing_id);

-- Window statistics (meaning: 0005_window_stats.sql), now in local days, with
-- days_with_data on the SKU rows. Each body is written once and made into two functions:
-- every key at once (snapprice_*_window_stats(as_of)), and one key
-- (snapprice_*_window_of(key, as_of), which reads only that key's snapshots by index).
DROP VIEW listing_window_stats;
DROP VIEW sku_window_stats;
DROP FUNCTION snapprice_listing_window_stats(date);
DROP FUNCTION snapprice_sku_window_stats(date);

DO $do$
DECLARE
    listing_cols text := $c$
    listing_id bigint, as_of_day date, captured_at timestamptz, run_id bigint,
    current_price numeric, currency text,
    low_30 numeric, high_30 numeric, avg_30 numeric, days_30 integer,
    pct_vs_avg_30 numeric, is_lowest_30 boolean, is_new_low_30 boolean,
    low_90 numeric, high_90 numeric, avg_90 numeric, days_90 integer,
    pct_vs_avg_90 numeric, is_lowest_90 boolean, is_new_low_90 boolean,
    low_180 numeric, high_180 numeric, avg_180 numeric, days_180 integer,
    pct_vs_avg_180 numeric, is_lowest_180 boolean, is_new_low_180 boolean$c$;
    sku_cols text := $c$
    sku text, platform text, as_of_day date, captured_at timestamptz, run_id bigint,
    current_price numeric, currency text,
    low_30 numeric, high_30 numeric, avg_30 numeric, days_30 integer,
    pct_vs_avg_30 numeric, is_lowest_30 boolean, is_new_low_30 boolean,
    low_90 numeric, high_90 numeric, avg_90 numeric, days_90 integer,
    pct_vs_avg_90 numeric, is_lowest_90 boolean, is_new_low_90 boolean,
    low_180 numeric, high_180 numeric, avg_180 numeric, days_180 integer,
    pct_vs_avg_180 numeric, is_lowest_180 boolean, is_new_low_180 boolean,
    days_with_data integer$c$;
    -- The statistics of `keyed` (k, run_id, captured_at, currency, day, price) as of as_of;
    -- {key} are the key's output columns of `cur`.
    stats text := $s$
), cur AS (
    SELECT DISTINCT ON (k) *
    FROM keyed ORDER BY k, captured_at DESC, run_id DESC
), daily AS (
    SELECT k, day, min(price) AS dmin, max(price) AS dmax, avg(price) AS davg
    FROM keyed GROUP BY k, day
), win AS (
    SELECT k,
        min(dmin) FILTER (WHERE day > as_of - 30) AS low_30,
        max(dmax) FILTER (WHERE day > as_of - 30) AS high_30,
        round(avg(davg) FILTER (WHERE day > as_of - 30), 2) AS avg_30,
        count(*) FILTER (WHERE day > as_of - 30)::integer AS days_30,
        min(dmin) FILTER (WHERE day > as_of - 90) AS low_90,
        max(dmax) FILTER (WHERE day > as_of - 90) AS high_90,
        round(avg(davg) FILTER (WHERE day > as_of - 90), 2) AS avg_90,
        count(*) FILTER (WHERE day > as_of - 90)::integer AS days_90,
        min(dmin) AS low_180, max(dmax) AS high_180, round(avg(davg), 2) AS avg_180,
        count(*)::integer AS days_180
    FROM daily GROUP BY k
), prior AS (
    SELECT kd.k,
        min(kd.price) FILTER (WHERE kd.day > as_of - 30) AS prior_30,
        min(kd.price) FILTER (WHERE kd.day > as_of - 90) AS prior_90,
        min(kd.price) AS prior_180
    FROM keyed AS kd JOIN cur AS c ON c.k = kd.k AND kd.captured_at < c.captured_at
    GROUP BY kd.k
)
SELECT {key}, as_of, c.captured_at, c.run_id, c.price, c.currency,
    w.low_30, w.high_30, w.avg_30, w.days_30,
    CASE WHEN w.avg_30 > 0 THEN round(100 * (c.price - w.avg_30) / w.avg_30, 2) END,
    w.days_30 > 0 AND c.price <= w.low_30, coalesce(c.price < p.prior_30, false),
    w.low_90, w.high_90, w.avg_90, w.days_90,
    CASE WHEN w.avg_90 > 0 THEN round(100 * (c.price - w.avg_90) / w.avg_90, 2) END,
    w.days_90 > 0 AND c.price <= w.low_90, coalesce(c.price < p.prior_90, false),
    w.low_180, w.high_180, w.avg_180, w.days_180,
    CASE WHEN w.avg_180 > 0 THEN round(100 * (c.price - w.avg_180) / w.avg_180, 2) END,
    c.price <= w.low_180, coalesce(c.price < p.prior_180, false){extra}
FROM cur AS c JOIN win AS w USING (k) LEFT JOIN prior AS p USING (k)
$s$;
    listing_keyed text := $s$
WITH keyed AS (
    SELECT s.listing_id AS k, s.run_id, s.captured_at, s.currency::text AS currency,
           snapprice_local_day(s.captured_at) AS day, effective_price(s.promo_price, s.price_low) AS price
    FROM price_snapshot AS s
    WHERE {filter}
      AND s.captured_at >= snapprice_day_start(as_of - 179)
      AND s.captured_at < snapprice_day_start(as_of + 1)
$s$;
    -- SKU level: one point per run, the cheapest matched offer of that run, per (sku,
    -- platform) and across platforms (platform NULL).
    sku_keyed text := $s$
WITH matched AS (
    SELECT m.sku, l.platform, s.run_id, s.captured_at, s.currency::text AS currency,
           effective_price(s.promo_price, s.price_low) AS price
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN price_snapshot AS s ON s.listing_id = m.listing_id
    WHERE {filter}
      AND s.captured_at >= snapprice_day_start(as_of - 179)
      AND s.captured_at < snapprice_day_start(as_of + 1)
), snap AS (
    SELECT sku, platform, run_id, max(captured_at) AS captured_at, min(currency) AS currency,
           min(price) AS price
    FROM matched GROUP BY GROUPING SETS ((sku, platform, run_id), (sku, run_id))
), keyed AS (
    SELECT sku || chr(31) || coalesce(platform, '') AS k, sku, platform, run_id, captured_at, currency,
           snapprice_local_day(captured_at) AS day, price
    FROM snap
$s$;
    one_key text := E'#variable_conflict use_column\nBEGIN\nRETURN QUERY %s;\nEND';
    listing_body text := listing_keyed || replace(replace(stats, '{key}', 'c.k'), '{extra}', '');
    sku_body text := sku_keyed || replace(replace(stats, '{key}', 'c.sku, c.platform'), '{extra}',
        ', max(w.days_180) FILTER (WHERE c.platform IS NULL) OVER (PARTITION BY c.sku)');
BEGIN
    EXECUTE format('CREATE FUNCTION snapprice_listing_window_stats(as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE sql STABLE AS %L',
                   listing_cols, replace(listing_body, '{filter}', 'true'));
    -- The one-key functions are PL/pgSQL: never inlined into a view's plan (which would grow
    -- big enough for JIT), and their plan is kept by the session (planning it costs ten
    -- times running it); a view calls them for the keys its filter leaves.
    EXECUTE format('CREATE FUNCTION snapprice_listing_window_of(p_key bigint, as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE plpgsql STABLE ROWS 1 SET jit = off AS %L',
                   listing_cols, format(one_key, replace(listing_body, '{filter}', 's.listing_id = p_key')));
    EXECUTE format('CREATE FUNCTION snapprice_sku_window_stats(as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE sql STABLE AS %L',
                   sku_cols, replace(sku_body, '{filter}', 'true'));
    EXECUTE format('CREATE FUNCTION snapprice_sku_window_of(p_key text, as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE plpgsql STABLE ROWS 5 SET jit = off AS %L',
                   sku_cols, format(one_key, replace(sku_body, '{filter}', 'm.sku = p_key')));
END
$do$;

-- SKU window statistics as of days in sku_window_day (today and tomorrow, from the last refresh).
CREATE TABLE sku_window AS SELECT * FROM snapprice_sku_window_stats() WITH NO DATA;
CREATE INDEX sku_window_day_sku_idx ON sku_window (as_of_day, sku);

-- Recompute sku_window as of today and tomorrow: only the dirty SKUs when it holds those
-- days already and few SKUs are dirty, else every SKU. Returns how many SKUs it computed
-- (-1: all). A SKU written while it runs stays dirty (it is computed on read until the next).
CREATE FUNCTION snapprice_refresh_windows(everything boolean DEFAULT false) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    today date := snapprice_today();
    seen bigint[];
    n integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('snapprice.refresh_windows'));
    SELECT coalesce(array_agg(dirty_id), '{}') INTO seen FROM sku_window_dirty;
    SELECT count(DISTINCT sku) INTO n FROM sku_window_dirty WHERE dirty_id = ANY (seen);
    IF everything
       OR (SELECT count(*) FROM sku_window_day WHERE as_of_day IN (today, today + 1)) < 2
       OR n > 1000 AND n > (SELECT count(*) FROM (SELECT DISTINCT sku FROM match) AS k) / 10 THEN
        DELETE FROM sku_window;
        DELETE FROM sku_window_day;
        INSERT INTO sku_window SELECT * FROM snapprice_sku_window_stats(today);
        INSERT INTO sku_window SELECT * FROM snapprice_sku_window_stats(today + 1);
        INSERT INTO sku_window_day VALUES (today), (today + 1);
        n := -1;
    ELSE
        DELETE FROM sku_window AS w
        WHERE w.sku IN (SELECT sku FROM sku_window_dirty WHERE dirty_id = ANY (seen));
        INSERT INTO sku_window
        SELECT f.*
        FROM (SELECT DISTINCT sku FROM sku_window_dirty WHERE dirty_id = ANY (seen)) AS k
        CROSS JOIN LATERAL (
            SELECT * FROM snapprice_sku_window_of(k.sku, today)
            UNION ALL
            SELECT * FROM snapprice_sku_window_of(k.sku, today + 1)
        ) AS f;
        DELETE FROM sku_window WHERE as_of_day < today;
        DELETE FROM sku_window_day WHERE as_of_day < today;
    END IF;
    DELETE FROM sku_window_dirty WHERE dirty_id = ANY (seen);
    RETURN n;
END
$fn$;

-- Everything this migration keeps, rebuilt from price_snapshot (`snapprice db refresh`).
CREATE FUNCTION snapprice_refresh() RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('snapprice.refresh'));
    PERFORM snapprice_rebuild_listings(NULL);
    PERFORM snapprice_refresh_windows(true);
END
$fn$;

-- Use another time zone for days: the windows computed in the old one go.
CREATE FUNCTION snapprice_set_day_zone(zone text) RETURNS boolean
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
    RETURN true;
END
$fn$;

CREATE VIEW listing_window_stats AS
SELECT l.platform, l.item_id, l.title, l.shop, l.listing_id, w.as_of_day, w.captured_at, w.run_id,
       w.current_price, w.currency, w.low_30, w.high_30, w.avg_30, w.days_30, w.pct_vs_avg_30, w.is_lowest_30, w.is_new_low_30, w.low_90, w.high_90, w.avg_90, w.days_90, w.pct_vs_avg_90, w.is_lowest_90, w.is_new_low_90, w.low_180, w.high_180, w.avg_180, w.days_180, w.pct_vs_avg_180, w.is_lowest_180, w.is_new_low_180
FROM listing AS l
CROSS JOIN LATERAL snapprice_listing_window_of(l.listing_id, snapprice_today()) AS w;

-- As of today: the stored rows of the SKUs not written since, the others computed now.
CREATE VIEW sku_window_stats AS
SELECT w.*
FROM sku_window AS w
WHERE w.as_of_day = snapprice_today()
  AND EXISTS (SELECT 1 FROM sku_window_day AS d WHERE d.as_of_day = snapprice_today())
  AND NOT EXISTS (SELECT 1 FROM sku_window_dirty AS x WHERE x.sku = w.sku)
UNION ALL
SELECT k.sku, f.platform, f.as_of_day, f.captured_at, f.run_id, f.current_price, f.currency, f.low_30, f.high_30, f.avg_30, f.days_30, f.pct_vs_avg_30, f.is_lowest_30, f.is_new_low_30, f.low_90, f.high_90, f.avg_90, f.days_90, f.pct_vs_avg_90, f.is_lowest_90, f.is_new_low_90, f.low_180, f.high_180, f.avg_180, f.days_180, f.pct_vs_avg_180, f.is_lowest_180, f.is_new_low_180, f.days_with_data
FROM (SELECT DISTINCT x.sku FROM sku_window_dirty AS x) AS k
CROSS JOIN LATERAL snapprice_sku_window_of(k.sku, snapprice_today()) AS f
WHERE EXISTS (SELECT 1 FROM sku_window_day AS d WHERE d.as_of_day = snapprice_today())
UNION ALL
SELECT k.sku, f.platform, f.as_of_day, f.captured_at, f.run_id, f.current_price, f.currency, f.low_30, f.high_30, f.avg_30, f.days_30, f.pct_vs_avg_30, f.is_lowest_30, f.is_new_low_30, f.low_90, f.high_90, f.avg_90, f.days_90, f.pct_vs_avg_90, f.is_lowest_90, f.is_new_low_90, f.low_180, f.high_180, f.avg_180, f.days_180, f.pct_vs_avg_180, f.is_lowest_180, f.is_new_low_180, f.days_with_data
FROM (SELECT DISTINCT m.sku FROM match AS m) AS k
CROSS JOIN LATERAL snapprice_sku_window_of(k.sku, snapprice_today()) AS f
WHERE NOT EXISTS (SELECT 1 FROM sku_window_day AS d WHERE d.as_of_day = snapprice_today());

DO $$
BEGIN
    EXECUTE 'GRANT SELECT ON listing_current, listing_change, sku_window, sku_window_day, sku_window_dirty, '
            'latest_price, daily_price, sku_best_price, price_change, '
            'listing_window_stats, sku_window_stats TO snapprice_reader';
    EXECUTE 'GRANT EXECUTE ON FUNCTION snapprice_listing_window_stats(date), snapprice_sku_window_stats(date), '
            'snapprice_listing_window_of(bigint, date), snapprice_sku_window_of(text, date), '
            'snapprice_day_zone(), snapprice_local_day(timestamptz), snapprice_day_start(date), '
            'snapprice_today() TO snapprice_reader';
END
$$;

-- The history already stored.
DO $$ BEGIN PERFORM snapprice_refresh(); END $$;
