"""Where snapprice's own files are: SQL and the default config ship inside the package.

The repository keeps them at its top (``sql/``, ``config/``); ``pyproject.toml`` maps those
folders into the package as ``snapprice._sql`` and ``snapprice._config``, so an editable
checkout, a wheel and a worker image all find them the same way. Nothing else in the
package looks for a file of its own.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from snapprice.errors import SnappriceError


def _package_dir(package: str) -> Path:
    path = Path(str(files(package)))
    if not path.is_dir():  # a zipped install: these files must exist on disk (yoyo reads them)
        raise SnappriceError(f"{path}: snapprice's {package} files are not on disk; install snapprice unzipped")
    return path


def sql_dir() -> Path:
    """The SQL of snapprice: ``migrations/``, ``queries/`` (examples) and ``app/`` (statements)."""
    return _package_dir("snapprice._sql")


def migrations_dir() -> Path:
    return sql_dir() / "migrations"


def queries_dir() -> Path:
    """Ready-to-run example queries, the ones the README shows."""
    return sql_dir() / "queries"


def default_config() -> Path:
    """The committed ``config/snapprice.toml``: the settings when no other file is chosen."""
    return _package_dir("snapprice._config") / "snapprice.toml"
