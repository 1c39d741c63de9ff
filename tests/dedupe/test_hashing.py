"""pHash bits (imagehash-compatible), image normalisation, the pool and the cache."""

from __future__ import annotations

import importlib
import io
import threading
from pathlib import Path
from types import SimpleNamespace

import imagehash
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from snapprice.dedupe.hashing import batch, decode, pool
from snapprice.dedupe.hashing.batch import hash_chunk, hash_image, phash_bytes
from snapprice.dedupe.hashing.decode import read_encoded, to_gray
from snapprice.dedupe.hashing.pool import hash_many, hash_with_cache
from snapprice.dedupe.hashing.records import (
    HashRecord,
    MemoryHashCache,
    Rejected,
    Result,
    from_signed64,
    hamming,
    to_signed64,
)
from snapprice.dedupe.hashing.resize import shrink
from snapprice.dedupe.hashing.trim import TRIM_TOLERANCE, _far, trim_box
from snapprice.errors import ImageRejected


def _photo(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A smooth random picture (blobs of colour), different for every seed."""
    rng = np.random.default_rng(seed)
    small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


def _encode(im: Image.Image, fmt: str = "JPEG", **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _imagehash(im: Image.Image) -> int:
    return int(str(imagehash.phash(im)), 16)


@pytest.mark.parametrize("seed", range(6))
def test_same_bits_as_imagehash_without_draft(seed: int) -> None:
    im = _photo(seed)
    assert phash_bytes(_encode(im, "PNG"), trim=False) == _imagehash(im)


@pytest.mark.parametrize("seed", range(6))
def test_draft_decoding_moves_few_bits(seed: int) -> None:
    data = _encode(_photo(seed, (800, 800)), quality=85)
    naive = _imagehash(Image.open(io.BytesIO(data)))
    assert hamming(phash_bytes(data), naive) <= 4


def test_exif_orientation_is_applied() -> None:
    im = _photo(1, (400, 300))
    upright = phash_bytes(_encode(im, quality=95))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90° clockwise
    stored = _encode(im.transpose(Image.Transpose.ROTATE_90), quality=95, exif=exif.tobytes())
    rec = hash_image(stored)
    assert (rec.width, rec.height) == (400, 300)
    assert hamming(rec.phash, upright) <= 2


def test_modes_cmyk_palette_alpha_16bit() -> None:
    im = _photo(2)
    rgb = phash_bytes(_encode(im, "PNG"))
    assert hamming(phash_bytes(_encode(im.convert("CMYK"), quality=95)), rgb) <= 4
    assert hamming(phash_bytes(_encode(im.quantize(256), "PNG")), rgb) <= 6
    # Transparent pixels count as white, not as whatever colour they hide.
    rgba = im.convert("RGBA")
    rgba.putalpha(Image.new("L", im.size, 0).resize(im.size))
    alpha = np.asarray(rgba).copy()
    alpha[:, : im.width // 2, 3] = 255
    half = Image.fromarray(alpha, "RGBA")
    white = Image.new("RGB", im.size, "white")
    white.paste(im.crop((0, 0, im.width // 2, im.height)), (0, 0))
    assert hamming(phash_bytes(_encode(half, "PNG")), phash_bytes(_encode(white, "PNG"))) <= 2
    # 16-bit grey: rescaled to 8 bits (Pillow's convert("L") would clip it to white).
    grey = np.asarray(im.convert("L"), dtype=np.uint16) * 257
    deep = _encode(Image.fromarray(grey), "PNG")
    assert hash_image(deep).width == 400
    assert hamming(phash_bytes(deep), phash_bytes(_encode(im.convert("L"), "PNG"))) <= 2


@pytest.mark.parametrize(
    ("pad", "colour"), [((40, 40, 40, 40), "white"), ((0, 30, 0, 30), "black"), ((25, 0, 25, 0), "#808080")])
def test_uniform_borders_are_trimmed(pad: tuple[int, int, int, int], colour: str) -> None:
    im = _photo(3)
    framed = Image.new("RGB", (im.width + pad[0] + pad[2], im.height + pad[1] + pad[3]), colour)
    framed.paste(im, (pad[0], pad[1]))
    plain = phash_bytes(_encode(im, quality=90))
    assert hamming(phash_bytes(_encode(framed, quality=90)), plain) <= 4
    assert hamming(phash_bytes(_encode(framed, quality=90), trim=False), plain) > 4


def test_product_on_plain_background_is_not_cut_to_the_object() -> None:
    im = Image.new("RGB", (400, 400), "white")
    im.paste(_photo(4, (120, 160)), (100, 120))
    rec = hash_image(_encode(im, "PNG"))
    assert rec.phash == phash_bytes(_encode(im, "PNG"), trim=False)


@pytest.mark.parametrize("side", [100, 256, 400])
def test_rounded_panel_is_cut_alike_at_every_scale(side: int) -> None:
    # A panel on a plain backdrop: its rounded corners make the first lines past the backdrop
    # mostly backdrop, and how many lines that takes depends on the scale.
    im = Image.new("L", (400, 400), 236)
    ImageDraw.Draw(im).rounded_rectangle((80, 90, 304, 314), radius=24, fill=60)
    gray = np.asarray(im.resize((side, side), Image.Resampling.BOX))
    box = np.array(trim_box(gray)) / side
    assert np.abs(box - np.array([80, 90, 305, 315]) / 400).max() <= 0.02


def _sky(levels: np.ndarray) -> np.ndarray:
    """100 × 100: a band of rows with the given grey levels over a busy picture."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (100, 100)).astype(np.uint8)
    gray[: levels.size] = levels.astype(np.uint8)[:, None]
    return gray


@pytest.mark.parametrize(
    ("gray", "box"),
    [
        (_sky(np.linspace(80, 130, 50)), (0, 0, 100, 100)),  # smooth gradient: never sliced
        (_sky(80 + 7 * (np.arange(48) // 4)), (0, 0, 100, 100)),  # the same, quantised by JPEG
        (_sky(np.r_[np.full(6, 255), np.full(20, 248)]), (0, 26, 100, 100)),  # pad, backdrop: a step
        (_sky(np.full(20, 200)), (0, 20, 100, 100)),  # a flat letterbox
    ],
)
def test_gradients_are_not_taken_for_pads(gray: np.ndarray, box: tuple[int, int, int, int]) -> None:
    assert trim_box(gray) == box
    padded = np.full((120, 120), 255, np.uint8)
    padded[10:110, 10:110] = gray
    if gray[0, 0] != 255:  # a white pad around it comes off, the rest as without it
        assert trim_box(padded) == (10, 10 + box[1], 110, 110)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"not an image", "not_an_image"), (_encode(_photo(5))[:300], "corrupt")])
def test_unhashable_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(ImageRejected) as info:
        phash_bytes(data)
    assert info.value.reason == reason


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_signed64_round_trip(value: int) -> None:
    signed = to_signed64(value)
    assert -(2**63) <= signed < 2**63
    assert from_signed64(signed) == value


def test_hash_many_pool_equals_in_process_and_reports_errors(tmp_path: Path) -> None:
    items: list[tuple[str, bytes | str]] = []
    for i in range(40):
        data = _encode(_photo(i))
        if i % 2:
            path = tmp_path / f"{i}.jpg"
            path.write_bytes(data)
            items.append((f"d{i}", str(path)))
        else:
            items.append((f"d{i}", data))
    items.append(("broken", b"garbage"))
    errors: dict[str, str] = {}
    done: list[int] = []
    one = hash_many(items, workers=1)
    two = hash_many(items, workers=2, progress=done.append,
                    on_error=lambda d, e: errors.__setitem__(d, e.reason))
    assert one == two and len(two) == 40
    assert errors == {"broken": "not_an_image"}
    assert sum(done) == 41
    assert two["d3"].nbytes == (tmp_path / "3.jpg").stat().st_size


def test_hash_with_cache_hashes_only_missing() -> None:
    cache = MemoryHashCache()
    items = [(f"d{i}", _encode(_photo(i))) for i in range(5)]
    cache.put_many([HashRecord("d0", 123, 1, 1, 1)])
    records, computed = hash_with_cache(items, cache, workers=1)
    assert computed == 4 and records["d0"].phash == 123
    again, computed = hash_with_cache(items, cache, workers=1)
    assert computed == 0 and again == records


def test_hash_with_cache_saves_chunk_by_chunk(monkeypatch, tmp_path):
    monkeypatch.setattr(pool, "CACHE_CHUNK", 2)
    images = []
    for i in range(5):
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (32, 32), (50 * i, 20, 200 - 30 * i)).save(p)
        images.append((f"{i:064x}", str(p)))
    writes = []

    class Recording(MemoryHashCache):
        def put_many(self, records):
            writes.append(len(records))
            super().put_many(records)

    records, computed = hash_with_cache(images, Recording(), workers=1)
    assert computed == 5 and len(records) == 5
    assert writes == [2, 2, 1]


