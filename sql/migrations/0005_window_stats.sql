-- snapprice data contract, part 5: price-history window statistics (30 / 90 / 180 days),
-- the figures Keepa and the Chinese price-history tools (历史价格, "30天最低") show.
--
-- Exact semantics (also in docs/reports.md):
-- * price    = effective price of a snapshot: coalesce(promo_price, price_low).
-- * as_of    = a UTC calendar day; the N-day window is the N UTC days as_of-(N-1) .. as_of,
--              both ends included (30 days ending today means today and the 29 days before).
-- * current  = the newest snapshot captured on or before the end of as_of (UTC). Only keys
--              (listings, SKUs) with a snapshot inside the 180-day window get a row.
-- * low_N / high_N = lowest / highest price of any snapshot in the window (current included).
-- * avg_N    = day-weighted average: each UTC day with data counts once, with the average of
--              that day's snapshots (so a day with three runs does not weigh three times);
--              days without data do not count (nothing is carried forward). Rounded to 2 dp.
-- * days_N   = how many days of the window have data (judge low_N with it).
-- * pct_vs_avg_N = 100 * (current - avg_N) / avg_N, 2 dp; negative = below the average.
-- * is_lowest_N  = current <= low_N: the current price is the lowest of the window ("N天最低",
--              Keepa's lowest), ties included; also true when the window holds one data point.
-- * is_new_low_N = current < every EARLIER snapshot of the window, and there is one:
--              the price just broke the window's low ("创N天新低"); what alerts use.
-- SKU level: a SKU's series has one point per run = the cheapest effective price among the
-- listings matched to the SKU in that run (captured_at = that run's newest such snapshot);
-- per (sku, platform), and across all platforms in the row whose platform IS NULL.
-- Prices of different currencies are not converted (snapprice stores CNY in practice).

CREATE OR REPLACE FUNCTION snapprice_listing_window_stats(
    as_of date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS TABLE (
    listing_id bigint, as_of_day date, captured_at timestamptz, run_id bigint,
    current_price numeric, currency text,
    low_30 numeric, high_30 numeric, avg_30 numeric, days_30 integer,
    pct_vs_avg_30 numeric, is_lowest_30 boolean, is_new_low_30 boolean,
    low_90 numeric, high_90 numeric, avg_90 numeric, days_90 integer,
    pct_vs_avg_90 numeric, is_lowest_90 boolean, is_new_low_90 boolean,
    low_180 numeric, high_180 numeric, avg_180 numeric, days_180 integer,
    pct_vs_avg_180 numeric, is_lowest_180 boolean, is_new_low_180 boolean)
LANGUAGE sql STABLE AS $fn$
WITH snap AS (
    SELECT s.listing_id AS k, s.run_id, s.captured_at, s.currency::text AS currency,
           (s.captured_at AT TIME ZONE 'UTC')::date AS day,
           coalesce(s.promo_price, s.price_low) AS price
    FROM price_snapshot AS s
    WHERE s.captured_at >= (as_of - 179)::timestamp AT TIME ZONE 'UTC'
      AND s.captured_at < (as_of + 1)::timestamp AT TIME ZONE 'UTC'
), cur AS (
    SELECT DISTINCT ON (k) k, run_id, captured_at, currency, price
    FROM snap ORDER BY k, captured_at DESC, run_id DESC
), daily AS (
    SELECT k, day, min(price) AS dmin, max(price) AS dmax, avg(price) AS davg
    FROM snap GROUP BY k, day
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
    SELECT sn.k,
        min(sn.price) FILTER (WHERE sn.day > as_of - 30) AS prior_30,
        min(sn.price) FILTER (WHERE sn.day > as_of - 90) AS prior_90,
        min(sn.price) AS prior_180
    FROM snap AS sn JOIN cur AS c ON c.k = sn.k AND sn.captured_at < c.captured_at
    GROUP BY sn.k
)
SELECT c.k, as_of, c.captured_at, c.run_id, c.price, c.currency,
    w.low_30, w.high_30, w.avg_30, w.days_30,
    CASE WHEN w.avg_30 > 0 THEN round(100 * (c.price - w.avg_30) / w.avg_30, 2) END,
    w.days_30 > 0 AND c.price <= w.low_30, coalesce(c.price < p.prior_30, false),
    w.low_90, w.high_90, w.avg_90, w.days_90,
    CASE WHEN w.avg_90 > 0 THEN round(100 * (c.price - w.avg_90) / w.avg_90, 2) END,
    w.days_90 > 0 AND c.price <= w.low_90, coalesce(c.price < p.prior_90, false),
    w.low_180, w.high_180, w.avg_180, w.days_180,
    CASE WHEN w.avg_180 > 0 THEN round(100 * (c.price - w.avg_180) / w.avg_180, 2) END,
    c.price <= w.low_180, coalesce(c.price < p.prior_180, false)
FROM cur AS c JOIN win AS w USING (k) LEFT JOIN prior AS p USING (k)
$fn$;

CREATE OR REPLACE FUNCTION snapprice_sku_window_stats(
    as_of date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS TABLE (
    sku text, platform text, as_of_day date, captured_at timestamptz, run_id bigint,
    current_price numeric, currency text,
    low_30 numeric, high_30 numeric, avg_30 numeric, days_30 integer,
    pct_vs_avg_30 numeric, is_lowest_30 boolean, is_new_low_30 boolean,
    low_90 numeric, high_90 numeric, avg_90 numeric, days_90 integer,
    pct_vs_avg_90 numeric, is_lowest_90 boolean, is_new_low_90 boolean,
    low_180 numeric, high_180 numeric, avg_180 numeric, days_180 integer,
    pct_vs_avg_180 numeric, is_lowest_180 boolean, is_new_low_180 boolean)
LANGUAGE sql STABLE AS $fn$
WITH matched AS (
    SELECT m.sku, l.platform, s.run_id, s.captured_at, s.currency::text AS currency,
           coalesce(s.promo_price, s.price_low) AS price
    FROM price_snapshot AS s
    JOIN match AS m ON m.listing_id = s.listing_id
    JOIN listing AS l ON l.listing_id = s.listing_id
    WHERE s.captured_at >= (as_of - 179)::timestamp AT TIME ZONE 'UTC'
      AND s.captured_at < (as_of + 1)::timestamp AT TIME ZONE 'UTC'
), snap AS (
    -- one point per run: the cheapest matched offer of that run (per platform, then overall)
    SELECT sku, platform, run_id, max(captured_at) AS captured_at, min(currency) AS currency,
           min(price) AS price
    FROM matched GROUP BY GROUPING SETS ((sku, platform, run_id), (sku, run_id))
), keyed AS (
    SELECT sku || chr(31) || coalesce(platform, '') AS k, sku, platform, run_id, captured_at, currency,
           (captured_at AT TIME ZONE 'UTC')::date AS day, price
    FROM snap
), cur AS (
    SELECT DISTINCT ON (k) k, sku, platform, run_id, captured_at, currency, price
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
SELECT c.sku, c.platform, as_of, c.captured_at, c.run_id, c.price, c.currency,
    w.low_30, w.high_30, w.avg_30, w.days_30,
    CASE WHEN w.avg_30 > 0 THEN round(100 * (c.price - w.avg_30) / w.avg_30, 2) END,
    w.days_30 > 0 AND c.price <= w.low_30, coalesce(c.price < p.prior_30, false),
    w.low_90, w.high_90, w.avg_90, w.days_90,
    CASE WHEN w.avg_90 > 0 THEN round(100 * (c.price - w.avg_90) / w.avg_90, 2) END,
    w.days_90 > 0 AND c.price <= w.low_90, coalesce(c.price < p.prior_90, false),
    w.low_180, w.high_180, w.avg_180, w.days_180,
    CASE WHEN w.avg_180 > 0 THEN round(100 * (c.price - w.avg_180) / w.avg_180, 2) END,
    c.price <= w.low_180, coalesce(c.price < p.prior_180, false)
FROM cur AS c JOIN win AS w USING (k) LEFT JOIN prior AS p USING (k)
$fn$;

-- As of today (UTC), with the listing's descriptive columns.
CREATE OR REPLACE VIEW listing_window_stats AS
SELECT l.platform, l.item_id, l.title, l.shop, w.*
FROM snapprice_listing_window_stats() AS w
JOIN listing AS l USING (listing_id);

-- As of today (UTC); platform IS NULL: across every platform.
CREATE OR REPLACE VIEW sku_window_stats AS
SELECT * FROM snapprice_sku_window_stats();

DO $$
BEGIN
    EXECUTE 'GRANT SELECT ON listing_window_stats, sku_window_stats TO snapprice_reader';
    EXECUTE 'GRANT EXECUTE ON FUNCTION snapprice_listing_window_stats(date), '
            'snapprice_sku_window_stats(date) TO snapprice_reader';
END
$$;
