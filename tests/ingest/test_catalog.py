"""Catalog ingest: formats, per-row rejects, catalogs that cannot be read at all."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from snapprice.errors import CatalogError
from snapprice.ingest.catalog import ITEM_SCHEMA, read_catalog, resolve_ref

ROOT = Path("/data/cat")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("a.jpg", ("/data/cat/a.jpg", "")),
        ("sub/../b.jpg", ("/data/cat/b.jpg", "")),
        ("../outside.jpg", (None, "path_escapes_root")),
        ("sub/../../x.jpg", (None, "path_escapes_root")),
        ("/abs/c.jpg", (None, "path_escapes_root")),
        ("/etc/passwd", (None, "path_escapes_root")),
        ("/data/cat/sub/c.jpg", ("/data/cat/sub/c.jpg", "")),
        ("/data/cat/../other/c.jpg", (None, "path_escapes_root")),
        ("/data/catalogue/c.jpg", (None, "path_escapes_root")),  # a sibling sharing a prefix
        ("https://cdn.example/x.jpg", ("https://cdn.example/x.jpg", "")),
        ("HTTP://cdn.example/x.jpg", ("http://cdn.example/x.jpg", "")),
        ("HtTpS://cdn.example/X.JPG", ("https://cdn.example/X.JPG", "")),
        ("ftp://host/x.jpg", (None, "unsupported_scheme")),
        ("data:image/png;base64,AAAA", (None, "unsupported_scheme")),
        ("file:///etc/passwd", (None, "unsupported_scheme")),
    ],
)
def test_resolve_ref(image: str, expected: tuple[str | None, str]) -> None:
    assert resolve_ref(image, ROOT) == expected


@pytest.mark.parametrize(("image", "expected"), [
    ("/abs/c.jpg", "/abs/c.jpg"), ("../outside.jpg", "/data/outside.jpg"), ("a.jpg", "/data/cat/a.jpg")])
def test_allow_outside_lets_paths_leave_the_folder(image: str, expected: str) -> None:
    assert resolve_ref(image, ROOT, allow_outside=True) == (expected, "")


def test_symlinks_out_of_the_catalog_folder_are_refused(tmp_path: Path) -> None:
    """A link inside the folder to a picture (or a folder) outside it leaves the folder too;
    in a folder catalog as in a CSV, unless [catalog] allow_outside."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.jpg").write_bytes(b"\xff\xd8\xff private")
    cat = tmp_path / "cat"
    (cat / "img").mkdir(parents=True)
    (cat / "img" / "ok.jpg").write_bytes(b"\xff\xd8\xff")
    (cat / "img" / "link.jpg").symlink_to(secret / "key.jpg")
    (cat / "img" / "dir").symlink_to(secret, target_is_directory=True)
    (cat / "img" / "inner.jpg").symlink_to(cat / "img" / "ok.jpg")  # stays inside: fine
    (cat / "catalog.csv").write_text(
        "sku,image\nA,img/ok.jpg\nB,img/link.jpg\nC,img/dir/key.jpg\nD,img/inner.jpg\n"
        f"E,{secret / 'key.jpg'}\nF,{cat / 'img' / 'ok.jpg'}\n", encoding="utf-8")
    read = read_catalog(cat / "catalog.csv")
    assert read.items["sku"].to_list() == ["A", "D", "F"]
    assert [(r.source, r.reason) for r in read.rejects] == [
        ("catalog.csv:row 2", "path_escapes_root"), ("catalog.csv:row 3", "path_escapes_root"),
        ("catalog.csv:row 5", "path_escapes_root")]
    assert "allow_outside = true" in read.rejects[0].detail
    folder = read_catalog(cat / "img")
    assert sorted(folder.items["sku"].to_list()) == ["inner", "ok"]
    # link.jpg is refused; the linked folder is not walked into at all
    assert [(r.source, r.reason) for r in folder.rejects] == [("img:row 2", "path_escapes_root")]
    allowed = read_catalog(cat / "catalog.csv", allow_outside=True)
    assert allowed.items["sku"].to_list() == ["A", "B", "C", "D", "E", "F"] and not allowed.rejects


def test_csv_rows_and_rejects(tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text(
        "SKU , Image,title,colour,price\n"
        "00123,img/a.jpg,Red mug,red,9.5\n"
        ",img/b.jpg,no sku,,\n"
        "B2,,no image,,\n"
        "C3,ftp://x/y.jpg,,,\n"
        "D4,../../etc/passwd,,,\n"
        "00123,img/a.jpg,Red mug again,red,9.5\n"
        "E5,https://cdn.example/e.jpg,,,\n",
        encoding="utf-8",
    )
    read = read_catalog(csv)
    assert read.items.schema == pl.Schema(ITEM_SCHEMA)
    assert read.items["sku"].to_list() == ["00123", "E5"]  # leading zeros kept
    assert read.items["row"].to_list() == [1, 7]
    assert read.items["image_ref"].to_list() == [
        str(tmp_path / "img/a.jpg"), "https://cdn.example/e.jpg"]
    assert json.loads(read.items["extra"][0]) == {"colour": "red", "price": "9.5"}
    assert [(r.source, r.reason) for r in read.rejects] == [
        ("catalog.csv:row 2", "missing_sku"),
        ("catalog.csv:row 3", "empty_image"),
        ("catalog.csv:row 4", "unsupported_scheme"),
        ("catalog.csv:row 5", "path_escapes_root"),
        ("catalog.csv:row 6", "duplicate_row"),
    ]
    assert all(r.stage == "catalog" for r in read.rejects)


def test_parquet_and_jsonl(tmp_path: Path) -> None:
    frame = pl.DataFrame({"sku": ["1", "2"], "image": ["a.jpg", "b.png"], "cat": ["x", None]})
    frame.write_parquet(tmp_path / "c.parquet")
    (tmp_path / "c.jsonl").write_text(
        '{"sku": 1, "image": "a.jpg", "title": "t", "n": 3}\n{"sku": "2", "image": "b.png"}\n')
    pq = read_catalog(tmp_path / "c.parquet")
    assert pq.items["sku"].to_list() == ["1", "2"]
    assert pq.items["cat"].to_list() == ["x", None]
    assert pq.items["extra"].to_list() == [None, None]
    js = read_catalog(tmp_path / "c.jsonl")
    assert js.items["sku"].to_list() == ["1", "2"]
    assert js.items["title"].to_list() == ["t", None]
    assert json.loads(js.items["extra"][0]) == {"n": 3}


def test_folder_of_images(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("A1.jpg", "sub/B2.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    read = read_catalog(tmp_path)
    assert read.items["sku"].to_list() == ["A1", "B2"]
    assert read.items["image"].to_list() == ["A1.jpg", "sub/B2.PNG"]
    assert read.items["image_ref"][1] == str(tmp_path / "sub/B2.PNG")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"sku,title\n1,x\n", "`image`"),
        (b"name,picture\n1,x\n", "`sku`, `image`"),
        ("sku,image\n1,红.jpg\n".encode("gbk"), "not UTF-8"),
        (b"", "empty"),
    ],
)
def test_unreadable_csv_raises(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(CatalogError, match=message):
        read_catalog(path)


def test_missing_catalog_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="does not exist"):
        read_catalog(tmp_path / "nope.csv")
    (tmp_path / "c.xlsx").write_bytes(b"PK")
    with pytest.raises(CatalogError, match="unknown format"):
        read_catalog(tmp_path / "c.xlsx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="no image files"):
        read_catalog(tmp_path / "empty")
