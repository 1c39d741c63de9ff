-- The run-end refresh of the stored window statistics goes set-based (two passes over the
-- window's snapshots) once more than a tenth of the SKUs and more than 50 were written, not
-- only above 1,000: a daily run writes every SKU, and a catalog of up to 1,000 SKUs took
-- the per-SKU path, one call of snapprice_sku_window_of per SKU and day, whose cached
-- generic plan can scan every snapshot per call (issue 20's bench: 1,013 s after a run of
-- 4 platforms over 1,000 SKUs with ~160 k snapshots stored; docs/benchmarks.md).

CREATE OR REPLACE FUNCTION snapprice_refresh_windows(everything boolean DEFAULT false) RETURNS integer
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
       OR n > 50 AND n > (SELECT count(*) FROM (SELECT DISTINCT sku FROM match) AS k) / 10 THEN
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
