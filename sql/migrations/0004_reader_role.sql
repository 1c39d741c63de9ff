-- snapprice data contract, part 4: the read-only role analysts and dashboards use.
-- Grant it to a login role: GRANT snapprice_reader TO alice;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'snapprice_reader') THEN
        CREATE ROLE snapprice_reader NOLOGIN;
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO snapprice_reader', current_schema());
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO snapprice_reader', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO snapprice_reader',
                   current_schema());
END
$$;
