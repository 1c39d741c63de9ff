"""Fault injection: seeded, reproducible, at the configured rates, and each kind really breaks the call."""

from __future__ import annotations

import json
import math
import time

import httpx
import pytest

from snapprice.errors import ConfigError
from snapprice.sandbox import load_config, start_in_thread
from snapprice.sandbox.config import FAULT_KINDS
from snapprice.sandbox.faults import FaultPlan
from snapprice.sandbox.testing import shared_world, top_params

AUTH = {"key": "demo-key", "secret": "demo-secret"}
RATES = {"taobao": {"http_500": 0.05, "reset": 0.02, "stall": 0.01, "malformed": 0.03},
         "jd": {"code15": 0.10, "slow": 0.20, "truncated": 0.04}}


def test_observed_rates_match_configuration():
    plan = FaultPlan(RATES, seed=1)
    n = 20_000
    for target, rates in RATES.items():
        seen = [plan.decide(target) for _ in range(n)]
        for kind in FAULT_KINDS:
            rate = rates.get(kind, 0.0)
            observed = seen.count(kind) / n
            sigma = math.sqrt(max(rate * (1 - rate), 1e-12) / n)
            assert abs(observed - rate) <= 4 * sigma + 1e-9, (target, kind, observed, rate)
        assert seen.count(None) / n == pytest.approx(1 - sum(rates.values()), abs=0.02)
    assert plan.decide("pinduoduo") is None  # no rates: never faults


def test_faults_are_reproducible_per_seed_and_target():
    a, b, c = FaultPlan(RATES, seed=1), FaultPlan(RATES, seed=1), FaultPlan(RATES, seed=2)
    seq_a = [a.decide("jd") for _ in range(500)]
    # Interleaving calls to another target does not shift this target's sequence.
    seq_b = []
    for _ in range(500):
        b.decide("taobao")
        seq_b.append(b.decide("jd"))
    assert seq_a == seq_b
    assert seq_a != [c.decide("jd") for _ in range(500)]
    a.reset()
    assert [a.decide("jd") for _ in range(500)] == seq_a


@pytest.mark.parametrize(("faults", "message"), [
    ({"amazon": {"reset": 0.1}}, "unknown target"),
    ({"jd": {"explode": 0.1}}, "unknown kind"),
    ({"jd": {"reset": 1.5}}, "not within"),
    ({"jd": {"reset": 0.6, "stall": 0.6}}, "more than 1"),
    ({"aliyun": {"ban": 0.1}}, "throttles without bans"),
])
def test_bad_fault_config_is_refused(tmp_path, faults, message):
    path = tmp_path / "sb.toml"
    lines = ["[sandbox]", "n_products = 5"]
    for target, rates in faults.items():
        lines.append(f'[sandbox.faults."{target}"]')
        lines += [f"{k} = {v}" for k, v in rates.items()]
    path.write_text("\n".join(lines))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def _gateway(client, sb, platform):
    return client.get(f"{sb.base_url}/{platform}/item_search_img/",
                      params={**AUTH, "imgid": f"{sb.base_url}/img/product/P000001.jpg"})


@pytest.mark.integration
def test_each_fault_kind_breaks_the_call_as_configured():
    world = shared_world(60)
    cfg = world.config.model_copy(update={
        "faults": {"taobao": {"reset": 1.0}, "1688": {"truncated": 1.0}, "jd": {"malformed": 1.0},
                   "pinduoduo": {"http_503": 1.0}, "top": {"code15": 1.0}},
    })
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=5) as c:
        with pytest.raises(httpx.TransportError):
            _gateway(c, sb, "taobao")
        with pytest.raises(httpx.RemoteProtocolError):
            _gateway(c, sb, "1688")
        r = _gateway(c, sb, "jd")
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)
        r = _gateway(c, sb, "pinduoduo")
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
        m = "taobao.tbk.dg.pailitao.widget.convert"
        err = c.post(f"{sb.base_url}/router/rest", data=top_params(cfg, m, adzone_id="1")).json()
        assert err["error_response"]["code"] == 15
        assert err["error_response"]["sub_code"].startswith("isp.")
        stats = sb.stats()
        assert stats["platforms"]["taobao"]["faults"] == {"reset": 1, "code15": 1}  # TOP is taobao
        assert stats["platforms"]["1688"]["faults"] == {"truncated": 1}
        assert stats["protocols"]["top"]["faults"] == {"code15": 1}
        # The server survives every fault.
        assert c.get(f"{sb.base_url}/_admin/stats").status_code == 200

    cfg = world.config.model_copy(update={
        "stall_seconds": 3.0, "slow_seconds": 0.4,
        "faults": {"taobao": {"stall": 1.0}, "1688": {"slow": 1.0}, "jd": {"code15": 1.0},
                   "pinduoduo": {"http_502": 1.0}},
    })
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=1.0) as c:
        with pytest.raises(httpx.ReadTimeout):
            _gateway(c, sb, "taobao")
        started = time.perf_counter()
        assert _gateway(c, sb, "1688").json()["error_code"] in ("0000", "2000")
        assert time.perf_counter() - started >= 0.4
        assert _gateway(c, sb, "jd").json()["error_code"] == "4017"
        assert _gateway(c, sb, "pinduoduo").status_code == 502


@pytest.mark.integration
def test_ban_fault_bans_a_caller_within_its_qps():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"faults": {"jd": {"ban": 1.0}, "top": {"ban": 1.0}},
                                          "qps": 1000, "ban_seconds": 30})
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=5) as c:
        assert _gateway(c, sb, "jd").json()["error_code"] == "4008"
        assert _gateway(c, sb, "taobao").json()["error_code"] in ("0000", "2000")  # others unharmed
        m = "taobao.tbk.dg.pailitao.widget.convert"
        err = c.post(f"{sb.base_url}/router/rest", data=top_params(cfg, m, adzone_id="1")).json()
        assert err["error_response"]["code"] == 7
        assert "30 more seconds" in err["error_response"]["msg"] + err["error_response"].get("sub_msg", "")
        stats = sb.stats()
        assert stats["protocols"]["gateway"]["bans"] == 1 and stats["protocols"]["top"]["bans"] == 1
        assert stats["protocols"]["gateway"]["faults"] == {}  # a ban, not a broken answer


@pytest.mark.integration
def test_http_fault_rate_over_the_wire():
    world = shared_world(60)
    cfg = world.config.model_copy(update={"faults": {"jd": {"http_500": 0.2}}, "qps": 10_000})
    n = 400
    with start_in_thread(cfg, world=world) as sb, httpx.Client(timeout=5) as c:
        statuses = [c.get(f"{sb.base_url}/jd/item_search_img/", params={**AUTH, "imgid": "1"}).status_code
                    for _ in range(n)]
        observed = statuses.count(500) / n
        assert abs(observed - 0.2) <= 4 * math.sqrt(0.2 * 0.8 / n)
        assert sb.stats()["platforms"]["jd"]["faults"]["http_500"] == statuses.count(500)
        plan = FaultPlan(cfg.faults, cfg.fault_seed)
        expected = [500 if plan.decide("jd") == "http_500" else 200 for _ in range(n)]
        assert statuses == expected  # the same calls meet the same faults
