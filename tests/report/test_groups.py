"""The report's near-duplicate groups: the last run's multi-image groups, bounded, with scores."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy.engine import Engine

from snapprice import run
from snapprice.report import write_report
from snapprice.report.data import collect
from snapprice.report.groups import collect_groups, render_groups
from snapprice.settings import load_settings
from tests.dedupe.pictures import catalog as write_catalog
from tests.dedupe.test_verdicts import _images

pytestmark = pytest.mark.integration


def _ingest(engine: Engine, catalog: Path) -> int:
    settings = load_settings("config/snapprice.toml", {}, require_credentials=False)
    run_id = run.start_run(engine, settings, kind="manual", catalog=str(catalog))
    run.ingest(engine, settings, run_id, catalog, platforms=[])
    return run_id


def test_groups_section_of_the_last_run(clean_db: Engine, tmp_path: Path) -> None:
    images = _images()
    images["red-again"] = images["red"]  # the same files under other SKUs
    images["red-framed-again"] = images["red-framed"]
    catalog = write_catalog(tmp_path / "c", images)
    _ingest(clean_db, catalog)
    last = _ingest(clean_db, catalog)  # the second run verifies nothing: scores come from pair_verdict
    with clean_db.connect() as conn:
        section = collect_groups(conn)
    m = section.members
    assert section.run_id == last
    red = m.filter(m["sku"].str.starts_with("red") & (m["sku"] != "red-mint"))
    assert red["group_id"].n_unique() == 1 and red.height == 5
    assert m["n_members"].to_list() == sorted(m["n_members"].to_list(), reverse=True)  # biggest first
    assert m.group_by("group_id").agg(pl.col("is_representative").sum())["is_representative"].to_list() == [1] * 2
    others = red.filter(~red["is_representative"] & (red["content_digest"] != red.filter("is_representative")
                                                     ["content_digest"][0]))
    assert others.height >= 2 and others["same"].to_list() == [True] * others.height
    assert (others["inliers"] >= 30).all() and others["agreement"].is_not_null().all()
    assert all(t.startswith("data:image/jpeg;base64,") for t in m["thumb"])  # grey copies from image_feature
    html = render_groups(section)
    assert html.count("<div class='grp'>") == section.n_groups
    assert re.search(r"\d+ inliers, colour 0\.\d\d, aligned [01]\.\d\d", html)
    print(re.findall(r"<figcaption>(.*?)</figcaption>", html))
    assert "same file" in html and "blue" in html
    with clean_db.connect() as conn:
        assert set(collect_groups(conn, "blue").members["sku"]) == {"blue", "blue-dark"}
        assert collect_groups(conn, "green").members.height == 0  # alone: no multi-image group
        data = collect(conn, datetime.now(UTC).date(), None)
    assert data.groups is not None and data.groups.n_groups == section.n_groups
    page = write_report(clean_db, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<section id='groups'>" in page and html in page


def test_groups_section_is_bounded(clean_db: Engine, tmp_path: Path) -> None:
    images = _images()
    for k in range(5):
        images[f"red-{k}"] = images["red"]
    _ingest(clean_db, write_catalog(tmp_path / "c", images))
    with clean_db.connect() as conn:
        section = collect_groups(conn, max_groups=1, max_members=3)
        full = collect_groups(conn)
    assert section.n_groups == full.n_groups == 2  # red (8 rows) and blue (2)
    assert section.members.height == 3 and section.members["is_representative"][0]
    html = render_groups(section)
    assert re.search(r"group \d+: 8 pictures", html)
    assert "(+5 more not shown)" in html and "The 1 smaller group(s) are not shown." in html


def test_no_groups(clean_db: Engine) -> None:
    with clean_db.connect() as conn:
        section = collect_groups(conn)
    assert section.n_groups == 0 and section.run_id is None
    assert "No group of two or more pictures" in render_groups(section)
