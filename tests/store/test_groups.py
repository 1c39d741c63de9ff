import pytest
from PIL import Image

from snapprice.dedupe.hashing import HashRecord
from snapprice.dedupe.stage import dedupe_catalog
from snapprice.store.hash_cache import PgHashCache

pytestmark = pytest.mark.integration


def test_hash_cache_roundtrip_keeps_all_64_bits_and_the_descriptor(clean_db):
    cache = PgHashCache(clean_db)
    recs = [HashRecord("a" * 64, (1 << 64) - 1, 10, 20, 300, (1 << 59) + 5),
            HashRecord("b" * 64, 1 << 63, 1, 1, 1, None),
            HashRecord("c" * 64, 0, 5, 5, 50, 0, bytes(range(256)) + b"\x00" * 24)]
    cache.put_many(recs)
    cache.put_many(recs)  # idempotent
    got = cache.get_many(["a" * 64, "b" * 64, "c" * 64, "d" * 64])
    assert got == {r.digest: r for r in recs}


def test_rerun_over_unchanged_catalog_hashes_nothing(clean_db, tmp_path):
    rows = ["sku,image"]
    for i in range(6):
        im = Image.new("RGB", (96, 96), (40 * i, 255 - 30 * i, 90))
        for x in range(0, 96, 8 + i):
            im.paste((255, 255, 255), (x, 0, x + 3, 96))
        im.save(tmp_path / f"{i}.jpg", quality=90)
        rows.append(f"S{i},{i}.jpg")
    (tmp_path / "c.csv").write_text("\n".join(rows) + "\n")
    first = dedupe_catalog(tmp_path / "c.csv", PgHashCache(clean_db), threshold=6, workers=1)
    second = dedupe_catalog(tmp_path / "c.csv", PgHashCache(clean_db), threshold=6, workers=1)
    assert (first.hashed, second.hashed) == (6, 0)
    assert first.frame["dup"].null_count() == 0  # the descriptor comes back from the cache too
    assert first.frame.sort("sku").to_dicts() == second.frame.sort("sku").to_dicts()
