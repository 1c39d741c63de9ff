"""Scale: the search stage holds the query pictures of the tasks in flight, not the run's."""

from __future__ import annotations

import pytest

from snapprice.sandbox import SandboxConfig, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog
from snapprice.search import executor
from tests.reliability.kit import PlatformCfg, run_pipeline, settings_for, write_config

pytestmark = pytest.mark.integration

PLATFORMS = ("taobao", "jd")
CONCURRENCY = 2


class _Watched(executor._Images):
    peak = 0

    async def get(self, gid, url_only=False):  # type: ignore[no-untyped-def]
        image = await super().get(gid, url_only)
        _Watched.peak = max(_Watched.peak, len(self._cache))
        return image


def test_query_pictures_are_released(clean_db, database_url, tmp_path, monkeypatch):
    monkeypatch.setattr(executor, "_Images", _Watched)
    with start_in_thread(SandboxConfig(seed=11, n_products=60, qps=200)) as sb:
        catalog = generate_catalog(sb.world, tmp_path / "catalog", 40, seed=8)
        config = write_config(tmp_path / "snapprice.toml", database_url=database_url,
                              catalog=catalog.csv_path, base_url=sb.base_url,
                              concurrency=CONCURRENCY,
                              platforms=[PlatformCfg(p, qps=100, pages=2) for p in PLATFORMS])
        result = run_pipeline(clean_db, settings_for(config), catalog.csv_path)
    assert result["status"] == "succeeded", result
    in_flight = CONCURRENCY * len(PLATFORMS)
    print(f"\nmemory: {result['n_groups']} groups searched, at most {_Watched.peak} query pictures "
          f"held at once ({in_flight} searches in flight)")
    assert result["n_groups"] > 3 * in_flight
    # The platforms' queues drift apart (one platform a few groups ahead of the other, more
    # on a loaded machine: 7 seen for 4 in flight), and a group's picture is kept until its
    # last platform is done with it; what must not happen is holding the run's pictures.
    assert _Watched.peak <= 2 * in_flight
