-- snapprice_reader may log in, so that `snapprice db query` runs on a connection that IS the
-- reader: a query on the owner's connection after SET ROLE could take the owner's role back
-- with set_config('role', …) (a superuser owner would then read server files).
-- It has no password: only trust or peer authentication (the embedded server, a developer's
-- local one) lets it in; on a server that asks for passwords, give a login of your own the
-- role (GRANT snapprice_reader TO alice) and point DATABASE_READER_URL at it.

DO $$
BEGIN
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'snapprice_reader') THEN
        ALTER ROLE snapprice_reader LOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    -- An owner without CREATEROLE (the role made by a DBA): db query then needs
    -- DATABASE_READER_URL, or falls back to SET ROLE for a non-superuser owner.
    RAISE NOTICE 'snapprice_reader left as it is: % (db query needs DATABASE_READER_URL)', SQLERRM;
END
$$;
