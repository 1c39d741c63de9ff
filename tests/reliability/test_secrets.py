"""Secrets and access: no credential in logs, artifacts or tables; the reader only reads; no
SQL built by formatting values into strings."""

from __future__ import annotations

import ast
import logging
import re
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors, sql

from snapprice import pipeline
from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.store.database import to_libpq
from tests.reliability.kit import REPO, PlatformCfg, write_config

pytestmark = pytest.mark.integration

KEY = "relKEY7f3a9c41"
SECRET = "relSECRETb81e55d0"
WRONG_SECRET = "relWRONGc0ffee77"  # the one platform configured with a wrong secret
SECRETS = (KEY, SECRET, WRONG_SECRET)


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'u') ORDER BY 1")]


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Loggers that may see a request: ours, the HTTP stack's, Prefect's run loggers (which
# do not propagate to the root), and the root for everything else.
LOGGERS = ("", "snapprice", "httpx", "httpcore", "stamina", "prefect", "prefect.flow_runs",
           "prefect.task_runs")


@pytest.fixture
def every_log_record():
    keep = _Keep()
    saved = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(keep)
    try:
        yield keep.records
    finally:
        for logger, level in saved:
            logger.removeHandler(keep)
            logger.setLevel(level)


def test_full_run_leaks_no_secret(prefect_harness, clean_db, database_url, tmp_path, monkeypatch,
                                  every_log_record, capfd):
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the config names the test's database
    monkeypatch.setenv("SNAPPRICE_GATEWAY_KEY", KEY)
    monkeypatch.setenv("SNAPPRICE_GATEWAY_SECRET", SECRET)
    monkeypatch.setenv("REL_WRONG_SECRET", WRONG_SECRET)
    records = every_log_record
    cfg = SandboxConfig(seed=11, n_products=40, qps=200, gateway_key=KEY, gateway_secret=SECRET,
                        faults={"taobao": {"http_503": 0.1, "malformed": 0.05}})
    with start_in_thread(cfg) as sb:
        catalog = generate_catalog(sb.world, tmp_path / "catalog", 16, seed=4)
        config = write_config(tmp_path / "snapprice.toml", database_url=database_url,
                              catalog=catalog.csv_path, base_url=sb.base_url,
                              platforms=[PlatformCfg("taobao", qps=50)])
        with config.open("a", encoding="utf-8") as fh:  # jd: right key, wrong secret
            fh.write(f'[platforms.jd]\nprotocol = "gateway"\nbase_url = "{sb.base_url}"\nqps = 50\n'
                     'credentials = { key = "SNAPPRICE_GATEWAY_KEY", secret = "REL_WRONG_SECRET" }\n')
        result = pipeline.snapshot(kind="manual", config=str(config))
    assert result["n_searches"] > 0 and "jd" in result["searches"]["stopped"]

    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # run logs reach the API in background batches
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
        logs = client.read_logs()
        deadline = time.monotonic() + 10  # a loaded machine: the API may store them late
        while not logs and time.monotonic() < deadline:
            time.sleep(0.2)
            logs = client.read_logs()
    assert artifacts and logs
    texts = {
        "captured log records": "\n".join(
            f"{r.name} {r.getMessage()} {logging.Formatter().formatException(r.exc_info) if r.exc_info else ''}"
            for r in records),
        "stdout/stderr": "".join(capfd.readouterr()),
        "Prefect artifacts": "\n".join(f"{a.key} {a.description} {a.data}" for a in artifacts),
        "Prefect logs": "\n".join(f"{x.name} {x.message}" for x in logs),
    }
    hits = {where: [s for s in SECRETS if s in text] for where, text in texts.items()}

    rows = 0
    with psycopg.connect(to_libpq(database_url)) as conn:
        tables = _tables(conn)
        for table in tables:
            t = sql.Identifier(table)
            rows += conn.execute(sql.SQL("SELECT count(*) FROM {}").format(t)).fetchone()[0]
            for s in SECRETS:
                n = conn.execute(sql.SQL("SELECT count(*) FROM {} AS x WHERE strpos(x::text, %s) > 0")
                                 .format(t), (s,)).fetchone()[0]
                if n:
                    hits.setdefault(f"table {table}", []).append(s)
    assert "raw_response" in tables and "run" in tables
    found = {k: v for k, v in hits.items() if v}
    print(f"\nsecrets: {len(SECRETS)} secrets searched in {len(records)} log records, "
          f"{len(logs)} Prefect logs, {len(artifacts)} artifacts, {len(tables)} tables "
          f"({rows} rows, raw_response included): {sum(len(v) for v in found.values())} hits")
    assert not found, found
    # The scan saw the credentialed request URLs themselves (masked by the httpx log filter).
    assert any("secret=" in r.getMessage() for r in records if r.name == "httpx")


def test_reader_role_cannot_write(clean_db, database_url):
    with psycopg.connect(to_libpq(database_url)) as conn:
        tables = [t for t in _tables(conn) if t != "snapprice_rate_limit"]
        first_column = dict(conn.execute(  # a plain column per table (identities refuse SET)
            "SELECT DISTINCT ON (table_name) table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'NO'"
            " AND is_generated = 'NEVER' ORDER BY table_name, ordinal_position").fetchall())
        conn.execute("SET ROLE snapprice_reader")
        refused = 0
        for table in tables:
            t, c = sql.Identifier(table), sql.Identifier(first_column[table])
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(t))  # reading is allowed
            for stmt in (sql.SQL("INSERT INTO {} DEFAULT VALUES"), sql.SQL("UPDATE {} SET {c} = {c}"),
                         sql.SQL("DELETE FROM {}"), sql.SQL("TRUNCATE {}")):
                conn.execute("SAVEPOINT s")
                with pytest.raises(errors.InsufficientPrivilege):
                    conn.execute(stmt.format(t, c=c))
                conn.execute("ROLLBACK TO SAVEPOINT s")
                refused += 1
        conn.execute("SAVEPOINT s")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE reader_was_here (x int)")
        conn.execute("ROLLBACK TO SAVEPOINT s")
        conn.rollback()
    print(f"\nreader role: {refused} INSERT/UPDATE/DELETE/TRUNCATE statements on {len(tables)} "
          "tables refused; SELECT allowed")
    assert refused == 4 * len(tables) >= 40


