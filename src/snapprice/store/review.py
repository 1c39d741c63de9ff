"""Reviews that stick: a person rejects or confirms one SKU ↔ listing pair, once.

A decision is kept in ``match_decision`` by the marketplace's own ids, so it outlives
re-runs, re-dedupes and re-matches: the loader never matches a rejected pair again
(``sql/app/store/match_rows.sql``), and a rejected pair's current match moves to
``match_retired`` (history, not the current views). Confirming a pair that a reject had
retired brings its match back. Matches of SKUs that a catalog dropped or re-imaged are
retired the same way (:func:`retire_skus`).

>>> parse_pair("taobao:6012345")
('taobao', '6012345')
>>> parse_pair("6012345")
Traceback (most recent call last):
...
snapprice.errors.ConfigError: listing '6012345' is not PLATFORM:ITEM_ID (e.g. taobao:6012345)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import Connection

from snapprice.errors import ConfigError
from snapprice.store.sql import statement

Decision = Literal["reject", "confirm"]
DECISIONS: tuple[str, ...] = ("reject", "confirm")
IMPORT_COLUMNS = ("sku", "platform", "item_id", "decision", "note")


def parse_pair(text: str) -> tuple[str, str]:
    """``PLATFORM:ITEM_ID`` → ``(platform, item_id)``; the item id may itself hold colons."""
    platform, sep, item_id = text.strip().partition(":")
    if not sep or not platform.strip() or not item_id.strip():
        raise ConfigError(f"listing {text!r} is not PLATFORM:ITEM_ID (e.g. taobao:6012345)")
    return platform.strip(), item_id.strip()


@dataclass(frozen=True, slots=True)
class DecisionRow:
    sku: str
    platform: str
    item_id: str
    decision: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Applied:
    decisions: int
    retired: int
    restored: int


def unknown(conn: Connection, rows: Sequence[DecisionRow]) -> dict[int, str]:
    """Index → reason for each row whose SKU or listing the database does not know."""
    skus = sorted({r.sku for r in rows})
    known_skus = {s for (s,) in conn.execute(statement("review/known_skus"), {"skus": skus})}
    pairs = sorted({(r.platform, r.item_id) for r in rows})
    known_items = {
        (p, i) for p, i in conn.execute(statement("review/known_items"), {
            "platforms": [p for p, _ in pairs], "items": [i for _, i in pairs]})
    }
    out: dict[int, str] = {}
    for n, r in enumerate(rows):
        if r.sku not in known_skus:
            out[n] = f"unknown SKU {r.sku!r} (not in any catalog or match)"
        elif (r.platform, r.item_id) not in known_items:
            out[n] = f"unknown listing {r.platform}:{r.item_id} (never stored by a search)"
    return out


def apply(conn: Connection, rows: Iterable[DecisionRow], source: str = "cli") -> Applied:
    """Record the decisions and act on the current matches, in the caller's transaction."""
    n = retired = restored = 0
    for r in rows:
        params = {"sku": r.sku, "platform": r.platform, "item_id": r.item_id}
        conn.execute(statement("review/decide"),
                     {**params, "decision": r.decision, "note": r.note, "source": source})
        if r.decision == "reject":
            retire = statement("review/retire_pair", keep="review/keep_retired")
            retired += conn.execute(retire, {**params, "reason": "rejected"}).scalar_one()
        else:
            restored += conn.execute(statement("review/restore_pair"), params).scalar_one()
        n += 1
    return Applied(n, retired, restored)


def retire_skus(conn: Connection, skus: Sequence[str], reason: str) -> int:
    """Move every match of these SKUs to ``match_retired``; returns the rows moved."""
    if not skus:
        return 0
    retire = statement("review/retire_skus", keep="review/keep_retired")
    return int(conn.execute(retire, {"skus": list(skus), "reason": reason}).scalar_one())


def retire_catalog_changes(conn: Connection, skus: Sequence[str],
                           pictures: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Retire the matches of SKUs the catalog dropped or re-imaged; reason → matches moved.
    ``skus``: every SKU of the catalog; ``pictures``: its usable (sku, content digest) pairs."""
    changed = conn.execute(statement("review/catalog_changes"), {
        "skus": sorted(set(skus)), "image_skus": [s for s, _ in pictures], "digests": [d for _, d in pictures],
    }).all()
    moved: dict[str, int] = {}
    for reason in ("sku_dropped", "sku_reimaged"):
        these = [sku for sku, why in changed if why == reason]
        if these:
            moved[reason] = retire_skus(conn, these, reason)
    return moved


def read_import(path: Path) -> tuple[list[DecisionRow], list[int], list[Refused]]:
    """Rows of a decisions file (CSV with a header: sku, platform, item_id, decision[, note]
    — what the report's review section exports); returns the rows, their file line
    numbers, and the lines refused for their form, each with a reason."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"decisions file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"decisions file {path} is not UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"decisions file {path} cannot be read: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in IMPORT_COLUMNS[:4] if c not in header]
    if missing:
        raise ConfigError(f"decisions file {path}: the header lacks {', '.join(missing)} "
                          f"(expected: {','.join(IMPORT_COLUMNS)})")
    rows: list[DecisionRow] = []
    lines: list[int] = []
    refused: list[Refused] = []
    for raw in reader:
        line = reader.line_num
        rec = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(rec.values()):
            continue
        decision = rec.get("decision", "").lower()
        if not rec.get("sku"):
            refused.append(Refused(line, "empty sku"))
        elif not rec.get("platform") or not rec.get("item_id"):
            refused.append(Refused(line, "empty platform or item_id"))
        elif decision not in DECISIONS:
            refused.append(Refused(line, f"decision {rec.get('decision')!r} is not reject or confirm"))
        else:
            rows.append(DecisionRow(rec["sku"], rec["platform"], rec["item_id"], decision,
                                    rec.get("note") or None))
            lines.append(line)
    return rows, lines, refused


def list_decisions(conn: Connection, sku: str | None = None) -> list[dict[str, object]]:
    return [dict(r._mapping) for r in conn.execute(statement("review/list_decisions"), {"sku": sku})]
