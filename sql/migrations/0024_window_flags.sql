-- SKU window statistics count unflagged prices only (price_flag 'ok' or not yet assessed),
-- as sku_best_price does since 0020: a deposit, an accessory or a decoy anchor is never a
-- SKU's "90-day low", its 30-day average or a new low. Listing window statistics are the
-- listing's own history and stay as they were (latest_price shows each snapshot's flag).
-- The functions are those of 0012 with that one condition added; sku_window is recomputed.

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
      AND coalesce(s.price_flag, 'ok') = 'ok'
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
    EXECUTE format('CREATE OR REPLACE FUNCTION snapprice_listing_window_stats(as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE sql STABLE AS %L',
                   listing_cols, replace(listing_body, '{filter}', 'true'));
    -- The one-key functions are PL/pgSQL: never inlined into a view's plan (which would grow
    -- big enough for JIT), and their plan is kept by the session (planning it costs ten
    -- times running it); a view calls them for the keys its filter leaves.
    EXECUTE format('CREATE OR REPLACE FUNCTION snapprice_listing_window_of(p_key bigint, as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE plpgsql STABLE ROWS 1 SET jit = off AS %L',
                   listing_cols, format(one_key, replace(listing_body, '{filter}', 's.listing_id = p_key')));
    EXECUTE format('CREATE OR REPLACE FUNCTION snapprice_sku_window_stats(as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE sql STABLE AS %L',
                   sku_cols, replace(sku_body, '{filter}', 'true'));
    EXECUTE format('CREATE OR REPLACE FUNCTION snapprice_sku_window_of(p_key text, as_of date DEFAULT snapprice_today()) '
                   'RETURNS TABLE (%s) LANGUAGE plpgsql STABLE ROWS 5 SET jit = off AS %L',
                   sku_cols, format(one_key, replace(sku_body, '{filter}', 'm.sku = p_key')));
END
$do$;

-- The stored windows were computed with flagged prices: recompute every SKU.
DO $$ BEGIN PERFORM snapprice_refresh_windows(true); END $$;
