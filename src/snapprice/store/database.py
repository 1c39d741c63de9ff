"""Where the database is: an external PostgreSQL (DATABASE_URL) or an embedded pgserver."""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from snapprice.errors import DatabaseUnavailable
from snapprice.redact import redact_url, scrub, secret_parts
from snapprice.settings import DatabaseSettings


@dataclass(frozen=True)
class Database:
    """A reachable PostgreSQL: its SQLAlchemy URL and whether snapprice started it."""

    url: str  # postgresql+psycopg://...
    embedded: bool
    data_dir: Path | None = None

    @property
    def dsn(self) -> str:
        """libpq form of the URL (for psycopg and psql)."""
        return to_libpq(self.url)

    def redacted(self) -> str:
        return redact_url(self.url)


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("snapprice", appauthor=False)) / "pgdata"


def to_sqlalchemy(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+psycopg:// and return the psycopg form."""
    url = re.sub(r"^postgres(ql)?(\+[a-z0-9]+)?://", "postgresql+psycopg://", url)
    if not url.startswith("postgresql+psycopg://"):
        raise DatabaseUnavailable(f"database URL must start with postgresql:// (got {redact_url(url)})")
    return url


def to_libpq(url: str) -> str:
    return re.sub(r"^postgresql\+psycopg://", "postgresql://", to_sqlalchemy(url))


def check_reachable(url: str, timeout: int = 5) -> None:
    """Connect once; raise DatabaseUnavailable with a clear message when that fails."""
    try:
        with psycopg.connect(to_libpq(url), connect_timeout=timeout) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = scrub(first, secret_parts(url))
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL at {redact_url(url)}: {first}. "
            "Check DATABASE_URL (or unset it to use the embedded database)."
        ) from None


@contextlib.contextmanager
def open_database(settings: DatabaseSettings, data_dir: Path | None = None) -> Iterator[Database]:
    """Yield a reachable database; an embedded server started here is stopped on exit.

    With ``settings.url`` (DATABASE_URL) that server is used as is. Without it, pgserver
    runs PostgreSQL in ``data_dir`` (or ``settings.data_dir``, or the user's data dir),
    reusing the data of earlier runs.
    """
    if settings.url:
        url = to_sqlalchemy(settings.url)
        check_reachable(url, settings.connect_timeout)
        yield Database(url=url, embedded=False)
        return
    pgdata = Path(data_dir or settings.data_dir or default_data_dir()).expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # pgserver asks platformdirs for a runtime dir
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:  # pgserver raises bare subprocess/OS errors
        raise DatabaseUnavailable(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}. "
            "Set DATABASE_URL to use an external server."
        ) from exc
    url = to_sqlalchemy(server.get_uri())
    try:
        yield Database(url=url, embedded=True, data_dir=pgdata)
    finally:
        server.cleanup()


def make_engine(db: Database | str, **kwargs: object) -> Engine:
    """A SQLAlchemy engine on psycopg 3 with pre-ping (survives a restarted server)."""
    url = db.url if isinstance(db, Database) else to_sqlalchemy(db)
    opts: dict[str, object] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    opts.update(kwargs)
    return sa.create_engine(url, **opts)
