"""Shared plumbing of the sub-commands: settings and database from the global options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from snapprice.settings import Settings, load_settings
from snapprice.store.database import Database, open_database


def settings_from(ctx: typer.Context, *, require_credentials: bool = False) -> Settings:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return load_settings(obj.get("config"), require_credentials=require_credentials)


def data_dir_from(ctx: typer.Context) -> Path | None:
    obj: dict[str, Any] = ctx.find_root().obj or {}
    return obj.get("data_dir")


@contextlib.contextmanager
def database_from(ctx: typer.Context, settings: Settings) -> Iterator[Database]:
    with open_database(settings.database, data_dir_from(ctx)) as db:
        yield db
