"""Schema migrations: numbered SQL files in sql/migrations applied with yoyo, forward only."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from snapprice.errors import MigrationError
from snapprice.paths import migrations_dir

MIGRATION_TABLE = "snapprice_migration"


@dataclass
class Status:
    applied: list[tuple[str, datetime]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # applied here, absent from the code

    @property
    def current(self) -> str | None:
        return self.applied[-1][0] if self.applied else None


def _backend(url: str):  # type: ignore[no-untyped-def]
    from yoyo import get_backend

    logging.getLogger("yoyo").setLevel(logging.WARNING)
    try:
        return get_backend(url, migration_table=MIGRATION_TABLE)
    except Exception as exc:  # yoyo surfaces the driver's own errors
        raise MigrationError(f"cannot open the database for migrations: {exc}") from None


def _read(directory: Path | None):  # type: ignore[no-untyped-def]
    from yoyo import read_migrations

    return read_migrations(str(directory or migrations_dir()))


def _status(backend, migrations) -> Status:  # type: ignore[no-untyped-def]
    from psycopg import sql

    # Rendered to text: yoyo's execute() takes a string, which it scans for parameters.
    cur = backend.execute(
        sql.SQL("SELECT migration_id, applied_at_utc FROM {} ORDER BY applied_at_utc, migration_id")
        .format(sql.Identifier(MIGRATION_TABLE)).as_string()
    )
    rows = cur.fetchall()
    backend.commit()
    applied_ids = {r[0] for r in rows}
    source_ids = [m.id for m in migrations]
    return Status(
        applied=[(r[0], r[1]) for r in rows],
        pending=[i for i in source_ids if i not in applied_ids],
        unknown=sorted(applied_ids - set(source_ids)),
    )


def status(url: str, directory: Path | None = None) -> Status:
    """Which migrations are applied, pending, or unknown to this code."""
    backend = _backend(url)
    backend.ensure_internal_schema_updated()
    return _status(backend, _read(directory))


def upgrade(url: str, directory: Path | None = None) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the ids applied.

    A second call is a no-op. A failing migration is rolled back and leaves the database
    as it was. A database that has migrations this code does not know is refused.
    """
    backend = _backend(url)
    migrations = _read(directory)
    backend.ensure_internal_schema_updated()
    # A session-level advisory lock (not yoyo's lock row): a killed process cannot leave
    # the database locked, and concurrent upgrades wait for each other.
    backend.execute("SELECT pg_advisory_lock(hashtext('snapprice.migrate'))")
    backend.commit()
    try:
        st = _status(backend, migrations)
        if st.unknown:
            raise MigrationError(
                "the database schema is newer than this snapprice "
                f"(applied migrations unknown here: {', '.join(st.unknown)}); upgrade snapprice"
            )
        applied: list[str] = []
        for migration in backend.to_apply(migrations):
            try:
                backend.apply_one(migration)
            except Exception as exc:
                backend.rollback()
                raise MigrationError(
                    f"migration {migration.id} failed and was rolled back: {exc}".strip()
                ) from None
            applied.append(migration.id)
        return applied
    finally:
        backend.execute("SELECT pg_advisory_unlock(hashtext('snapprice.migrate'))")
        backend.commit()
