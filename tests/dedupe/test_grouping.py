"""Near-duplicate grouping: exact pair search, groups, representatives, accuracy."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from bench.dedupe_eval import (
    jpeg,
    make_transformed_set,
    pairwise_scores,
    recall_by_kind,
    render_scene,
    transform,
)

from snapprice.cli.dedupe import dedupe_command
from snapprice.dedupe.colour import colours_agree, pack_colours
from snapprice.dedupe.grouping import dedupe_stats, group
from snapprice.dedupe.hamming import brute_force_pairs, near_pairs
from snapprice.dedupe.hashing.pool import hash_many
from snapprice.dedupe.hashing.records import to_signed64


def _planted(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    k = n // 5
    src = rng.integers(0, n - k, size=k)
    bits = rng.random((k, 64)) < rng.integers(0, 14, size=k)[:, None] / 64
    h[n - k:] = h[src] ^ np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)
    h[:5] = h[5]  # a bucket of identical values
    return h


@pytest.mark.parametrize("radius", [0, 1, 3, 5, 8, 10, 12, 16])
@pytest.mark.parametrize("n", [1, 2, 300, 5000])
def test_near_pairs_equals_brute_force(n: int, radius: int) -> None:
    h = _planted(n, seed=n + radius) if n > 5 else np.arange(n, dtype=np.uint64)
    got = set(zip(*(a.tolist() for a in near_pairs(h, radius)), strict=True))
    want = set(zip(*(a.tolist() for a in brute_force_pairs(h, radius)), strict=True))
    assert got == want
    if n == 5000:
        assert len(want) > 100  # the planted pairs are really there


def test_near_pairs_with_threads() -> None:
    h = _planted(20_000, seed=1)
    a = near_pairs(h, 8, threads=2)
    b = near_pairs(h, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def _frame(rows: list[tuple[str, str, int, int, int, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"sku": pl.String, "digest": pl.String, "phash": pl.Int64,
                      "width": pl.Int64, "height": pl.Int64, "colour": pl.Int64}, orient="row")


def _solid(r: int, g: int, b: int) -> int:
    return pack_colours(bytes([r, g, b] * 4))


RED, RED2, BLUE = _solid(200, 50, 50), _solid(190, 48, 48), _solid(50, 50, 200)


def test_group_representative_distance_and_ids() -> None:
    near = 0b1011  # 3 bits away from 0
    frame = _frame([
        ("s1", "d-b", 0, 400, 400, RED),
        ("s2", "d-a", near, 800, 800, RED2),  # largest: representative of group 0
        ("s3", "d-b", 0, 400, 400, RED),  # same file as s1
        ("s4", "d-c", -1, 100, 100, RED),  # all ones: far from everything
        ("s5", "d-e", 0, 800, 800, BLUE),  # same pHash, other colour: another product
        ("s6", "d-d", near, 800, 800, RED),  # ties with d-a on size; d-a < d-d wins
    ])
    out = group(frame, threshold=4)
    assert out.columns == [*frame.columns, "group_id", "is_representative", "distance"]
    assert out["group_id"].to_list() == [0, 0, 0, 1, 2, 0]
    assert out["is_representative"].to_list() == [False, True, False, True, True, False]
    assert out["distance"].to_list() == [3, 0, 3, 0, 0, 0]
    no_colour = group(frame.drop("colour"), threshold=4)
    assert no_colour["group_id"].to_list() == [0, 0, 0, 1, 0, 0]
    assert group(frame, threshold=2)["group_id"].to_list() == [0, 1, 0, 2, 3, 1]
    stats = dedupe_stats(out, rejects=[object(), object()])
    assert stats.as_dict() == {"images": 6, "unique_images": 5, "rejects": 2, "groups": 3,
                               "searches_saved": 3}


def test_group_is_deterministic_under_row_order() -> None:
    rng = np.random.default_rng(3)
    h = _planted(2000, seed=3).view(np.int64)
    frame = pl.DataFrame({"sku": [f"s{i}" for i in range(2000)],
                          "digest": [f"{i:06d}" for i in range(2000)], "phash": h,
                          "width": rng.integers(100, 900, 2000), "height": 500})
    a = group(frame, 8)
    b = group(frame.sample(fraction=1.0, shuffle=True, seed=1), 8).sort("sku")
    reps = lambda f: set(f.filter("is_representative")["digest"])  # noqa: E731
    assert reps(a) == reps(b)
    pairs = lambda f: set(f.group_by("group_id").agg("sku")["sku"].map_elements(  # noqa: E731
        lambda s: tuple(sorted(s)), return_dtype=pl.Object))
    assert pairs(a) == pairs(b)


def test_group_accepts_records_and_unsigned_hashes() -> None:
    rows = [{"sku": "a", "digest": "x", "phash": 2**64 - 1, "width": 1, "height": 1},
            {"sku": "b", "digest": "y", "phash": 2**64 - 2, "width": 2, "height": 2}]
    out = group(rows, 1)
    assert out["group_id"].to_list() == [0, 0]
    assert out["is_representative"].to_list() == [False, True]
    assert group([], 8).height == 0


HALF = pack_colours(bytes([200, 50, 50] * 2 + [50, 50, 200] * 2))  # red top, blue bottom


@pytest.mark.parametrize(("a", "b", "agree"), [
    (RED, RED2, True),  # brightness
    (RED, BLUE, False),  # recoloured
    (_solid(128, 128, 128), _solid(160, 160, 160), True),
    (_solid(2, 2, 2), _solid(5, 2, 2), True),  # near black: no colour to compare
    (RED, HALF, False),  # same mean colour would not tell these apart; the grid does
    (RED, -1, True),  # no signal
])
def test_colours_agree(a: int, b: int, agree: bool) -> None:
    assert colours_agree(np.array([a]), np.array([b]))[0] == agree


@pytest.mark.integration
def test_accuracy_on_transformed_set() -> None:
    """Pairwise precision/recall on generated near-duplicates (docs/dedupe.md has the sweep)."""
    samples = make_transformed_set(30, seed=7)
    recs = hash_many([(str(i), s.data) for i, s in enumerate(samples)], workers=2)
    frame = pl.DataFrame({
        "sku": [s.name for s in samples], "digest": [str(i) for i in range(len(samples))],
        "phash": [to_signed64(recs[str(i)].phash) for i in range(len(samples))],
        "width": [recs[str(i)].width for i in range(len(samples))],
        "height": [recs[str(i)].height for i in range(len(samples))],
        "colour": [recs[str(i)].colour for i in range(len(samples))]})
    truth = [s.cluster for s in samples]
    predicted = group(frame, 8)["group_id"].to_list()
    precision, recall = pairwise_scores(truth, predicted)
    by_kind = recall_by_kind(truth, predicted, [s.kind for s in samples])
    # The pHash + colour path (rows without a descriptor). Floors a little under the values
    # measured (1.0, 0.74, border 0.89; docs/dedupe.md): a regression fails here.
    assert precision >= 0.98
    assert recall >= 0.65
    assert min(by_kind[k] for k in ("rescale", "border")) >= 0.85
    assert min(by_kind[k] for k in ("recompress", "watermark", "mix")) >= 0.8
    blind = group(frame.drop("colour"), 8)["group_id"].to_list()
    assert pairwise_scores(truth, blind)[0] < precision  # the colour check earns its keep

    # The descriptor path (window candidates, thumbnail verification) at its defaults:
    # measured P 1.0, R 0.93, crops 0.9 on this set.
    with_dup = frame.with_columns(pl.Series("dup", [recs[str(i)].dup for i in range(len(samples))],
                                            dtype=pl.Binary))
    predicted = group(with_dup)["group_id"].to_list()
    p_dup, r_dup = pairwise_scores(truth, predicted)
    assert p_dup >= 0.99 and r_dup >= 0.88 and r_dup > recall
    assert recall_by_kind(truth, predicted, [s.kind for s in samples])["crop"] >= 0.8


@pytest.mark.parametrize(("truth", "pred", "scores"), [
    ([0, 0, 1], [0, 0, 1], (1.0, 1.0)),
    ([0, 0, 1], [0, 0, 0], (1 / 3, 1.0)),
    ([0, 0, 0], [0, 1, 2], (1.0, 0.0)),
])
def test_pairwise_scores(truth: list[int], pred: list[int], scores: tuple[float, float]) -> None:
    assert pairwise_scores(truth, pred) == pytest.approx(scores)


def test_dedupe_command_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = render_scene(1)
    (tmp_path / "a.jpg").write_bytes(jpeg(base))
    (tmp_path / "b.jpg").write_bytes(jpeg(transform(base, "recompress", random.Random(1))[0], 40))
    (tmp_path / "c.jpg").write_bytes(jpeg(render_scene(2)))
    (tmp_path / "d.jpg").write_bytes(b"")
    (tmp_path / "cat.csv").write_text(
        "sku,image\nA,a.jpg\nB,b.jpg\nC,c.jpg\nD,d.jpg\nE,../x.jpg\nA2,a.jpg\n")
    assert dedupe_command(tmp_path / "cat.csv", 8, True, 1) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stats"] == {"images": 4, "unique_images": 3, "rejects": 2, "groups": 2,
                            "searches_saved": 2}
    groups = {i["sku"]: i["group"] for i in out["images"]}
    assert groups["A"] == groups["B"] == groups["A2"] != groups["C"]
    assert {(r["source"], r["reason"]) for r in out["rejects"]} == {
        ("cat.csv:row 4", "empty_file"), ("cat.csv:row 5", "path_escapes_root")}
    (tmp_path / "bad.csv").write_text("sku,title\n1,x\n")
    assert dedupe_command(tmp_path / "bad.csv", None, False, 1) == 2
    assert "`image`" in capsys.readouterr().err