@pytest.mark.parametrize("seed", range(8))
def test_fast_resize_matches_pillow(seed: int) -> None:
    """Drafts are shrunk by matrix products; Pillow's LANCZOS gives the same pixels."""
    rng = np.random.default_rng(seed)
    side = int(rng.integers(40, 128))
    gray = np.asarray(_photo(seed, (side, side)).convert("L"))
    full = (0, 0, side, side)
    pillow = Image.fromarray(gray).resize((32, 32), Image.Resampling.LANCZOS)
    assert np.array_equal(shrink(gray, full, 32), np.asarray(pillow))
    # A trimmed box of any shape: Pillow may run its two passes the other way round for tall
    # boxes, which moves a pixel by at most one grey level.
    left, top, right, bottom = (int(v) for v in rng.integers(0, 10, size=4))
    box = (left, top, side - right, side - bottom)
    ref = np.asarray(Image.fromarray(gray).resize((32, 32), Image.Resampling.LANCZOS, box=box)).astype(int)
    assert np.abs(shrink(gray, box, 32) - ref).max() <= 1


def test_fast_path_gives_the_pillow_path_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    datas = [_encode(_photo(seed, (800, 800)), quality=80) for seed in range(10)]
    fast = [phash_bytes(d) for d in datas]
    monkeypatch.setattr(batch, "FAST_SIDE", 0)  # everything through Pillow's resize
    assert [phash_bytes(d) for d in datas] == fast


