-- snapprice data contract, part 14: retention of price snapshots ([retention] snapshot_days).
--
-- price_snapshot is partitioned by month on captured_at (0002): history older than a cutoff
-- goes a whole month at a time, by dropping the partitions whose upper bound is at or before
-- the cutoff (no row-by-row delete, no bloat). The default partition and any month that
-- reaches past the cutoff are never touched. raw_response is not partitioned (its
-- UNIQUE (run_id, group_id, platform, page) keeps archiving idempotent and cannot include a
-- time column): it is pruned in batches by sql/app/retention/delete_raw_batch.sql.

CREATE OR REPLACE FUNCTION snapprice_drop_snapshot_months(cutoff timestamptz, dry_run boolean DEFAULT true)
RETURNS TABLE (partition_name text, month_from timestamptz, month_to timestamptz, n_rows bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname::text AS name,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'FROM \(''([^'']+)''\)')::timestamptz AS lo,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS hi
        FROM pg_inherits AS i
        JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'price_snapshot'::regclass
        ORDER BY 2
    LOOP
        CONTINUE WHEN part.hi IS NULL OR part.hi > cutoff;  -- the default partition; a month not all old
        partition_name := part.name;
        month_from := part.lo;
        month_to := part.hi;
        EXECUTE format('SELECT count(*) FROM %I', part.name) INTO n_rows;
        IF NOT dry_run THEN
            EXECUTE format('DROP TABLE %I', part.name);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;
