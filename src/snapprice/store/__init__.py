"""PostgreSQL side of the pipeline: run state, catalog and hashes, idempotent bulk loads."""