def test_big_non_jpeg_gets_its_descriptor_from_a_reduced_copy() -> None:
    from snapprice.dedupe.features import DESC_BYTES, unpack

    im = _photo(7, (900, 700))
    png, jpg = hash_image(_encode(im, "PNG")), hash_image(_encode(im, quality=92))
    assert png.dup is not None and len(png.dup) == DESC_BYTES
    feats = unpack([png.dup, jpg.dup])  # the PNG at full size, the JPEG as a 1/8 draft
    assert hamming(int(feats.full[0]), int(feats.full[1])) <= 4


def test_plain_jpegs_decode_like_pillows_draft(monkeypatch: pytest.MonkeyPatch) -> None:
    """JPEGs without EXIF skip Pillow's decoder (simplejpeg, same libjpeg-turbo): same records."""
    im = _photo(8, (820, 600))
    datas = [_encode(im, quality=85), _encode(im.convert("L"), quality=85),
             _encode(im, quality=70, progressive=True), _encode(im.resize((60, 44)), quality=90),
             _encode(im.resize((511, 700)), quality=80)]
    fast = [hash_image(d) for d in datas]
    monkeypatch.setattr(decode, "_decode_plain_jpeg", lambda data, side, into=None: None)
    assert [hash_image(d) for d in datas] == fast


