import pytest
import sqlalchemy as sa
from PIL import Image

from snapprice.dedupe.grouping import DEDUPE_VERSION
from snapprice.dedupe.hashing import HashRecord
from snapprice.dedupe.stage import dedupe_catalog
from snapprice.store.groups import GroupRow, forget_matches, store_groups, upsert_catalog_items
from snapprice.store.hash_cache import PgFeatureCache, PgHashCache
from snapprice.store.sql import statement

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


def test_feature_cache_roundtrip(clean_db):
    cache = PgFeatureCache(clean_db)
    cache.put_many({"a" * 64: b"\x01\x02", "b" * 64: bytes(300)})
    cache.put_many({"a" * 64: b"\x01\x02"})  # idempotent
    assert cache.get_many(["a" * 64, "b" * 64, "c" * 64]) == {"a" * 64: b"\x01\x02", "b" * 64: bytes(300)}


def test_forget_matches_of_old_groups(clean_db):
    """Only matches a SKU got through another SKU's picture in an older dedupe's group go."""
    with clean_db.begin() as conn:
        run = conn.execute(statement("store/create_run"), {"kind": "manual", "catalog": "c", "config_digest": None,
                                                           "flow_run_id": None, "slot": None}).scalar_one()
        ids = upsert_catalog_items(conn, run, [{"sku": s, "image_ref": f"{s}.jpg"} for s in "ABCD"])
        item = {s: ids[(s, f"{s}.jpg")] for s in "ABCD"}
        store_groups(conn, run, [GroupRow(0, item["A"], "d" * 64, [(item["A"], 0), (item["B"], 4)]),
                                 GroupRow(1, item["C"], "e" * 64, [(item["C"], 0), (item["D"], 2)])])
        conn.execute(sa.text("UPDATE image_group SET dedupe_version = NULL WHERE group_id = 0"))
        listing = conn.execute(sa.text(
            "INSERT INTO listing (platform, item_id, first_seen, last_seen) VALUES ('t', '1', now(), now()) "
            "RETURNING listing_id")).scalar_one()
        for s in "ABCD":
            conn.execute(sa.text("INSERT INTO match (sku, listing_id, first_seen, last_seen) "
                                 "VALUES (:s, :l, now(), now())"), {"s": s, "l": listing})
    with clean_db.connect() as conn:
        assert forget_matches(conn, DEDUPE_VERSION) == (1, 1)  # B, of the old group 0
        conn.rollback()  # a dry run
    with clean_db.begin() as conn:
        assert forget_matches(conn, DEDUPE_VERSION) == (1, 1)
        assert forget_matches(conn, DEDUPE_VERSION + 1) == (1, 1)  # D: a member under today's rule
        left = conn.execute(sa.text("SELECT sku FROM match ORDER BY sku")).scalars().all()
    assert left == ["A", "C"]
