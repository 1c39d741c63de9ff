"""Per-SKU match checks in the store: verdicts decide the `match` rows, reruns add nothing."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from snapprice.models import CheckedResults, MatchCheck
from snapprice.store.loader import load_snapshots
from snapprice.store.match_checks import cached_features, cached_urls, save_pictures
from snapprice.store.runs import create_run
from tests.store.test_loader import rows, snap

pytestmark = pytest.mark.integration

T1 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


def check(sku, item, status, score=None, reason=None):
    return MatchCheck(sku, "taobao", item, status, score, reason, "d" + item)


def test_only_passing_pairs_are_matched_with_their_own_score(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    batch = [snap("1"), snap("2", rank=2), snap("3", rank=3)]
    checks = [check("A", "1", "match", 0.9), check("B", "1", "rejected", 0.1),
              check("A", "2", "unverified", reason="timeout"), check("B", "2", "match", 0.7),
              check("A", "3", "rejected", 0.2), check("B", "3", "unverified", reason="too_large")]
    got = load_snapshots(conn, run, T1, batch, skus=["A", "B"], checks=checks, check_version=1)
    assert (got.listings, got.snapshots, got.matches) == (3, 3, 2)
    assert rows(conn, "SELECT m.sku, l.item_id, m.best_score FROM match m JOIN listing l"
                      " USING (listing_id) ORDER BY 1, 2") == [("A", "1", 0.9), ("B", "2", 0.7)]
    assert rows(conn, "SELECT c.sku, l.item_id, c.status, c.score, c.reason FROM match_check c"
                      " JOIN listing l USING (listing_id) ORDER BY 1, 2") == [
        ("A", "1", "match", 0.9, None), ("A", "2", "unverified", None, "timeout"),
        ("A", "3", "rejected", 0.2, None), ("B", "1", "rejected", 0.1, None),
        ("B", "2", "match", 0.7, None), ("B", "3", "unverified", None, "too_large")]
    before = rows(conn, "SELECT * FROM match_check ORDER BY 1, 2") + rows(conn, "SELECT * FROM match")
    again = load_snapshots(conn, run, T1, batch, skus=["A", "B"], checks=checks, check_version=1)
    assert (again.listings, again.snapshots, again.matches) == (0, 0, 0)
    assert rows(conn, "SELECT * FROM match_check ORDER BY 1, 2") + rows(conn, "SELECT * FROM match") == before


def test_a_later_rejection_removes_the_match_and_unverified_keeps_the_verdict(conn):
    run1 = create_run(conn, kind="manual", catalog="c", config_digest="d")
    run2 = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run1, T1, [snap("1"), snap("2", rank=2)], skus=["A"],
                   checks=[check("A", "1", "match", 0.9), check("A", "2", "match", 0.8)], check_version=1)
    load_snapshots(conn, run2, T2, [snap("1"), snap("2", rank=2)], skus=["A"],
                   checks=[check("A", "1", "rejected", 0.1), check("A", "2", "unverified", reason="timeout")],
                   check_version=1)
    # Item 1's picture now shows something else: no match (its snapshots stay). Item 2's
    # picture could not be had: its earlier verdict stands and so does its match.
    assert rows(conn, "SELECT l.item_id, m.last_run_id FROM match m JOIN listing l USING (listing_id)") == [
        ("2", run2)]
    assert rows(conn, "SELECT l.item_id, c.status, c.run_id FROM match_check c JOIN listing l"
                      " USING (listing_id) ORDER BY 1") == [("1", "rejected", run2), ("2", "match", run1)]
    assert rows(conn, "SELECT count(*) FROM price_snapshot") == [(4,)]


def test_replay_matches_only_stored_passing_checks(conn):
    run = create_run(conn, kind="manual", catalog="c", config_digest="d")
    load_snapshots(conn, run, T1, [snap("1"), snap("2", rank=2)], skus=["A"],
                   checks=[check("A", "1", "match", 0.9), check("A", "2", "rejected", 0.3)], check_version=1)
    conn.execute(sa.text("DELETE FROM match"))
    load_snapshots(conn, run, T1, [snap("1"), snap("2", rank=2)], skus=["A"], update_existing=True,
                   checked=True)
    assert rows(conn, "SELECT l.item_id, m.best_score FROM match m JOIN listing l USING (listing_id)") == [
        ("1", 0.9)]


def test_picture_cache_by_url_and_digest(conn):
    learnt = CheckedResults([], 1, urls={"http://x/a.jpg": "da", "http://x/b.jpg": "db"},
                            features={"da": b"\x01\x02", "db": b"\x03"})
    save_pictures(conn, learnt, T1)
    save_pictures(conn, learnt, T1)  # idempotent
    assert rows(conn, "SELECT count(*) FROM picture_url") == [(2,)]
    assert cached_urls(conn, ["http://x/a.jpg", "http://x/c.jpg"], 1e6) == {"http://x/a.jpg": "da"}
    assert cached_urls(conn, ["http://x/a.jpg"], 1) == {}  # fetched long ago: fetched again
    assert cached_features(conn, ["da", "dc"], 1) == {"da": b"\x01\x02"}
    assert cached_features(conn, ["da"], 2) == {}  # another feature version is not reused
