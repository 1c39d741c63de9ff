"""`db query` is read-only: one query, as snapprice_reader, in a read-only transaction.

Every attack of the hardening issue, on the real server: each is refused with one line and
the data is still there afterwards.
"""

from __future__ import annotations

import secrets
import subprocess
import sys

import psycopg
import pytest
import sqlalchemy as sa

from snapprice.errors import SnappriceError
from snapprice.store import readonly
from snapprice.store.database import to_libpq
from snapprice.store.readonly import run_readonly_query

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(clean_db):
    with clean_db.begin() as conn:
        conn.execute(sa.text("INSERT INTO run (kind) VALUES ('manual')"))
        conn.execute(sa.text("INSERT INTO reject (stage, source, reason) VALUES ('load', 'x', 'y')"))
    return clean_db


def _counts(engine) -> tuple[int, int, str]:
    with engine.connect() as conn:
        return (conn.execute(sa.text("SELECT count(*) FROM run")).scalar_one(),
                conn.execute(sa.text("SELECT count(*) FROM reject")).scalar_one(),
                conn.execute(sa.text("SELECT status FROM run")).scalar_one())


@pytest.mark.parametrize(("statement", "says"), [
    ("COMMIT; DROP TABLE reject CASCADE", "runs one read-only query"),
    ("COMMIT; DELETE FROM listing", "runs one read-only query"),
    ("SELECT 1 AS a; COMMIT; UPDATE run SET status = 'x'; SELECT 2", "several statements"),
    ("UPDATE run SET status = 'x'", "runs one read-only query"),
    ("WITH d AS (DELETE FROM reject RETURNING 1) SELECT * FROM d", "data-modifying"),
    ("SET default_transaction_read_only = off", "runs one read-only query"),
    ("COPY (SELECT 1) TO PROGRAM 'touch {marker}'", "runs one read-only query"),
    ("SELECT pg_read_file('/etc/hostname')", "permission denied for function pg_read_file"),
    ("SELECT set_config('role', 'postgres', true)", 'permission denied to set role "postgres"'),
    ("SELECT set_config('session_authorization', 'postgres', true)", "permission denied"),
    ("SELECT lo_export(0, '{marker}')", "permission denied"),
    ("SELECT nextval('run_run_id_seq')", "permission denied for sequence"),
    ("  ", "empty"),
])
def test_what_is_not_one_read_only_query_is_refused_and_changes_nothing(
        seeded, database_url, tmp_path, statement, says):
    marker = tmp_path / "marker"
    before = _counts(seeded)
    with pytest.raises(SnappriceError, match=says) as err:
        run_readonly_query(database_url, statement.format(marker=marker), limit=10)
    assert "\n" not in str(err.value)
    assert _counts(seeded) == before
    assert not marker.exists()


def test_a_query_runs_as_the_reader_and_reads(seeded, database_url):
    result = run_readonly_query(database_url, "SELECT current_user AS who, session_user AS login,"
                                " (SELECT count(*) FROM run) AS runs;", limit=10)
    assert result.columns == ["who", "login", "runs"]
    assert result.rows == [("snapprice_reader", "snapprice_reader", 1)]
    assert not result.truncated


def test_limit_and_timeout(seeded, database_url):
    result = run_readonly_query(database_url, "SELECT g FROM generate_series(1, 5) AS g", limit=3)
    assert result.rows == [(1,), (2,), (3,)] and result.truncated
    with pytest.raises(SnappriceError, match=r"cancelled after 0.2 s"):
        run_readonly_query(database_url, "SELECT pg_sleep(5)", limit=1, timeout_s=0.2)


@pytest.fixture
def login_roles(database_url):
    """A non-superuser owner granted the reader role, and a superuser, both with passwords."""
    names = {k: f"sp_{k}_{secrets.token_hex(3)}" for k in ("owner", "super")}
    with psycopg.connect(to_libpq(database_url), autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {names['owner']} LOGIN PASSWORD 'pw' IN ROLE snapprice_reader")
        admin.execute(f"CREATE ROLE {names['super']} LOGIN SUPERUSER PASSWORD 'pw'")
    yield names
    with psycopg.connect(to_libpq(database_url), autocommit=True) as admin:
        for name in names.values():
            admin.execute(f"DROP ROLE IF EXISTS {name}")


def _as(database_url: str, role: str) -> str:
    return sa.engine.make_url(database_url).set(username=role, password="pw").render_as_string(
        hide_password=False)


def test_without_a_reader_login_a_superuser_owner_is_refused_and_a_plain_owner_sets_role(
        seeded, database_url, login_roles, monkeypatch):
    # As on a server that asks the reader for a password it does not have.
    monkeypatch.setattr(readonly, "reader_url", lambda url: _as(url, "no_such_login_role"))
    with pytest.raises(SnappriceError, match=r"logs in as a superuser.*DATABASE_READER_URL"):
        run_readonly_query(_as(database_url, login_roles["super"]), "SELECT 1", limit=1)
    result = run_readonly_query(_as(database_url, login_roles["owner"]),
                                "SELECT current_user, session_user", limit=1)
    assert result.rows == [("snapprice_reader", login_roles["owner"])]


def test_an_explicit_reader_url_is_used(seeded, database_url, login_roles):
    result = run_readonly_query(database_url, "SELECT session_user", limit=1,
                                reader=_as(database_url, login_roles["owner"]))
    assert result.rows == [(login_roles["owner"],)]
    with pytest.raises(SnappriceError, match=r"DATABASE_READER_URL .*cannot connect") as err:
        run_readonly_query(database_url, "SELECT 1", limit=1,
                           reader=_as(database_url, "no_such_login_role"))
    assert "pw" not in str(err.value)


def test_the_command_prints_one_line_and_exits_2(seeded, database_url, tmp_path):
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}

    def query(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "snapprice", "db", "query", *args],
                              capture_output=True, text=True, env=env, timeout=60)

    for args in (["COMMIT; DROP TABLE reject CASCADE"], ["SET default_transaction_read_only = off"],
                 ["@/nonexistent.sql"]):
        out = query(*args)
        assert out.returncode == 2, (args, out.stdout)
        assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    (tmp_path / "q.sql").write_text("SELECT kind FROM run;\n", encoding="utf-8")
    out = query(f"@{tmp_path / 'q.sql'}", "--json")
    assert out.returncode == 0 and out.stdout == '{"kind": "manual"}\n', out.stderr
    out = query("SELECT 1 WHERE false")
    assert out.returncode == 0 and "0 rows" in out.stdout
    out = query("SELECT CAST(176.27 AS numeric(18,4)) AS price")
    assert out.returncode == 0 and "176.27 " in out.stdout and "176.2700" not in out.stdout
