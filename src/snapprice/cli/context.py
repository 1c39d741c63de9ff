"""Shared plumbing of the sub-commands: settings and database from the global options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from snapprice.settings import Settings, load_settings
from snapprice.store.database import Database, open_database


def settings_from(ctx: typer.Context, *, will_search: bool = False,
                  platforms: list[str] | None = None) -> Settings:
    """The settings of the global ``--config``.

    ``will_search``: the command will search (``run``, ``serve``, ``backfill --fill-gaps``);
    credentials must be set and every enabled platform section must build its client
    (``check_platforms``), so a bad section fails here, before Prefect starts.
    ``platforms``: only these sections (``--platform``).
    """
    obj: dict[str, Any] = ctx.find_root().obj or {}
    settings = load_settings(obj.get("config"), require_credentials=will_search, platforms=platforms)
    if will_search:
        # Imported here: the search package pulls in the dedupe stack, which other commands
        # need not pay for at start-up.
        from snapprice.search.platforms.registry import check_platforms

        check_platforms(settings)
    return settings


def data_dir_from(ctx: typer.Context) -> Path | None:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return obj.get("data_dir")


@contextlib.contextmanager
def database_from(ctx: typer.Context, settings: Settings) -> Iterator[Database]:
    with open_database(settings.database, data_dir_from(ctx)) as db:
        yield db
