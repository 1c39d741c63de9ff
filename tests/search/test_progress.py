"""The search stage tells its progress per platform as well as for the run."""

import pytest

from snapprice import run
from snapprice.progress import watching
from snapprice.search import executor
from snapprice.settings import load_settings
from tests.flowkit import CREDS, make_setup

pytestmark = pytest.mark.integration


def test_searches_are_counted_per_platform_and_for_the_run(clean_db, database_url, tmp_path):
    setup = make_setup(tmp_path, database_url, platforms=("taobao", "jd"), items=6, pages=2)
    settings = load_settings(setup.config, environ=CREDS)
    seen: dict[str, tuple[int, int]] = {}
    try:
        run_id = run.start_run(clean_db, settings, kind="manual", catalog="c")
        run.ingest(clean_db, settings, run_id, setup.catalog.csv_path)
        with watching(lambda stage, done, total: seen.__setitem__(stage, (done, total))):
            summary = executor.execute_searches(clean_db, settings, run_id)
    finally:
        setup.sandbox.stop()
    platforms = {s: v for s, v in seen.items() if s.startswith("search:")}
    assert set(platforms) == {"search:taobao", "search:jd"}
    assert all(done == total for done, total in platforms.values()), platforms
    # Second pages join the totals as they are found: the platforms add up to the run.
    assert sum(done for done, _ in platforms.values()) == summary.done + summary.failed + summary.skipped
