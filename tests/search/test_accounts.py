"""Several accounts of one route: calls spread by budget, a refused account set aside."""

from __future__ import annotations

import asyncio

import pytest

from snapprice.errors import ConfigError, PlatformFatal
from snapprice.search.platforms import build_searchers, close_searchers, make_http_client
from snapprice.search.platforms.accounts import AccountPool
from snapprice.settings import load_settings
from tests.search.test_platforms_sandbox import FAST, image, sandbox

ACCOUNTS = (("k1", "s1"), ("k2", "s2"), ("k3", "s3"))


def _config(tmp_path, base_url: str, accounts: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(f"""
[search]
max_attempts = 3
[platforms.taobao]
protocol = "gateway"
base_url = "{base_url}"
qps = 40
{accounts}
""", encoding="utf-8")
    return str(path)


THREE = "\n".join(f'[[platforms.taobao.accounts]]\nname = "a{i}"\n'
                  f'credentials = {{ key = "K{i}", secret = "S{i}" }}\n' for i in (1, 2, 3))
ENV = {**{f"K{i}": k for i, (k, _) in enumerate(ACCOUNTS, 1)},
       **{f"S{i}": s for i, (_, s) in enumerate(ACCOUNTS, 1)}}


def test_accounts_are_read_and_checked(tmp_path):
    settings = load_settings(_config(tmp_path, "http://x", THREE), environ=ENV)
    plat = settings.platforms["taobao"]
    assert [a.name for a in plat.credential_sets()] == ["a1", "a2", "a3"]
    assert settings.credentials("taobao", "a2") == {"key": "k2", "secret": "s2"}
    assert {"k1", "s3"} <= set(settings.secret_values())
    with pytest.raises(ConfigError, match=r"platforms.taobao.accounts\[a3\].credentials.secret: .*S3"):
        load_settings(_config(tmp_path, "http://x", THREE), environ={k: v for k, v in ENV.items() if k != "S3"})
    with pytest.raises(ConfigError, match="give credentials or accounts, not both"):
        load_settings(_config(tmp_path, "http://x", 'credentials = { key = "K1", secret = "S1" }\n' + THREE),
                      environ=ENV)
    twice = THREE.replace('name = "a3"', 'name = "a1"')
    with pytest.raises(ConfigError, match="account names must differ"):
        load_settings(_config(tmp_path, "http://x", twice), environ=ENV)


async def _search(settings, n: int):
    http = make_http_client(settings)
    searchers = build_searchers(settings, http, backoff=FAST)
    try:
        pool = searchers["taobao"]
        results = await asyncio.gather(*(pool.search(image(i), 1) for i in range(n)),
                                       return_exceptions=True)
        return pool, results
    finally:
        await close_searchers(searchers)
        await http.aclose()


@pytest.mark.integration
def test_three_accounts_share_the_calls_and_a_refused_one_is_set_aside(tmp_path):
    with sandbox(qps=200, gateway_accounts=ACCOUNTS) as handle:
        settings = load_settings(_config(tmp_path, handle.base_url, THREE), environ=ENV)
        pool, results = asyncio.run(_search(settings, 30))
        assert isinstance(pool, AccountPool)
        assert not [r for r in results if isinstance(r, BaseException)]
        by_key = handle.stats()["calls_by_key"]
        counts = sorted(by_key.get(f"gateway:{k}", 0) for k, _ in ACCOUNTS)
        # Each account takes its share (10 each when every slot comes on time; a loaded
        # machine can hand a late slot to another account).
        assert sum(counts) == 30 and counts[0] >= 6, counts

        bad = {**ENV, "S2": "wrong-secret"}  # account a2 is refused: the others carry on
        settings = load_settings(_config(tmp_path, handle.base_url, THREE), environ=bad)
        pool, results = asyncio.run(_search(settings, 30))
        assert not [r for r in results if isinstance(r, BaseException)], results
        assert pool.stopped is None and pool.calls.ok == 30

        worse = {**ENV, "S1": "x", "S2": "y", "S3": "z"}  # all refused: the platform stops
        settings = load_settings(_config(tmp_path, handle.base_url, THREE), environ=worse)
        pool, results = asyncio.run(_search(settings, 6))
        assert all(isinstance(r, PlatformFatal) for r in results)
        assert isinstance(pool.stopped, PlatformFatal)
