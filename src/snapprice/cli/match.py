"""`snapprice match`: reject or confirm a SKU ↔ listing pair once, and it stays decided."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from snapprice.cli.context import database_from, settings_from
from snapprice.errors import ConfigError
from snapprice.store import review

app = typer.Typer(no_args_is_help=True)
console = Console()
err = Console(stderr=True)

_PAIR = typer.Argument(help="The listing as PLATFORM:ITEM_ID (as the report and db query show it).")
_NOTE = typer.Option("--note", help="Why (kept with the decision).")


def _decide(ctx: typer.Context, decision: str, sku: str, listing: str, note: str | None) -> None:
    from snapprice.store.database import make_engine

    platform, item_id = review.parse_pair(listing)
    row = review.DecisionRow(sku.strip(), platform, item_id, decision, note)
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            with engine.begin() as conn:
                bad = review.unknown(conn, [row])
                if bad:
                    raise ConfigError(bad[0])
                done = review.apply(conn, [row])
        finally:
            engine.dispose()
    if decision == "reject":
        console.print(f"rejected {platform}:{item_id} for {row.sku}: it never counts as the SKU's price again"
                      + (f" ({done.retired} current match retired)" if done.retired else ""), soft_wrap=True)
    else:
        console.print(f"confirmed {platform}:{item_id} for {row.sku}: kept whatever a match check scores it"
                      + (f" ({done.restored} match restored)" if done.restored else ""), soft_wrap=True)


@app.command()
def reject(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The catalog SKU.")],
    listing: Annotated[str, _PAIR],
    note: Annotated[str | None, _NOTE] = None,
) -> None:
    """Not the same product: the listing never again counts for this SKU (history is kept)."""
    _decide(ctx, "reject", sku, listing, note)


@app.command()
def confirm(
    ctx: typer.Context,
    sku: Annotated[str, typer.Argument(help="The catalog SKU.")],
    listing: Annotated[str, _PAIR],
    note: Annotated[str | None, _NOTE] = None,
) -> None:
    """The same product: keep the match even under the match-check threshold."""
    _decide(ctx, "confirm", sku, listing, note)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV: sku,platform,item_id,decision[,note] (the report exports it).")],
) -> None:
    """Apply a file of decisions; lines with unknown SKUs or listings are refused with reasons."""
    from snapprice.store.database import make_engine

    rows, lines, refused = review.read_import(path)
    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            with engine.begin() as conn:
                bad = review.unknown(conn, rows)
                refused += [review.Refused(lines[i], reason) for i, reason in bad.items()]
                done = review.apply(conn, [r for i, r in enumerate(rows) if i not in bad], source=path.name)
        finally:
            engine.dispose()
    for r in sorted(refused, key=lambda r: r.line):
        err.print(f"{path}:{r.line}: refused: {r.reason}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{done.decisions} decision(s) applied ({done.retired} match(es) retired, "
                  f"{done.restored} restored), {len(refused)} line(s) refused", soft_wrap=True)
    if refused:
        raise typer.Exit(1)


@app.command("list")
def list_(
    ctx: typer.Context,
    sku: Annotated[str | None, typer.Option("--sku", help="Only this SKU.")] = None,
) -> None:
    """The decisions made so far, newest first."""
    from snapprice.store.database import make_engine

    settings = settings_from(ctx)
    with database_from(ctx, settings) as db:
        engine = make_engine(db)
        try:
            with engine.connect() as conn:
                rows = review.list_decisions(conn, sku)
        finally:
            engine.dispose()
    if not rows:
        console.print("no decisions" + (f" for {sku}" if sku else ""))
        return
    table = Table("sku", "listing", "decision", "decided (UTC)", "note", "title")
    for r in rows:
        table.add_row(str(r["sku"]), f"{r['platform']}:{r['item_id']}", str(r["decision"]),
                      str(r["decided_at"])[:19], str(r["note"] or ""), str(r["title"] or ""))
    console.print(table)
