"""The pair-verdict cache: a rerun verifies no pair again, in memory and in PostgreSQL."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from PIL import Image, ImageEnhance

from snapprice.dedupe import verdicts
from snapprice.dedupe.hashing import MemoryHashCache
from snapprice.dedupe.local import PairScore
from snapprice.dedupe.stage import DedupeResult, dedupe_catalog
from snapprice.dedupe.verdicts import DEFAULTS, MemoryVerdictCache, VerdictCache, VerifierParams, verifier_key
from snapprice.store.hash_cache import PgFeatureCache, PgHashCache, PgVerdictCache
from tests.dedupe.pictures import bottle, catalog, jpeg


def _framed(im: Image.Image, pad: int) -> Image.Image:
    out = Image.new("RGB", (im.width + 2 * pad, im.height + 2 * pad), "white")
    out.paste(im, (pad, pad))
    return out


def _images() -> dict[str, bytes]:
    """Two products with copies, a colour variant and a label variant: pairs that pass and fail."""
    red, blue = bottle((200, 30, 30), "SNAP 42 ml"), bottle((30, 60, 200), "GLOW 42 ml")
    return {
        "red": jpeg(red), "red-crop": jpeg(red.crop((10, 8, 236, 232)), 70),
        "red-framed": jpeg(_framed(red, 20), 60),
        "blue": jpeg(blue), "blue-dark": jpeg(ImageEnhance.Brightness(blue).enhance(0.85), 80),
        "green": jpeg(bottle((30, 150, 60), "SNAP 42 ml")), "red-mint": jpeg(bottle((200, 30, 30), "MINT 42 ml")),
    }


def _groups(result: DedupeResult) -> list[tuple[str, int, bool, int]]:
    return result.frame.sort("sku").select("sku", "group_id", "is_representative", "distance").rows()


def _run(path: Path, cache: VerdictCache, params: VerifierParams = DEFAULTS) -> DedupeResult:
    return dedupe_catalog(path, MemoryHashCache(), threshold=14, workers=1, verdicts=cache, params=params)


def test_rerun_verifies_nothing_and_groups_alike(tmp_path: Path) -> None:
    path = catalog(tmp_path / "c", _images())
    cache = MemoryVerdictCache()
    first, second = _run(path, cache), _run(path, cache)
    assert first.verified > 0 and first.described > 0
    assert (second.verified, second.described) == (0, 0)  # no pair scored, no feature loaded
    assert _groups(second) == _groups(first)
    assert second.scores == first.scores  # the page's scores come from the cache
    groups = {frozenset(g) for g in first.frame.group_by("group_id").agg("sku")["sku"].to_list()}
    assert frozenset({"red", "red-crop", "red-framed"}) in groups  # the set has pairs that pass…
    assert any(not s.same for s in first.scores.values())  # … and pairs that fail


def test_cached_verdicts_decide(tmp_path: Path) -> None:
    """The cache is read, not just counted: a planted verdict changes the groups."""
    path = catalog(tmp_path / "c", _images())
    cache = MemoryVerdictCache()
    first = _run(path, cache)
    digest = dict(first.frame.select("sku", "digest").iter_rows())
    for k in list(cache.verdicts):
        if {k[1], k[2]} == {digest["red"], digest["red-crop"]}:
            cache.verdicts[k] = PairScore(0, 2.0, False)
    second = _run(path, cache)
    assert second.verified == 0
    gid = dict(second.frame.select("sku", "group_id").iter_rows())
    assert gid["red"] != gid["red-crop"]


def test_a_changed_parameter_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = catalog(tmp_path / "c", _images())
    cache = MemoryVerdictCache()
    first = _run(path, cache)
    for params in (VerifierParams(min_inliers=31), VerifierParams(colour_tolerance=0.61),
                   VerifierParams(min_agreement=0.61)):
        assert params.key() != verifier_key()
        assert _run(path, cache, params).verified == first.verified  # every pair again
    assert _run(path, cache).verified == 0  # the defaults' verdicts are still there
    monkeypatch.setattr(verdicts, "LOCAL_VERSION", verdicts.LOCAL_VERSION + 1)
    assert _run(path, cache).verified == first.verified
    monkeypatch.setattr(verdicts, "VERDICT_VERSION", verdicts.VERDICT_VERSION + 1)
    assert _run(path, cache).verified == first.verified


def test_new_picture_verifies_only_its_pairs(tmp_path: Path) -> None:
    images = _images()
    cache = MemoryVerdictCache()
    first = _run(catalog(tmp_path / "c", images), cache)
    red = Image.open(io.BytesIO(images["red"]))
    images["red-small"] = jpeg(red.resize((180, 180)), 75)
    second = _run(catalog(tmp_path / "c", images), cache)
    new = second.frame.filter(pl.col("sku") == "red-small")["digest"][0]
    fresh = {k for k, s in second.scores.items() if k not in first.scores}
    assert fresh and all(new in k for k in fresh)
    assert second.verified == len(fresh)
    # Only its features and its partners' were loaded (here: every picture is a partner).
    assert second.described == len({d for k in fresh for d in k})
    gid = dict(second.frame.select("sku", "group_id").iter_rows())
    assert gid["red-small"] == gid["red"]


@pytest.mark.integration
def test_postgres_cache_rerun_and_groups_as_without_cache(clean_db, tmp_path: Path) -> None:
    path = catalog(tmp_path / "c", _images())

    def run(params: VerifierParams = DEFAULTS) -> DedupeResult:
        return dedupe_catalog(path, PgHashCache(clean_db), threshold=14, workers=1, features=PgFeatureCache(clean_db),
                              verdicts=PgVerdictCache(clean_db), params=params)

    uncached = _run(path, MemoryVerdictCache())
    first, second = run(), run()
    assert first.verified == uncached.verified > 0
    assert (second.verified, second.described) == (0, 0)
    assert _groups(first) == _groups(second) == _groups(uncached)
    assert second.scores.keys() == first.scores.keys()
    for k, s in first.scores.items():  # colour and agreement come back as real (float32)
        got = second.scores[k]
        assert (got.same, got.inliers) == (s.same, s.inliers)
        assert got.colour == pytest.approx(s.colour, abs=1e-6)
        assert (got.agreement is None) == (s.agreement is None)
    with clean_db.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM pair_verdict").scalar_one()
    assert n == first.verified
    assert run(VerifierParams(min_inliers=31)).verified == first.verified  # another key: all again
    PgVerdictCache(clean_db).put_many(first.scores, verifier_key())  # idempotent
    with clean_db.connect() as conn:
        keys = conn.exec_driver_sql("SELECT k.key, count(*) FROM pair_verdict JOIN pair_verifier AS k "
                                    "USING (verifier) GROUP BY 1 ORDER BY 1").all()
    assert keys == sorted([(verifier_key(), n), (VerifierParams(min_inliers=31).key(), n)])


@pytest.mark.integration
def test_postgres_cache_new_picture(clean_db, tmp_path: Path) -> None:
    images = _images()
    cache = PgVerdictCache(clean_db)
    first = _run(catalog(tmp_path / "c", images), cache)
    images["blue-crop"] = jpeg(Image.open(io.BytesIO(images["blue"])).crop((12, 6, 230, 238)), 80)
    second = _run(catalog(tmp_path / "c", images), cache)
    new = second.frame.filter(pl.col("sku") == "blue-crop")["digest"][0]
    assert 0 < second.verified == sum(1 for k in second.scores if new in k and k not in first.scores)
    assert _run(catalog(tmp_path / "c", images), cache).verified == 0

