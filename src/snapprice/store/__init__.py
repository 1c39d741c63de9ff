"""Store: the database, its migrations, run state and idempotent loads in PostgreSQL."""
