"""One read-only query as the `snapprice_reader` role: what `snapprice db query` runs.

Three walls, each enough for a different attack:
- the text runs as ONE query through a server-side cursor (``DECLARE … CURSOR FOR``, sent
  with the extended protocol): a second statement (``; COMMIT; DROP …``), a utility statement
  (``SET``, ``COPY … TO PROGRAM``, ``COMMIT``) or a data-modifying ``WITH`` is refused by
  PostgreSQL itself, before anything runs;
- inside a ``READ ONLY`` transaction with a statement timeout;
- on a connection that LOGS IN as ``snapprice_reader`` (or a login the user names in
  ``DATABASE_READER_URL``). A ``SET ROLE`` on the owner's connection is not enough when the
  owner is a superuser: ``set_config('role', 'postgres', true)`` inside the query takes the
  role back, and then ``pg_read_file`` reads server files. Only a non-superuser owner falls
  back to ``SET LOCAL ROLE`` (what it could take back is its own, read-only, rights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from snapprice.errors import SnappriceError
from snapprice.store.database import redact_url, to_libpq, to_sqlalchemy

READER_ROLE = "snapprice_reader"
ONE_QUERY = "one read-only query (SELECT, WITH … SELECT, VALUES or TABLE)"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than the limit


def reader_url(owner_url: str) -> str:
    """The owner's URL with the user set to ``snapprice_reader`` and no password (a login
    that trust or peer authentication accepts, as on the embedded server).

    >>> reader_url("postgresql://owner:pw@db.example:5432/prices?sslmode=require")
    'postgresql+psycopg://snapprice_reader@db.example:5432/prices?sslmode=require'
    """
    url = make_url(to_sqlalchemy(owner_url))
    return URL.create(url.drivername, username=READER_ROLE, host=url.host, port=url.port,
                      database=url.database, query=url.query).render_as_string(hide_password=False)


def _connect(url: str, timeout: int) -> psycopg.Connection:
    return psycopg.connect(to_libpq(url), connect_timeout=timeout, autocommit=False)


def _reader_connection(owner_url: str, explicit: str, timeout: int) -> tuple[psycopg.Connection, bool]:
    """A connection for the query and whether it still has to ``SET ROLE`` to the reader."""
    if explicit:
        try:
            return _connect(explicit, timeout), False
        except psycopg.OperationalError as exc:
            raise SnappriceError(f"DATABASE_READER_URL ({redact_url(explicit)}): cannot connect: "
                                 f"{_first_line(exc)}") from None
    try:
        return _connect(reader_url(owner_url), timeout), False
    except psycopg.OperationalError:
        pass  # the server wants a password for it: try the owner's own connection below
    conn = _connect(owner_url, timeout)
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user").fetchone()
    conn.rollback()
    if superuser and superuser[0]:
        conn.close()
        raise SnappriceError(
            f"db query runs as {READER_ROLE}, and your DATABASE_URL logs in as a superuser (a query "
            f"could take that role back): set DATABASE_READER_URL to a login granted {READER_ROLE} "
            f"(CREATE ROLE alice LOGIN PASSWORD '…'; GRANT {READER_ROLE} TO alice;)")
    return conn, True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def run_readonly_query(owner_url: str, statement: str, *, limit: int, timeout_s: float = 30.0,
                       reader: str = "", connect_timeout: int = 5) -> QueryResult:
    """Run ``statement`` as one read-only query as ``snapprice_reader``; at most ``limit`` rows.

    Raises ``SnappriceError`` with one line for anything the user can cause (several
    statements, a statement that is not a query, a permission refused, a timeout).
    """
    text = statement.strip().removesuffix(";").strip()
    if not text:
        raise SnappriceError(f"db query: the statement is empty; give {ONE_QUERY}")
    conn, set_role = _reader_connection(owner_url, reader, connect_timeout)
    try:
        conn.read_only = True
        # force_rollback: nothing a query did is kept, whatever it was.
        with conn.transaction(force_rollback=True):
            if set_role:
                conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(READER_ROLE)))
            conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout_s * 1000)}",))
            with conn.cursor(name="snapprice_db_query") as cur:
                cur.execute(text)
                columns = [d.name for d in cur.description or []]
                rows = cur.fetchmany(limit + 1)
    except pg_errors.SyntaxError as exc:
        message = _first_line(exc)
        if "multiple commands" in message:
            raise SnappriceError(f"db query: several statements given; give {ONE_QUERY}") from None
        raise SnappriceError(f"db query: {message} (db query runs {ONE_QUERY})") from None
    except pg_errors.FeatureNotSupported as exc:
        raise SnappriceError(f"db query: {_first_line(exc)} (db query runs {ONE_QUERY})") from None
    except pg_errors.QueryCanceled:
        raise SnappriceError(f"db query: cancelled after {timeout_s:g} s (--timeout)") from None
    except psycopg.Error as exc:
        raise SnappriceError(f"db query: {_first_line(exc)}") from None
    finally:
        conn.close()
    return QueryResult(columns, rows[:limit], len(rows) > limit)
