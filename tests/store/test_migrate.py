import secrets

import psycopg
import pytest
import sqlalchemy as sa

from snapprice.errors import MigrationError
from snapprice.store import migrate
from snapprice.store.database import to_libpq

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch_url(pg_server_url):
    """An empty database of its own (migration tests change the schema)."""
    name = f"snapprice_mig_{secrets.token_hex(4)}"
    with psycopg.connect(to_libpq(pg_server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield sa.engine.make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(to_libpq(pg_server_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_from_empty_then_noop(scratch_url):
    applied = migrate.upgrade(scratch_url)
    assert applied == [p.stem for p in sorted(migrate.migrations_dir().glob("*.sql"))]
    assert migrate.upgrade(scratch_url) == []
    st = migrate.status(scratch_url)
    assert st.pending == [] and st.unknown == [] and st.current == applied[-1]


def test_failed_migration_leaves_database_as_it_was(scratch_url, tmp_path):
    for p in migrate.migrations_dir().glob("*.sql"):
        (tmp_path / p.name).write_text(p.read_text())
    (tmp_path / "9000_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(MigrationError, match="9000_broken failed and was rolled back"):
        migrate.upgrade(scratch_url, tmp_path)
    eng = sa.create_engine(scratch_url)
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT to_regclass('half_done')")).scalar() is None
        assert c.execute(sa.text("SELECT to_regclass('listing')")).scalar() == "listing"
    eng.dispose()
    st = migrate.status(scratch_url, tmp_path)
    assert st.pending == ["9000_broken"]


def test_database_newer_than_code_is_refused(scratch_url, tmp_path):
    for p in migrate.migrations_dir().glob("*.sql"):
        (tmp_path / p.name).write_text(p.read_text())
    (tmp_path / "9001_future.sql").write_text("CREATE TABLE future_thing (x int);\n")
    migrate.upgrade(scratch_url, tmp_path)
    with pytest.raises(MigrationError, match=r"newer than this snapprice.*9001_future"):
        migrate.upgrade(scratch_url)
    assert migrate.status(scratch_url).unknown == ["9001_future"]
