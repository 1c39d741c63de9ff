"""Named SQL statements: the files ``sql/app/<area>/<name>.sql``, read once and handed out by name.

A file holds one statement with SQLAlchemy ``:name`` parameters. Where a piece of SQL is
shared by several statements (the loader's merge rules, the alert rules' common parts), a
file names it as a ``{placeholder}`` and the caller says which fragment file fills it; the
composition goes through ``psycopg.sql``, so it only ever joins SQL text of these files,
never a value. A literal brace in a file is written twice (``{{``).

>>> from snapprice.store.sql import statement
>>> sorted(statement("store/plan_tasks").compile().params)
['platforms', 'run']
>>> statement("store/plan_taks")
Traceback (most recent call last):
...
snapprice.errors.SnappriceError: no SQL statement named 'store/plan_taks': there is no file sql/app/store/plan_taks.sql
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from string import Formatter

from psycopg import sql
from sqlalchemy import TextClause, text

from snapprice.errors import SnappriceError
from snapprice.paths import sql_dir

_NAME = re.compile(r"[a-z][a-z0-9_]*/[a-z][a-z0-9_]*")


def app_dir() -> Path:
    """Where the statements are: ``sql/app/``, one folder per area."""
    return sql_dir() / "app"


@cache
def source(name: str) -> str:
    """The text of ``sql/app/<name>.sql``; ``name`` is ``area/file`` (``store/plan_tasks``)."""
    path = app_dir() / f"{name}.sql"
    if not _NAME.fullmatch(name) or not path.is_file():
        raise SnappriceError(f"no SQL statement named {name!r}: there is no file sql/app/{name}.sql")
    return path.read_text(encoding="utf-8")


@cache
def statement(name: str, **fragments: str) -> TextClause:
    """The statement ``name`` as a SQLAlchemy ``text``, each ``{placeholder}`` of it filled
    with the fragment file that ``fragments`` names for it; built once per arguments."""
    template = source(name)
    placeholders = {field for _, field, _, _ in Formatter().parse(template) if field is not None}
    if placeholders != set(fragments):
        raise SnappriceError(
            f"SQL statement {name!r} has the placeholders {sorted(placeholders)}, "
            f"but fragments were given for {sorted(fragments)}")
    parts = {key: _fragment(fragment) for key, fragment in fragments.items()}
    return text(sql.SQL(template).format(**parts).as_string())


def _fragment(name: str) -> sql.SQL:
    """The fragment file ``name`` without the comment lines that open it (they describe the
    file, not the statement it goes into); it still ends with a newline, so that a comment
    at the end of its last line cannot reach into what follows its placeholder."""
    lines = source(name).splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    fragment = "\n".join(lines).strip() + "\n"
    return sql.SQL(fragment)
