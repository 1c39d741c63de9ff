-- Flag filters the planner can estimate (issue 17, measured at 50 M snapshots). Since 0020
-- "not flagged" was written coalesce(price_flag, 'ok') = 'ok', an expression without
-- statistics that PostgreSQL estimates at 0.5 % of the rows: sku_best_price for all SKUs
-- was planned for 310 current listings instead of 182,185 (nested loops and sorts spilled
-- to disk: 2.4 s at 18 k SKUs), and the window statistics' pass over the snapshots for
-- 14 k rows instead of 6.8 M. The same test written as price_flag IS NULL OR price_flag =
-- 'ok' is read from the column's statistics. Same rows.
CREATE OR REPLACE VIEW sku_best_price AS
SELECT DISTINCT ON (t.sku, t.platform)
    t.sku, t.platform, t.listing_id, t.item_id, t.title, t.shop, t.url,
    t.effective_price, t.price_low, t.promo_price, t.currency, t.sales_lower_bound,
    t.score, t.run_id, t.captured_at,
    t.shipping_fee, t.landed_price, t.unit_price, t.location, t.shop_type
FROM (
    SELECT m.sku, l.platform, m.listing_id, l.item_id, l.title, l.shop, l.url,
           CAST(effective_price(c.promo_price, c.price_low) AS numeric(18,4)) AS effective_price,
           c.price_low, c.promo_price, c.currency, c.sales_lower_bound, m.best_score AS score,
           c.run_id, c.captured_at, c.shipping_fee,
           CAST(effective_price(c.promo_price, c.price_low) + c.shipping_fee AS numeric(18,4)) AS landed_price,
           unit_price(effective_price(c.promo_price, c.price_low), l.pack_unit, l.pack_count) AS unit_price,
           l.location, l.shop_type,
           max(c.run_id) OVER (PARTITION BY m.sku, l.platform) AS newest_run
    FROM match AS m
    JOIN listing AS l ON l.listing_id = m.listing_id
    JOIN listing_current AS c ON c.listing_id = m.listing_id
    WHERE (c.price_flag IS NULL OR c.price_flag = 'ok')
) AS t
WHERE t.run_id = t.newest_run
ORDER BY t.sku, t.platform, t.effective_price ASC, t.listing_id;

-- The functions that read snapshots by flag (0024's window statistics, 0025's daily
-- rollup), restated with the one test changed; pg_get_functiondef gives each back as it is.
DO $do$
DECLARE
    f record;
    body text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname FROM pg_proc AS p
        WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND p.proname IN ('snapprice_sku_window_stats', 'snapprice_sku_window_of',
                            'snapprice_sku_days_of', 'snapprice_sku_days_all')
    LOOP
        body := pg_get_functiondef(f.oid);
        IF position($t$coalesce(s.price_flag, 'ok') = 'ok'$t$ IN body) = 0 THEN
            RAISE EXCEPTION 'snapprice migration 0031: % has no flag test to restate', f.proname;
        END IF;
        EXECUTE replace(body, $t$coalesce(s.price_flag, 'ok') = 'ok'$t$,
                        $t$(s.price_flag IS NULL OR s.price_flag = 'ok')$t$);
    END LOOP;
END
$do$;

-- listing_change rebuilt from scratch (`snapprice db refresh`) in time order, as runs
-- append it, and analyzed: rebuilt listing by listing, a week's price moves lay on every
-- page of the table (correlation 0.04) and `price_change` of the last 7 days read all of
-- it (1.5 s at 50 M snapshots; 0.25 s in time order, the index range scan).
DO $do$
DECLARE
    body text := pg_get_functiondef('snapprice_rebuild_listings(bigint[])'::regprocedure);
    tail text := 'WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price;';
BEGIN
    IF position(tail IN body) = 0 THEN
        RAISE EXCEPTION 'snapprice migration 0031: snapprice_rebuild_listings changed';
    END IF;
    EXECUTE replace(body, tail, 'WHERE prev_price IS NOT NULL AND price IS DISTINCT FROM prev_price'
                                || E'\n    ORDER BY captured_at;');
    body := pg_get_functiondef('snapprice_refresh()'::regprocedure);
    IF position('PERFORM snapprice_rebuild_listings(NULL);' IN body) = 0 THEN
        RAISE EXCEPTION 'snapprice migration 0031: snapprice_refresh changed';
    END IF;
    EXECUTE replace(body, 'PERFORM snapprice_rebuild_listings(NULL);',
                    E'PERFORM snapprice_rebuild_listings(NULL);\n    ANALYZE listing_current, listing_change;');
END
$do$;
