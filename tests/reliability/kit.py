"""Shared helpers of the reliability tests: configs, the run without Prefect, table dumps."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from snapprice import run
from snapprice.search import executor
from snapprice.settings import Settings, load_settings
from snapprice.store import migrate
from snapprice.store.database import to_libpq, to_sqlalchemy
from tests.flowkit import CREDS

RUNNER = Path(__file__).with_name("stage_runner.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PlatformCfg:
    name: str
    qps: float = 50
    pages: int = 1
    timeout: float = 10.0
    limit_key: str = ""


def write_config(path: Path, *, database_url: str, catalog: Path, base_url: str,
                 platforms: list[PlatformCfg], concurrency: int = 4, limiter: str = "process",
                 max_attempts: int = 6, max_retry_seconds: float = 60, workers: int = 1,
                 fetch_timeout: float = 15.0, key_env: str = "SNAPPRICE_GATEWAY_KEY",
                 secret_env: str = "SNAPPRICE_GATEWAY_SECRET", match_checks: bool = True,
                 write_batch: int = 64) -> Path:
    """A snapprice.toml pointing at ``database_url``, ``catalog`` and the sandbox."""
    body = (f'[database]\nurl = "{database_url}"\n\n[catalog]\npath = "{catalog}"\n\n'
            f"[dedupe]\nworkers = {workers}\nfetch_timeout = {fetch_timeout}\n\n"
            f"[search]\nconcurrency = {concurrency}\nmax_attempts = {max_attempts}\n"
            f'max_retry_seconds = {max_retry_seconds}\nlimiter = "{limiter}"\n'
            f"write_batch = {write_batch}\n\n"
            "[alerts]\nenabled = false\n\n"
            f"[match_check]\nenabled = {str(match_checks).lower()}\n\n")
    for p in platforms:
        body += (f'[platforms.{p.name}]\nprotocol = "gateway"\nbase_url = "{base_url}"\n'
                 f"qps = {p.qps}\npages = {p.pages}\ntimeout = {p.timeout}\n"
                 f'credentials = {{ key = "{key_env}", secret = "{secret_env}" }}\n')
        if p.limit_key:
            body += f'options = {{ limit_key = "{p.limit_key}" }}\n'
        body += "\n"
    path.write_text(body, encoding="utf-8")
    return path


def _environ() -> dict[str, str]:
    # DATABASE_URL would override the config's database (the test's own) with the server's.
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}


def settings_for(config: Path, env: dict[str, str] | None = None) -> Settings:
    return load_settings(config, {**_environ(), **CREDS, **(env or {})})


def run_pipeline(engine: Engine, settings: Settings, catalog: str | Path, *,
                 limiter_dsn: str | None = None, resume_run: int | None = None) -> dict[str, Any]:
    """The snapshot flow's stages without Prefect: start (or reopen), ingest, search, close."""
    if resume_run is None:
        run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog))
    else:
        run_id = run.resume_target(engine, resume_run)
    run.ingest(engine, settings, run_id, catalog)
    summary = executor.execute_searches(engine, settings, run_id, limiter_dsn=limiter_dsn)
    return {**run.close_run(engine, run_id), "summary": summary}


def runner_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**_environ(), **CREDS, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    return env


def runner_cmd(config: Path, *args: str) -> list[str]:
    return [sys.executable, str(RUNNER), "--config", str(config), *args]


def sandbox_stats(base_url: str) -> dict[str, Any]:
    return httpx.get(f"{base_url}/_admin/stats", timeout=10).json()


def sandbox_reset(base_url: str) -> None:
    httpx.post(f"{base_url}/_admin/reset", timeout=10).raise_for_status()


def q(engine: Engine, sql: str, **params: Any) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params).all()]


def one(engine: Engine, sql: str, **params: Any) -> Any:
    return q(engine, sql, **params)[0][0]


# What must be equal between a resumed run and an uninterrupted one. Left out on purpose:
# times (captured_at, first/last_seen), ids, and what depends on which of two groups
# finding the same listing answered first (a snapshot's rank, score, group and raw_id;
# a match's last_rank), or on the sandbox's answer cache (cached).
DUMPS = {
    "listing": "SELECT platform, item_id, title, shop, url, pic_url FROM listing ORDER BY 1, 2",
    "match": "SELECT m.sku, l.platform, l.item_id, m.best_score, m.best_rank, m.times_seen"
             " FROM match m JOIN listing l USING (listing_id) ORDER BY 1, 2, 3",
    "price_snapshot": "SELECT l.platform, l.item_id, s.price_low, s.price_high, s.promo_price,"
                      " s.original_price, s.currency, s.sales_lower_bound, s.sales_text"
                      " FROM price_snapshot s JOIN listing l USING (listing_id) ORDER BY 1, 2",
    "search_task": "SELECT c.sku, t.platform, t.page, t.status, t.n_items, t.has_more"
                   " FROM search_task t JOIN image_group g USING (run_id, group_id)"
                   " JOIN catalog_item c ON c.catalog_item_id = g.representative_id ORDER BY 1, 2, 3",
    "groups": "SELECT c.sku, m.distance FROM image_group_member m"
              " JOIN catalog_item c USING (catalog_item_id) ORDER BY 1",
    "reject": "SELECT stage, source, reason FROM reject ORDER BY 1, 2, 3",
    "raw_response": "SELECT c.sku, r.platform, r.page, r.http_status FROM raw_response r"
                    " JOIN image_group g USING (run_id, group_id)"
                    " JOIN catalog_item c ON c.catalog_item_id = g.representative_id ORDER BY 1, 2, 3",
}


def dump_tables(engine: Engine) -> dict[str, list[tuple]]:
    return {name: q(engine, sql) for name, sql in DUMPS.items()}


def duplicates(engine: Engine) -> int:
    """Rows that break a one-per-key contract (snapshots per listing and run, responses per task)."""
    return (one(engine, "SELECT count(*) - count(DISTINCT (listing_id, run_id)) FROM price_snapshot")
            + one(engine, "SELECT count(*) - count(DISTINCT (run_id, group_id, platform, page))"
                          " FROM raw_response"))


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, migrated database on ``server_url``, dropped afterwards."""
    name = f"snapprice_rel_{os.getpid()}_{secrets.token_hex(3)}"
    admin_dsn = to_libpq(server_url)
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # an identifier we made, not a value
    url = sa.engine.make_url(to_sqlalchemy(server_url)).set(database=name).render_as_string(
        hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
