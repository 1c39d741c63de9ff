"""Shared fixtures: a real PostgreSQL per test session (never mocked)."""

from __future__ import annotations

import os
import secrets
import tempfile
import warnings
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from snapprice.store import migrate
from snapprice.store.database import to_libpq, to_sqlalchemy

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
DATA_TABLES = (
    "run", "catalog_item", "image_hash", "image_group", "image_group_member", "search_task",
    "raw_response", "listing", "price_snapshot", "match", "reject", "match_decision", "match_retired",
    "listing_current", "listing_change", "sku_window", "sku_window_day", "sku_window_dirty",
    "match_check", "picture_url", "picture_feature", "sku_day", "sku_day_dirty", "pair_verdict",
    "pair_verifier",
)



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (``-n 2``), the slow and timed tests share one worker, one after another.

    They start servers, subprocesses and deadlines of their own; two of them side by side on
    a 2-core machine test the machine, not the code. The quick tests fill the other worker.
    """
    for item in items:
        if item.get_closest_marker("slow") or item.get_closest_marker("timed"):
            item.add_marker(pytest.mark.xdist_group("heavy"))

def _answers(url: str) -> bool:
    try:
        with psycopg.connect(to_libpq(url), connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL server: DATABASE_URL, else the local one on :5432, else embedded pgserver."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield to_sqlalchemy(url)
        return
    if _answers(LOCAL_SERVER):
        yield to_sqlalchemy(LOCAL_SERVER)
        return
    import pgserver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tempfile.mkdtemp(prefix="snapprice-pg-"), cleanup_mode="delete")
    try:
        yield to_sqlalchemy(server.get_uri())
    finally:
        server.cleanup()


def _with_database(url: str, name: str) -> str:
    return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for this test session, migrated with the real migrations."""
    name = f"snapprice_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(to_libpq(pg_server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(pg_server_url, name)
    migrate.upgrade(url)
    try:
        yield url
    finally:
        with psycopg.connect(to_libpq(pg_server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = sa.create_engine(database_url, pool_pre_ping=True)
    yield eng
    eng.dispose()


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """The session database emptied of data before the test (schema kept)."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
        # A command run against the session database (a CLI test) stores its configured day
        # zone in it; every test starts from UTC days, as a database no config has opened.
        conn.execute(sa.text("SELECT snapprice_set_day_zone('UTC')"))
        # A new zone unbuilds the daily rollup: built again over no data, as after migrating.
        conn.execute(sa.text("SELECT snapprice_refresh_days(true) WHERE NOT EXISTS (SELECT 1 FROM sku_day_built)"))
    yield engine


@pytest.fixture
def conn(clean_db: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back after the test."""
    with clean_db.connect() as connection:
        trans = connection.begin()
        try:
            yield connection
        finally:
            trans.rollback()


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One Prefect test server for the whole session (it takes ~20 s to start)."""
    home = tmp_path_factory.mktemp("prefect-home")
    old = {k: os.environ.get(k) for k in ("PREFECT_HOME", "PREFECT_SERVER_ANALYTICS_ENABLED")}
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    from prefect.testing.utilities import prefect_test_harness

    try:
        with prefect_test_harness(server_startup_timeout=120):
            yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
