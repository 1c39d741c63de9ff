-- The monthly snapshot partitions wholly before the cutoff, with their row counts; dropped
-- unless dry_run (function in sql/migrations/0014_retention.sql).
SELECT partition_name, month_from, month_to, n_rows
FROM snapprice_drop_snapshot_months(:cutoff, :dry_run)
