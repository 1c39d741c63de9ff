"""Named SQL statements: every file under sql/app is asked for by the code, every name the code asks for exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import snapprice
from snapprice.errors import SnappriceError
from snapprice.store.sql import app_dir, source, statement

SRC = Path(snapprice.__file__).parent
_LOADERS = {"statement", "source"}


def names_asked_for(root: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Statement and fragment names the code under ``root`` passes to ``statement``/``source``
    (name -> where), and the calls whose names are not string literals."""
    found: dict[str, list[str]] = {}
    not_literal: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "sql.py" and path.parent.name == "store":
            continue  # the helper itself, which hands the names on
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Module-level dicts of fragment names, passed on as statement(name, **FRAGMENTS).
        dicts = {t.id: node.value.values for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Dict) for t in node.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    in _LOADERS):
                continue
            where = f"{path.relative_to(root).as_posix()}:{node.lineno}"
            args = [*node.args]
            for k in node.keywords:
                unpacked = k.arg is None and isinstance(k.value, ast.Name) and k.value.id in dicts
                args.extend(dicts[k.value.id] if unpacked else [k.value])
            for arg in args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, []).append(where)
                else:
                    not_literal.append(where)
    return found, not_literal


def files_present() -> set[str]:
    return {p.relative_to(app_dir()).with_suffix("").as_posix() for p in app_dir().rglob("*.sql")}


def test_every_file_is_used_and_every_name_exists() -> None:
    asked, not_literal = names_asked_for(SRC)
    # Names must be literals: a computed name is one this test cannot check.
    assert not_literal == [], f"statement()/source() called with a computed name at {not_literal}"
    present = files_present()
    assert {n: w for n, w in asked.items() if n not in present} == {}, "names without a file under sql/app"
    assert sorted(present - set(asked)) == [], "files under sql/app that no code asks for"
    assert len(present) >= 10


def test_comments_name_no_parameter_and_no_placeholder() -> None:
    # In a comment, SQLAlchemy would still take a :name for a parameter and psycopg.sql a
    # {name} for a placeholder.
    found = [f"{path.name}:{n}: {line}" for path in sorted(app_dir().rglob("*.sql"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"(?<![:\w]):\w|[{}]", line.partition("--")[2])]
    assert found == []


def test_the_scan_sees_names_and_computed_names(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text(
        'PARTS = {"part": "store/d"}\n'
        'statement("store/a", part="store/b")\nsql.source("alerts/c")\nstatement("store/e", **PARTS)\n'
        'statement(f"store/{x}")\nstatement("store/f", **parts)\n',
        encoding="utf-8")
    asked, not_literal = names_asked_for(tmp_path)
    assert set(asked) == {"store/a", "store/b", "alerts/c", "store/d", "store/e", "store/f"}
    assert not_literal == ["m.py:5", "m.py:6"]


def test_statement_is_cached_text_with_its_parameters() -> None:
    stmt = statement("store/plan_tasks")
    assert stmt is statement("store/plan_tasks")
    assert set(stmt.compile().params) == {"run", "platforms"}
    assert stmt.text == source("store/plan_tasks")


@pytest.mark.parametrize("name", ["store/no_such_statement", "nowhere/plan_tasks", "plan_tasks",
                                  "store/../store/plan_tasks", "store/plan_tasks.sql"])
def test_unknown_name_is_a_clear_error(name: str) -> None:
    with pytest.raises(SnappriceError, match=f"no SQL statement named '{name}'"):
        statement(name)


def test_placeholders_and_fragments_must_agree() -> None:
    with pytest.raises(SnappriceError, match=r"placeholders \[\], but fragments were given for \['extra'\]"):
        statement("store/plan_tasks", extra="store/run_counts")
