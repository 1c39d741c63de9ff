"""The package as installed: every package listed for the wheel, its own files found, light to import."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from snapprice import paths

REPO = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(REPO / "src").parts)
             for p in (REPO / "src" / "snapprice").rglob("__init__.py")}
    assert found - listed == set(), "add these packages to [tool.setuptools] packages"
    assert listed - found == {"snapprice._sql", "snapprice._config"}


def test_sql_and_default_config_are_package_data() -> None:
    assert paths.sql_dir().samefile(REPO / "sql")
    assert sorted(p.name for p in paths.migrations_dir().glob("*.sql"))[0] == "0001_core.sql"
    assert any(paths.queries_dir().glob("*.sql"))
    assert paths.default_config().samefile(REPO / "config" / "snapprice.toml")


def test_importing_snapprice_is_light() -> None:
    code = ("import sys, snapprice; heavy = {'sqlalchemy', 'prefect', 'polars', 'httpx'} & set(sys.modules);"
            " print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
