"""`snapprice dedupe CATALOG`: near-duplicate groups of a catalog's images, and what they save."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snapprice.dedupe.hashing import MemoryHashCache, from_signed64
from snapprice.dedupe.page import groups_html
from snapprice.dedupe.stage import DedupeResult, ImageLimits, dedupe_catalog
from snapprice.errors import SnappriceError
from snapprice.settings import load_settings

SHOWN_REJECTS = 20

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _as_json(result: DedupeResult, catalog: Path, threshold: int) -> dict[str, Any]:
    images = [
        {
            "row": r["row"], "sku": r["sku"], "image": r["image"], "digest": r["digest"],
            "phash": f"{from_signed64(r['phash']):016x}", "width": r["width"],
            "height": r["height"], "group": r["group_id"],
            "representative": r["is_representative"], "distance": r["distance"],
        }
        for r in result.frame.iter_rows(named=True)
    ]
    return {
        "catalog": str(catalog),
        "threshold": threshold,
        "stats": result.stats.as_dict() if result.stats else {},
        "hashed": result.hashed,
        "rejects": [
            {"stage": r.stage, "source": r.source, "reason": r.reason, "detail": r.detail}
            for r in result.rejects
        ],
        "images": images,
    }


def _print_summary(console: Console, result: DedupeResult, threshold: int) -> None:
    s = result.stats
    assert s is not None
    console.print(f"catalog rows    {s.images + s.rejects}")
    console.print(f"usable images   {s.images} ({s.unique_images} distinct files)")
    console.print(f"rejects         {s.rejects}")
    for (stage, reason), n in sorted(Counter((r.stage, r.reason) for r in result.rejects).items()):
        console.print(f"  {stage}/{reason}: {n}")
    for r in result.rejects[:SHOWN_REJECTS]:
        console.print(f"    {r.source}  {r.reason}  {r.detail}", markup=False, highlight=False)
    if len(result.rejects) > SHOWN_REJECTS:
        console.print(f"    … {len(result.rejects) - SHOWN_REJECTS} more (--json lists them all)")
    console.print(f"groups          {s.groups} (pHash candidates within {threshold} bits, verified)")
    console.print(f"searches saved  {s.searches_saved} per platform")


def dedupe_command(
    catalog: Path,
    threshold: int | None = None,
    json_out: bool = False,
    workers: int = 0,
    config: Path | None = None,
    html_out: Path | None = None,
) -> int:
    """Run dedupe on a catalog and print the result; returns the exit code (0 ok, 2 error).
    ``html_out``: also write every multi-image group as a row of thumbnails there."""
    err = Console(stderr=True)
    try:
        settings = load_settings(config, require_credentials=False).dedupe
        limit = settings.threshold if threshold is None else threshold
        limits = ImageLimits(settings.max_image_bytes, settings.max_pixels, settings.fetch_timeout)
        with Progress(TextColumn("{task.description:<6}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=True,
                      disable=not err.is_terminal) as bar:
            tasks: dict[str, Any] = {}

            def progress(stage: str, advance: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.advance(tasks[stage], advance)

            result = dedupe_catalog(catalog, MemoryHashCache(), threshold=limit,
                                    workers=workers or settings.workers, limits=limits,
                                    progress=progress)
    except SnappriceError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    if html_out is not None:
        try:
            html_out.write_text(groups_html(result.frame, result.sources, result.scores,
                                            f"dedupe groups of {catalog.name}"), encoding="utf-8")
        except OSError as exc:
            err.print(f"[bold red]error:[/] {html_out}: cannot be written ({exc.strerror})",
                      highlight=False, soft_wrap=True)
            return 2
    if json_out:
        sys.stdout.write(json.dumps(_as_json(result, catalog, limit), ensure_ascii=False) + "\n")
    else:
        _print_summary(Console(soft_wrap=True), result, limit)  # a path is never cut in two
    return 0


@app.callback(invoke_without_command=True,
              context_settings={"allow_interspersed_args": True})
def dedupe(
    ctx: typer.Context,
    catalog: Annotated[Path, typer.Argument(help="CSV, Parquet, JSONL file or a folder of images.")],
    threshold: Annotated[int | None, typer.Option(
        "--threshold", min=0, max=32,
        help="pHash Hamming radius for candidate pairs, then verified on thumbnails (default: config).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable result on stdout.")] = False,
    workers: Annotated[int, typer.Option("--workers", min=0, help="Hashing processes (0: every core).")] = 0,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="Write every group of two or more images as thumbnails with pair scores "
                       "(one offline HTML file).")] = None,
) -> None:
    """Group near-duplicate images of CATALOG and report the searches saved."""
    root = ctx.find_root().obj or {}
    code = dedupe_command(catalog, threshold, json_out, workers, root.get("config"), html_out)
    raise typer.Exit(code)
