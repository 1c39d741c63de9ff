"""The protocol table and its readers: client classes, archived-body parsing, config checks."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest
from pydantic import SecretStr

from snapprice.backfill.replay import parse_archived
from snapprice.errors import ConfigError, RateLimited, TransientError
from snapprice.search.platforms import PROTOCOLS, check_platforms, client_class
from snapprice.settings import Settings, load_settings

ALIYUN_OK = {"Code": 0, "Success": True, "Data": {"Auctions": [
    {"Result": {"ItemId": "enc-1", "Title": "音响", "ReservePrice": "2999.00", "ZkFinalPrice": "2199"}},
    {"Result": {"ItemId": "enc-2", "Title": "音箱", "ReservePrice": "10.00"}}]}}
AOP_OK = {"result": {"success": "true", "result": {"totalRecords": 1, "data": [
    {"offerId": 710891050473, "subject": "标题", "priceInfo": {"price": "12.50"}}]}}}
GATEWAY_OK = {"error_code": "0000", "items": {"item": [{"num_iid": 7, "price": "2599"}]}}
TOP_OK = {"tbk_dg_material_optional_response": {"result_list": {"map_data": [
    {"item_id": 5, "zk_final_price": "9.90"}]}}}


def test_each_line_names_its_class_protocol():
    for name, cls in PROTOCOLS.items():
        assert cls.protocol == name
        assert cls.credential_fields and all(isinstance(f, str) for f in cls.credential_fields)
        assert isinstance(inspect.getattr_static(cls, "parse"), staticmethod), name


def test_every_parse_has_the_one_signature():
    first = inspect.signature(next(iter(PROTOCOLS.values())).parse)
    assert list(first.parameters) == ["marketplace", "body", "page", "page_size", "options"]
    for cls in PROTOCOLS.values():
        assert inspect.signature(cls.parse) == first, cls


# (protocol, body, page, page_size, options) -> [(item_id, price, price_unit, rank)]
PARSE_CASES = [
    (("gateway", GATEWAY_OK, 2, 10, {}), [("7", "2599", "yuan", 11)]),
    (("gateway", GATEWAY_OK, 1, 10, {"price_unit": "fen"}), [("7", "2599", "fen", 1)]),
    (("top", TOP_OK, 1, 20, {"method": "taobao.tbk.dg.material.optional"}), [("5", "9.90", "yuan", 1)]),
    (("aliyun-imagesearch", ALIYUN_OK, 2, 2, {}), [("enc-1", "2999.00", "yuan", 3),
                                                   ("enc-2", "10.00", "yuan", 4)]),
    (("1688-aop", AOP_OK, 1, None, {}), [("710891050473", "12.50", "yuan", 1)]),
]


@pytest.mark.parametrize(("args", "expected"), PARSE_CASES)
def test_parse_archived_reads_the_registry(args, expected):
    protocol, body, page, page_size, options = args
    items = parse_archived(protocol, "taobao", body, page, options, page_size)
    assert [(i.item_id, i.price, i.price_unit, i.rank) for i in items] == expected


def test_parse_archived_raises_the_bodys_error_and_rejects_unknown_protocols():
    with pytest.raises(RateLimited):
        parse_archived("gateway", "jd", {"error_code": "4008", "reason": "busy"}, 1, {}, 20)
    with pytest.raises(TransientError, match="tbk_dg"):  # options.method picks the wrapper
        parse_archived("top", "taobao", {"a_response": {}, "b_response": {}}, 1,
                       {"method": "taobao.tbk.dg"}, 20)
    with pytest.raises(ConfigError, match=r"replay: raw_response.protocol: 'smtp' is not a known protocol"):
        parse_archived("smtp", "taobao", {}, 1, {}, 20)


def test_client_class_lists_what_is_known():
    assert client_class("1688-aop") is PROTOCOLS["1688-aop"]
    with pytest.raises(ConfigError, match=r"^platforms\.x\.protocol: 'ftp' .*known: 1688-aop, "
                                          r"aliyun-imagesearch, gateway, top\)$"):
        client_class("ftp", where="platforms.x.protocol")


# ---------------------------------------------------------------- check_platforms

GOOD = {
    "tb": ({"protocol": "gateway", "platform": "taobao"}, {"key": "k", "secret": "s"}),
    "tb_top": ({"protocol": "top", "options": {"sign_method": "md5"}},
               {"app_key": "a", "app_secret": "b"}),
    "tb_ali": ({"protocol": "aliyun-imagesearch", "options": {"pid": "mm_1_2_3"}},
               {"access_key_id": "i", "access_key_secret": "s"}),
    "ali1688": ({"protocol": "1688-aop"}, {"app_key": "1", "app_secret": "s", "access_token": "t"}),
}


def settings_with(**overrides) -> Settings:
    """GOOD with sections replaced (``name=(section, credentials)``) or dropped (None)."""
    chosen = {n: v for n, v in {**GOOD, **overrides}.items() if v is not None}
    s = Settings.model_validate({"platforms": {
        n: {"base_url": "http://127.0.0.1:1", **section} for n, (section, _) in chosen.items()}})
    s.secrets = {n: {k: SecretStr(v) for k, v in creds.items()} for n, (_, creds) in chosen.items()}
    return s


def test_check_platforms_accepts_every_protocol_and_sends_nothing():
    check_platforms(settings_with())  # the clients' transport refuses any request


@pytest.mark.parametrize(("section", "message"), [
    (({"protocol": "smtp"}, {}),
     "platforms.bad.protocol: 'smtp' is not a known protocol (known: 1688-aop, aliyun-imagesearch, "
     "gateway, top)"),
    (({"protocol": "gateway"}, {"key": "k"}),
     "platforms.bad.credentials: no value for secret (protocol gateway needs `key`, `secret`)"),
    (({"protocol": "1688-aop"}, {"app_key": "1", "app_secret": "s", "access_token": ""}),
     "platforms.bad.credentials: no value for access_token (protocol 1688-aop needs `app_key`, "
     "`app_secret`, `access_token`)"),
    (({"protocol": "top", "options": {"sign_method": "sha1"}}, {"app_key": "a", "app_secret": "b"}),
     "platforms.bad.options.sign_method: 'sha1' is not one of md5, hmac, hmac-sha256"),
    (({"protocol": "aliyun-imagesearch"}, {"access_key_id": "i", "access_key_secret": "s"}),
     "platforms.bad.options.pid: the Alimama PID (mm_xxx_xxx_xxx) the image search is billed to "
     "is required"),
])
def test_check_platforms_one_clear_message(section, message):
    with pytest.raises(ConfigError) as info:
        check_platforms(settings_with(bad=section))
    assert str(info.value) == message


def test_check_platforms_names_every_bad_section_and_skips_disabled_ones():
    s = settings_with(x=({"protocol": "top", "options": {"sign_method": "sha1"}}, {"app_key": "a", "app_secret": "b"}),
                      y=({"protocol": "gateway"}, {}), off=({"protocol": "gateway", "enabled": False}, {}))
    with pytest.raises(ConfigError) as info:
        check_platforms(s)
    text = str(info.value)
    assert text.startswith("platforms.x.options.sign_method:") and "; platforms.y.credentials:" in text
    assert "platforms.off" not in text


def test_settings_leave_the_protocol_to_the_registry(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[platforms.mail]\nprotocol = 'smtp'\nbase_url = 'http://x'\n")
    s = load_settings(cfg, environ={})
    assert s.platforms["mail"].protocol == "smtp"
    with pytest.raises(ConfigError, match=r"^platforms\.mail\.protocol: 'smtp' is not a known"):
        check_platforms(s)


# ---------------------------------------------------------------- the CLI's fail-fast path

BAD_SECTIONS = {
    "protocol": ("protocol = 'smtp'", "platforms.bad.protocol: 'smtp' is not a known protocol"),
    "credential": ("protocol = 'gateway'\ncredentials = { key = 'T_KEY' }",
                   "platforms.bad.credentials: no value for secret"),
    "sign_method": ("protocol = 'top'\noptions = { sign_method = 'sha1' }\n"
                    "credentials = { app_key = 'T_KEY', app_secret = 'T_KEY' }",
                    "platforms.bad.options.sign_method: 'sha1' is not one of"),
}


@pytest.mark.parametrize(("command", "bad"), [
    (["run"], "protocol"),
    (["serve"], "credential"),
    (["backfill", "--since", "2026-01-01", "--until", "2026-01-02", "--fill-gaps"], "sign_method"),
])
def test_cli_stops_on_a_bad_section_before_prefect(tmp_path, command, bad):
    body, message = BAD_SECTIONS[bad]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[platforms.bad]\nbase_url = 'http://127.0.0.1:1'\n{body}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SNAPPRICE_", "PREFECT_"))}
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "snapprice", "--config", str(cfg),
                          *command], capture_output=True, text=True, timeout=120,
                         env={**env, "T_KEY": "k"}, cwd=tmp_path)
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines()
                if line.startswith("import time:")}
    errors = [line for line in out.stderr.splitlines() if not line.startswith("import time:")]
    assert out.returncode == 2, out.stderr
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert "snapprice.search.platforms.registry" in imported and "prefect" not in imported


def test_the_default_limiter_is_shared_whenever_there_is_a_database():
    """Two runs at once with per-process budgets doubled the QPS (29 calls in a second for a
    budget of 16): with a database the default is the PostgreSQL limiter."""
    from snapprice.search.platforms.registry import limiter_mode
    from snapprice.settings import DatabaseSettings, SearchSettings, Settings

    assert Settings().search.limiter == "auto"
    assert limiter_mode(Settings(), dsn="postgresql://h/db") == "postgres"
    assert limiter_mode(Settings(database=DatabaseSettings(url="postgresql://h/db")), dsn=None) == "postgres"
    assert limiter_mode(Settings(), dsn=None) == "process"
    assert limiter_mode(Settings(search=SearchSettings(limiter="process")), dsn="postgresql://h/db") == "process"
