import re
from pathlib import Path

import pytest

from snapprice.errors import ConfigError
from snapprice.settings import load_settings

CREDS = {"SNAPPRICE_GATEWAY_KEY": "k", "SNAPPRICE_GATEWAY_SECRET": "s3cr3t"}


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(body, encoding="utf-8")
    return p


def test_committed_defaults_load():
    s = load_settings("config/snapprice.toml", environ=CREDS)
    assert set(s.enabled_platforms()) == {"taobao", "1688", "jd", "pinduoduo"}
    assert s.platforms["taobao_top"].platform == "taobao"
    assert s.credentials("jd") == {"key": "k", "secret": "s3cr3t"}
    assert s.dedupe.threshold == 14


def test_env_overlay_and_database_url(tmp_path):
    cfg = write(tmp_path, '[platforms.jd]\nprotocol="gateway"\nbase_url="http://x/"\n')
    s = load_settings(cfg, environ={
        "SNAPPRICE_PLATFORMS__JD__QPS": "2.5", "SNAPPRICE_SEARCH__CONCURRENCY": "3",
        "DATABASE_URL": "postgresql://u@h/db",
    })
    assert s.platforms["jd"].qps == 2.5
    assert s.platforms["jd"].base_url == "http://x"
    assert s.search.concurrency == 3
    assert s.database.url == "postgresql://u@h/db"


def test_config_env_var_selects_file(tmp_path):
    cfg = write(tmp_path, "[search]\nconcurrency = 5\n")
    assert load_settings(environ={"SNAPPRICE_CONFIG": str(cfg)}).search.concurrency == 5


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("[search]\nconcurrency = 0\n", "`search.concurrency`"),
        ("[search]\nlimiter = 'redis'\n", "`search.limiter`"),
        ("[dedupe]\nthreshhold = 3\n", "`dedupe.threshhold`"),
        ("[platforms.x]\nprotocol='gateway'\nbase_url='ftp://x'\n", "`platforms.x.base_url`"),
        ("[platforms.x]\nprotocol=''\nbase_url='http://x'\n", "`platforms.x.protocol`"),
        ("[platforms.x]\nprotocol='gateway'\nbase_url='http://x'\nqps=-1\n", "`platforms.x.qps`"),
        ("[search\n", "not valid TOML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, body, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, body), environ={})
    assert needle in str(err.value)


def test_missing_credentials_name_the_variable(tmp_path):
    cfg = write(tmp_path, "[platforms.jd]\nprotocol='gateway'\nbase_url='http://x'\n"
                          "credentials = { key = 'JD_KEY' }\n")
    with pytest.raises(ConfigError, match="JD_KEY is not set"):
        load_settings(cfg, environ={})
    assert load_settings(cfg, environ={}, require_credentials=False).credentials("jd") == {"key": ""}


def test_secrets_file_and_no_secret_in_dump(tmp_path):
    cfg = write(tmp_path, "[platforms.jd]\nprotocol='gateway'\nbase_url='http://x'\n"
                          "credentials = { key = 'JD_KEY', secret = 'JD_SECRET' }\n")
    sf = tmp_path / "secrets.env"
    sf.write_text("# comment\nJD_KEY=abc\nJD_SECRET='topsecret'\n")
    s = load_settings(cfg, environ={"SNAPPRICE_SECRETS_FILE": str(sf)})
    assert s.credentials("jd") == {"key": "abc", "secret": "topsecret"}
    assert "topsecret" not in repr(s) and "topsecret" not in s.model_dump_json()
    assert len(s.digest()) == 16


def test_a_secrets_file_that_is_not_text_is_one_clear_error(tmp_path):
    cfg = write(tmp_path, "[platforms.jd]\nprotocol='gateway'\nbase_url='http://x'\n"
                          "credentials = { key = 'JD_KEY' }\n")
    sf = tmp_path / "secrets.env"
    sf.write_bytes(b"JD_KEY=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"secrets file .*: not UTF-8 text"):
        load_settings(cfg, environ={"SNAPPRICE_SECRETS_FILE": str(sf)})


@pytest.mark.parametrize(("body", "needle"), [
    ("[schedule]\ncron = '0 25 * * *'\n", "`schedule.cron`: '0 25 * * *' is not a cron expression"),
    ("[schedule]\ntimezone = 'Asia/Shangai'\n", "`schedule.timezone`: 'Asia/Shangai' is not a time zone"),
    ("[report]\ntimezone = 'Europe/Pariss'\n", "`report.timezone`: 'Europe/Pariss' is not a time zone"),
])
def test_a_bad_schedule_names_the_key(tmp_path, body, needle):
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_settings(write(tmp_path, body), environ={})


@pytest.mark.parametrize(("body", "zone"), [
    ("", "Asia/Shanghai"),  # the schedule's: a 07:00 run is on its own day
    ("[schedule]\ntimezone = 'Europe/Berlin'\n", "Europe/Berlin"),
    ("[schedule]\ntimezone = 'Europe/Berlin'\n[report]\ntimezone = 'UTC'\n", "UTC"),
])
def test_days_are_cut_in_the_report_zone_else_the_schedules(tmp_path, body, zone):
    assert load_settings(write(tmp_path, body), environ={}).day_zone() == zone


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_readme_and_example_configs_load(tmp_path):
    """Every TOML example the README shows, and config/production.example.toml, is valid."""
    import re

    blocks = re.findall(r"```toml\n(.*?)```", Path("README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        s = load_settings(write(tmp_path, block), environ={}, require_credentials=False)
        assert s.platforms, f"README TOML block {i} defines no platform"
    prod = load_settings("config/production.example.toml", environ={}, require_credentials=False)
    assert prod.search.limiter == "postgres"


def test_choosing_platforms_needs_only_their_credentials(tmp_path):
    cfg = write(tmp_path, "[platforms.jd]\nprotocol='gateway'\nbase_url='http://x'\n"
                          "credentials = { key = 'JD_KEY' }\n"
                          "[platforms.tb]\nprotocol='gateway'\nbase_url='http://x'\nenabled=false\n"
                          "credentials = { key = 'TB_KEY' }\n")
    with pytest.raises(ConfigError, match="JD_KEY is not set"):
        load_settings(cfg, environ={"TB_KEY": "t"})
    only_tb = load_settings(cfg, environ={"TB_KEY": "t"}, platforms=["tb"])
    assert list(only_tb.enabled_platforms()) == ["tb"]  # chosen, so enabled though off in the file
    assert only_tb.credentials("tb") == {"key": "t"}
    with pytest.raises(ConfigError, match=r"--platform taobao: no such \[platforms.NAME\] section .*there are: jd, tb"):
        load_settings(cfg, environ={}, platforms=["taobao"])