# Calls that run SQL text; their first argument must not be built by formatting.
_SQL_CALLS = {"execute", "executemany", "exec_driver_sql", "text", "copy", "scalar", "scalars"}
_SQL_WORDS = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|COPY|WHERE)\b")
# Reviewed exceptions: (file, source line) -> why it is safe.
ALLOWED = {
    ("snapprice/store/sql.py", "return sql.SQL(fragment)"):
        "the text of fragment files under sql/app, named by string literals in the code "
        "(tests/store/test_sql.py checks that every name is one); values are bound parameters",
    ("snapprice/store/sql.py", "return text(sql.SQL(template).format(**parts).as_string())"):
        "the text of a statement file under sql/app, named by a string literal in the code, with "
        "those fragments in its placeholders; values are bound parameters",
    ("snapprice/search/platforms/limiter.py", "return sql.SQL(query).format(t=sql.Identifier(self.table))"):
        "_compose() is only handed the statements of sql/app/limiter (through _sql()); the table "
        "name goes in as an Identifier",
}


def _constant(node: ast.AST) -> bool:
    """A module-level constant (UPPER_CASE name), a literal, or a literal's method on them
    (``", ".join(COLUMNS)``): composing SQL from these puts no value into the text."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return re.fullmatch(r"_?[A-Z][A-Z0-9_]*", node.id) is not None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return (isinstance(node.func.value, ast.Constant) and not node.keywords
                and all(_constant(a) for a in node.args))
    return False


def _interpolates_values(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) and not _constant(v.value) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return not _constant(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _interpolates_values(node.left) or _interpolates_values(node.right) or not (
            _constant(node.left) and _constant(node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        if _is_psycopg_sql(node.func.value):
            return False
        return not all(_constant(a) for a in [*node.args, *(k.value for k in node.keywords)])
    return False


def _is_psycopg_sql(node: ast.AST) -> bool:
    # sql.SQL("...").format(sql.Identifier(...)): composition with quoted identifiers
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "SQL")


def sql_formatting_offenders(root: Path, reviewed: set[tuple[str, str]] | None = None) -> list[str]:
    """Lines under ``root`` that build SQL by formatting values into it (f-strings, %,
    .format, +, psycopg's sql.SQL() of anything but a constant), as opposed to composing
    constant fragments or psycopg.sql identifiers. ``reviewed`` collects the ALLOWED ones met."""
    out: dict[str, None] = {}
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(source)):
            suspect = None
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in _SQL_CALLS and node.args and _interpolates_values(node.args[0]):
                    suspect = node
                elif name == "SQL" and node.args and not _constant(node.args[0]):
                    # psycopg's sql.SQL() takes its text as SQL, unescaped: only constants belong there
                    suspect = node
            elif isinstance(node, ast.JoinedStr) and _interpolates_values(node):
                literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                if _SQL_WORDS.search(literal):
                    suspect = node
            if suspect is not None:
                line = lines[suspect.lineno - 1].strip()
                if (rel, line) not in ALLOWED:
                    out[f"{rel}:{suspect.lineno}: {line}"] = None
                elif reviewed is not None:
                    reviewed.add((rel, line))
    return list(out)


def test_no_sql_built_by_formatting_values(tmp_path):
    reviewed: set[tuple[str, str]] = set()
    offenders = sql_formatting_offenders(REPO / "src", reviewed)
    # The scan finds what it looks for: a planted offender of each kind.
    bad = tmp_path / "bad.py"
    bad.write_text('conn.execute(f"SELECT * FROM t WHERE x = {x}")\n'
                   'conn.exec_driver_sql("DELETE FROM t WHERE id = %s" % v)\n'
                   'cur.execute("UPDATE t SET a = {}".format(a))\n'
                   'q = f"INSERT INTO t VALUES ({v})"\n'
                   'conn.execute(text(f"SELECT {COLUMNS} FROM t WHERE {_FILTER}"))\n'
                   'cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))\n'
                   'cur.execute(sql.SQL(query).format(sql.Identifier(name)))\n',
                   encoding="utf-8")
    assert [o.split(":")[1] for o in sql_formatting_offenders(tmp_path)] == ["1", "2", "3", "4", "7"]
    n_files = len(list((REPO / "src").rglob("*.py")))
    print(f"\nSQL formatting scan: {n_files} files under src/, {len(offenders)} offenders, "
          f"{len(ALLOWED)} reviewed exception(s)")
    assert offenders == []
    assert set(ALLOWED) - reviewed == set(), "reviewed exceptions whose line is gone: remove them"
