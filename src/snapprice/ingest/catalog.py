"""Catalog ingest: CSV, Parquet, JSONL or a folder of images → validated polars frame + rejects.

Example (image paths are resolved against the catalog's folder; a bad row is a reject)::

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "catalog.csv").write_text("sku,image,title\\nA-1,a.jpg,Thermos\\nA-2,,Mug\\n")
    >>> read = read_catalog(folder / "catalog.csv")
    >>> read.items["sku"].to_list(), read.items["image_ref"][0] == str(folder / "a.jpg")
    (['A-1'], True)
    >>> [(r.source, r.reason) for r in read.rejects]
    [('catalog.csv:row 2', 'empty_image')]
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from snapprice.errors import CatalogError
from snapprice.models import Reject

# The frame every later stage receives: one row per usable (sku, image).
ITEM_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),  # 1-based data row in the source (header not counted)
    "sku": pl.String(),
    "image": pl.String(),  # as written in the catalog
    "image_ref": pl.String(),  # absolute local path or http(s) URL
    "title": pl.String(),
    "cat": pl.String(),
    "extra": pl.String(),  # other columns as one JSON object, null when there are none
}
REQUIRED = ("sku", "image")
OPTIONAL = ("title", "cat")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_STAGE = "catalog"


@dataclass
class CatalogRead:
    """Usable items (ITEM_SCHEMA) and the rows refused, each with a reason."""

    items: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)


def check_catalog_path(path: str | Path) -> Path:
    """``path`` when it is a file or a folder, else CatalogError (before any work starts)."""
    path = Path(path)
    if not (path.is_dir() or path.is_file()):
        raise CatalogError(f"catalog {path} does not exist; pass a CSV, Parquet, JSONL file or a folder")
    return path


def read_catalog(path: str | Path, *, allow_outside: bool = False) -> CatalogRead:
    """Read and validate a catalog file or folder; bad rows become rejects, the rest goes on.

    Image paths must stay in the catalog's folder unless ``allow_outside`` (``resolve_ref``).
    Raises CatalogError when the catalog cannot be read at all (missing file, unknown
    format, not UTF-8, required column ``sku`` or ``image`` missing).
    """
    path = check_catalog_path(path)
    if path.is_dir():
        return _validate(_read_folder(path), path.resolve(), path.name, allow_outside)
    raw = _read_table(path)
    return _validate(raw, path.resolve().parent, path.name, allow_outside)


def _read_table(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            return _read_csv(path, "\t" if suffix == ".tsv" else ",")
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path, infer_schema_length=None)
        else:
            raise CatalogError(
                f"catalog {path}: unknown format {suffix!r}; use .csv, .tsv, .parquet or .jsonl")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CatalogError(f"catalog {path} cannot be read: {exc}") from exc
    return frame


def _read_csv(path: Path, sep: str) -> pl.DataFrame:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogError(
            f"catalog {path} is not UTF-8 (byte {exc.start}, line {line}); "
            "re-save it as UTF-8 (e.g. `iconv -f GBK -t UTF-8`)") from exc
    if not text.strip():
        raise CatalogError(f"catalog {path} is empty; it needs a header with `sku` and `image`")
    try:
        # Everything as text: SKUs like 00123 must keep their zeros.
        return pl.read_csv(io.StringIO(text), separator=sep, infer_schema=False,
                           truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        # polars' own hint (truncate_ragged_lines=True) is for its callers, not our users.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CatalogError(
            f"catalog {path} is not valid CSV: {first}; check the quoting and that every row "
            "has as many cells as the header") from exc


def _read_folder(folder: Path) -> pl.DataFrame:
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CatalogError(f"catalog folder {folder} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return pl.DataFrame(
        {"sku": [p.stem for p in files], "image": [p.relative_to(folder).as_posix() for p in files]},
        schema={"sku": pl.String, "image": pl.String})


def _normalise_columns(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    lookup = {c.strip().lower(): c for c in frame.columns}
    missing = [c for c in REQUIRED if c not in lookup]
    if missing:
        raise CatalogError(
            f"catalog {source}: required column(s) {', '.join(f'`{c}`' for c in missing)} missing; "
            f"found {', '.join(f'`{c}`' for c in frame.columns) or 'none'}")
    known = {lookup[c]: c for c in (*REQUIRED, *OPTIONAL) if c in lookup}
    extras = [c for c in frame.columns if c not in known]
    cols = [pl.col(src).cast(pl.String).alias(dst) for src, dst in known.items()]
    cols += [pl.lit(None, pl.String).alias(c) for c in OPTIONAL if c not in lookup]
    if extras:
        cols.append(pl.struct([pl.col(c) for c in extras]).struct.json_encode().alias("extra"))
    else:
        cols.append(pl.lit(None, pl.String).alias("extra"))
    return frame.select(cols)


def resolve_ref(image: str, root: Path, *, allow_outside: bool = False) -> tuple[str | None, str]:
    """(absolute path or URL, "") for a usable image reference, else (None, reject reason).

    A URL's scheme is compared case-insensitively and written in lower case ("HTTP://…" is
    a URL). A path must stay in ``root``, the catalog's folder, once ``..`` and symlinks
    are followed (``path_escapes_root``), unless ``allow_outside`` (``[catalog]
    allow_outside``): a catalog is a file anyone may hand over, and an absolute path or a
    link in it could make the run read, hash and upload any picture on the machine.
    """
    match = _SCHEME.match(image)
    if match and len(match.group(1)) > 1:  # one letter: a Windows drive, not a scheme
        scheme = match.group(1).lower()
        if scheme in ("http", "https"):
            return scheme + image[len(scheme):], ""
        return None, "unsupported_scheme"
    full = os.path.normpath(image if os.path.isabs(image) else os.path.join(root, image))
    if not allow_outside and not _inside(full, root):
        return None, "path_escapes_root"
    return full, ""


def _inside(path: str, root: Path) -> bool:
    """Whether ``path`` is in ``root`` once symlinks (of both) are followed."""
    real_root = os.path.realpath(root)
    return os.path.commonpath((os.path.realpath(path), real_root)) == real_root


def _validate(raw: pl.DataFrame, root: Path, source: str, allow_outside: bool) -> CatalogRead:
    frame = _normalise_columns(raw, source).with_row_index("row", offset=1)
    frame = frame.with_columns(
        pl.col("row").cast(pl.Int64),
        pl.col("sku").str.strip_chars(),
        pl.col("image").str.strip_chars(),
        pl.col("title").str.strip_chars(),
        pl.col("cat").str.strip_chars(),
    )
    rejects: list[Reject] = []
    keep_rows: list[int] = []
    refs: list[str] = []
    seen: set[tuple[str, str]] = set()
    root_str = str(root)
    for row, sku, image in frame.select("row", "sku", "image").iter_rows():
        where = f"{source}:row {row}"
        if not sku:
            rejects.append(Reject(_STAGE, where, "missing_sku", "column `sku` is empty"))
            continue
        if not image:
            rejects.append(Reject(_STAGE, where, "empty_image", f"sku {sku}: column `image` is empty"))
            continue
        ref, reason = resolve_ref(image, root, allow_outside=allow_outside)
        if ref is None:
            hint = ("; it leaves the catalog's folder (absolute path, `..` or a symlink): "
                    "set [catalog] allow_outside = true to allow it"
                    if reason == "path_escapes_root" else "")
            rejects.append(Reject(_STAGE, where, reason,
                                  f"sku {sku}: image {image!r} ({root_str}){hint}"))
            continue
        if (sku, ref) in seen:
            rejects.append(Reject(_STAGE, where, "duplicate_row", f"sku {sku} image {image!r} again"))
            continue
        seen.add((sku, ref))
        keep_rows.append(row)
        refs.append(ref)
    kept = frame.filter(pl.col("row").is_in(keep_rows)) if rejects else frame
    items = kept.with_columns(pl.Series("image_ref", refs, dtype=pl.String))
    return CatalogRead(items.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA), rejects)  # type: ignore[arg-type]