def test_fast_jpeg_path_is_taken_and_exif_goes_to_pillow(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []
    real = decode._decode_plain_jpeg
    monkeypatch.setattr(decode, "_decode_plain_jpeg",
                        lambda data, side, into=None: taken.append(real(data, side, into)) or taken[-1])
    exif = Image.Exif()
    exif[0x0112] = 6
    hash_image(_encode(_photo(9), quality=90))
    hash_image(_encode(_photo(9), quality=90, exif=exif.tobytes()))
    hash_image(_encode(_photo(9).convert("CMYK"), quality=90))
    hash_image(_encode(_photo(9), quality=90, icc_profile=b"\x00" * 70_000))  # a header of 2 segments
    plain = _encode(_photo(9), quality=90)
    at = plain.index(b"\xff\xdb")  # EXIF placed after the quantisation tables
    app1 = exif.tobytes()  # "Exif\\0\\0", then the TIFF block
    late = hash_image(plain[:at] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + plain[at:])
    assert [t is not None for t in taken] == [True, False, False, True, False]
    assert (late.width, late.height) == (300, 400)  # turned by its orientation


def _mixed_batch() -> list[bytes]:
    """Plain photos, framed ones (two cut to the same size), a letterbox, a plain backdrop, a big
    PNG, garbage, a truncated JPEG, an odd size and a tiny PNG."""
    framed, framed_too = Image.new("RGB", (800, 800), "white"), Image.new("RGB", (800, 800), "white")
    framed.paste(_photo(30, (640, 560)), (80, 120))
    framed_too.paste(_photo(33, (640, 560)), (80, 120))  # cut to the same size: batched together
    letterbox = Image.new("RGB", (800, 800), "black")
    letterbox.paste(_photo(31, (800, 500)), (0, 150))
    backdrop = Image.new("RGB", (800, 800), (236, 236, 236))
    backdrop.paste(_photo(32, (300, 420)), (250, 190))
    datas = [_encode(_photo(seed, (800, 800)), quality=80) for seed in range(12)]
    datas[3:3] = [_encode(framed, quality=85), _encode(letterbox, quality=85), _encode(backdrop, quality=85),
                  _encode(framed_too, quality=85)]
    datas += [_encode(_photo(40, (900, 700)), "PNG"), b"garbage", _encode(_photo(41, (800, 800)))[:400],
              _encode(_photo(42, (803, 797)), quality=80), _encode(_photo(43, (40, 40)), "PNG")]
    return datas


def _alone(items: list[tuple[str, bytes]]) -> dict[str, Result]:
    alone: dict[str, Result] = {}
    for digest, data in items:
        try:
            alone[digest] = hash_image(data, digest)
        except ImageRejected as exc:
            alone[digest] = Rejected(digest, exc.reason, exc.detail)
    return alone


def _by_digest(results: list[Result]) -> dict[str, Result]:
    return {r.digest: r for r in results}


def test_a_batch_gives_the_records_of_one_image_at_a_time() -> None:
    """hash_chunk works on same-size drafts as one batch (padded ones and big images apart):
    every record is the one hash_image computes alone, rejects included, in any mix."""
    datas = _mixed_batch()
    items = [(f"d{i}", data) for i, data in enumerate(datas)]
    alone = _alone(items)
    assert _by_digest(hash_chunk(items)) == alone
    assert alone["d3"].phash != phash_bytes(datas[3], trim=False)  # the framed ones were cut
    assert alone["d6"].phash != phash_bytes(datas[6], trim=False)
    assert [d for d, r in alone.items() if isinstance(r, Rejected)] == ["d17", "d18"]


@pytest.mark.parametrize("size", [4, 32])
def test_a_batch_read_from_files_gives_the_same_records(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Files are read into reused buffers and drafts decoded into one array per size; a size
    whose array fills up is hashed at once, the items past BATCH are read the plain way, and
    a file over READ_REUSE is too. Every record is still the one of that image alone, call
    after call (the buffers hold the previous call's bytes)."""
    monkeypatch.setattr(batch, "BATCH", size)
    monkeypatch.setattr(decode, "READ_REUSE", 60_000)
    datas = _mixed_batch()
    paths = []
    for i, data in enumerate(datas):
        paths.append(tmp_path / f"{i}.img")
        paths[-1].write_bytes(data)
    assert any(len(d) > 60_000 for d in datas) and any(len(d) < 60_000 for d in datas)
    alone = _alone([(f"d{i}", data) for i, data in enumerate(datas)])
    assert _by_digest(hash_chunk([(f"d{i}", str(p)) for i, p in enumerate(paths)])) == alone
    order = list(range(len(paths)))[::-1]  # other files land in the buffers this time
    assert _by_digest(hash_chunk([(f"d{i}", str(paths[i])) for i in order])) == alone


def test_a_jpeg_that_fails_in_libjpeg_alone_in_its_chunk_is_a_reject() -> None:
    """libjpeg is handed an array for the draft, then fails (truncated data): Pillow's reject
    stands, and the draft size it opened, with no image in it, is not hashed."""
    data = _encode(_photo(61, (800, 800)), quality=80)
    assert [(r.digest, r.reason) for r in hash_chunk([("t", data[:len(data) * 3 // 5])])] == [("t", "corrupt")]


def test_a_file_that_grows_while_it_is_read_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _encode(_photo(60, (800, 800)), quality=80)
    path = tmp_path / "a.jpg"
    path.write_bytes(data)
    monkeypatch.setattr(decode.os, "fstat", lambda fd: SimpleNamespace(st_size=1000))  # its size before it grew
    assert bytes(read_encoded(str(path), 0)) == data
    assert bytes(read_encoded(data, 0)) == data


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)), min_size=1, max_size=64))
def test_grey_is_pillows_convert(pixels: list[tuple[int, int, int]]) -> None:
    rgb = np.array(pixels, dtype=np.uint8).reshape(1, -1, 3)
    assert np.array_equal(to_gray(rgb), np.asarray(Image.fromarray(rgb).convert("L")))


@given(st.lists(st.integers(0, 255), min_size=1, max_size=40), st.integers(0, 255))
def test_off_colour_count_is_the_tolerance_test(line: list[int], colour: int) -> None:
    pixels = np.array([line], dtype=np.uint8)
    expected = sum(abs(v - colour) > TRIM_TOLERANCE for v in line)
    assert _far(pixels, np.array([colour], dtype=np.uint8)).tolist() == [expected]


def test_big_images_go_grey_in_slabs(monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = np.asarray(_photo(50, (333, 250)))
    pillow = np.asarray(Image.fromarray(rgb).convert("L"))
    monkeypatch.setattr(decode, "GRAY_SLAB", 3 * 333 * 7)  # 7 rows at a time
    assert np.array_equal(to_gray(rgb), pillow)
    assert np.array_equal(to_gray(np.stack([rgb, rgb[::-1]])), np.stack([pillow, pillow[::-1]]))


def test_a_broken_exif_block_is_a_reject_not_a_crash_of_the_batch() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Cam"
    raw = bytearray(exif.tobytes())
    at = raw.index(b"\x01\x0f")
    raw[at:at + 2] = b"\x01\x43"  # the Make tag turned into one Pillow cannot unpack
    broken = _encode(_photo(51), quality=90, exif=bytes(raw))
    results = hash_chunk([("bad", broken), ("good", _encode(_photo(52), quality=90))])
    assert [(r.digest, r.reason) for r in results if isinstance(r, Rejected)] == [("bad", "corrupt")]
    assert [r.digest for r in results if isinstance(r, HashRecord)] == ["good"]


def test_forkserver_workers_preload_what_they_run() -> None:
    """A forkserver skips a preload module that fails to import (each worker then imports it
    itself): the list must name the modules of what a worker runs."""
    for fn in (hash_chunk, pool._one_blas_thread):
        assert fn.__module__ in pool.WORKER_MODULES
    for name in pool.WORKER_MODULES:
        importlib.import_module(name)


def test_a_pool_started_from_a_threaded_process_gives_the_same_records() -> None:
    """With another thread alive the pool is a forkserver, its workers set up by an initializer."""
    items = [(f"d{i}", _encode(_photo(i))) for i in range(6)]
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert pool._pool_context().get_start_method() == "forkserver"
        assert hash_many(items, workers=2) == hash_many(items, workers=1)
    finally:
        stop.set()
        other.join()
