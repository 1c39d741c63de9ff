"""The command line as a user meets it: exit codes and one clear line, never a traceback."""

import os
import subprocess
import sys

import pytest


def snapprice(*args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "snapprice", *args], capture_output=True, text=True,
                          env=full_env, timeout=120)


def test_help_everywhere():
    for cmd in ([], ["db"], ["run"], ["backfill"], ["demo"], ["report"], ["dedupe"], ["serve"], ["deploy"],
                ["sandbox", "serve"], ["match"], ["match", "import"]):
        out = snapprice(*cmd, "--help")
        assert out.returncode == 0, (cmd, out.stderr)
        assert "Usage" in out.stdout


def test_unreachable_database_url_is_one_clear_line():
    out = snapprice("db", "status", env={"DATABASE_URL": "postgresql://nobody:pw@127.0.0.1:1/none"})
    assert out.returncode == 2
    assert "cannot connect to PostgreSQL at" in out.stderr and "DATABASE_URL" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert "pw" not in out.stderr.replace("postgresql", "")  # the password is not echoed


def test_invalid_config_names_the_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[search]\nconcurrency = 0\n")
    out = snapprice("--config", str(cfg), "db", "status")
    assert out.returncode == 2
    assert "`search.concurrency`" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.integration
def test_run_without_credentials_says_which_variable(tmp_path):
    out = snapprice("run", env={"SNAPPRICE_GATEWAY_KEY": "", "SNAPPRICE_GATEWAY_SECRET": ""})
    assert out.returncode == 2
    assert "SNAPPRICE_GATEWAY_KEY is not set" in out.stderr


def test_sandbox_serve_takes_every_protocols_credentials(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import snapprice.sandbox.server
    from snapprice.cli.sandbox import app

    seen = {}
    monkeypatch.setattr(snapprice.sandbox.server, "serve", lambda cfg, host, port: seen.update(cfg=cfg, port=port))
    cfg = tmp_path / "sandbox.toml"
    cfg.write_text('[sandbox]\naop_app_key = "from-file"\naop_app_secret = "file-secret"\n')
    out = CliRunner().invoke(app, ["serve",
        "--config", str(cfg), "--port", "9999", "--aliyun-key-id", "AK", "--aliyun-key-secret", "AS",
        "--aliyun-pid", "mm_1_2_3", "--aliyun-pid", "mm_4_5_6", "--aop-app-key", "888",
        "--aop-token", "t1"])
    assert out.exit_code == 0, out.output
    got = seen["cfg"]
    assert seen["port"] == 9999
    assert (got.aliyun_access_key_id, got.aliyun_access_key_secret) == ("AK", "AS")
    assert got.aliyun_pids == ("mm_1_2_3", "mm_4_5_6")
    assert (got.aop_app_key, got.aop_app_secret, got.aop_access_tokens) == ("888", "file-secret", ("t1",))


@pytest.mark.parametrize("args", [["serve", "--cron", "61 * * * *"], ["deploy", "--cron", "every day"]])
def test_a_bad_cron_is_one_clear_line(args, tmp_path):
    out = snapprice(*args, env={"SNAPPRICE_GATEWAY_KEY": "k", "SNAPPRICE_GATEWAY_SECRET": "s",
                                "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert out.returncode == 2, out.stderr
    assert "--cron:" in out.stderr and "is not a cron expression" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_a_bad_schedule_in_the_config_is_one_clear_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[schedule]\ncron = "0 7 * * *"\ntimezone = "Asia/Shanghia"\n')
    out = snapprice("--config", str(config), "serve")
    assert out.returncode == 2, out.stderr
    assert "schedule.timezone" in out.stderr and "not a time zone" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.parametrize("url", [
    "postgres:pass word@W0rd@host",
    "postgresql://user:pa ss@W0rd@127.0.0.1:1/db",
    "postgresql://user:Sec:ret@W0rd@127.0.0.1:1/db",
    "postgresql://127.0.0.1:1/db?user=x&password=Sec-W0rd",
])
def test_a_malformed_database_url_leaks_no_piece_of_its_password(url):
    out = snapprice("db", "status", env={"DATABASE_URL": url})
    assert out.returncode == 2
    text = out.stdout + out.stderr
    for piece in ("pass word", "pa ss", "W0rd", "Sec"):
        assert piece not in text, text
    assert "Traceback" not in text


def test_a_prefect_server_is_found_in_the_environment_or_the_active_profile(tmp_path):
    from snapprice.cli.jobs import prefect_server_configured

    home = tmp_path / "prefect"
    assert not prefect_server_configured({"PREFECT_HOME": str(home)})
    assert prefect_server_configured({"PREFECT_HOME": str(home), "PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    home.mkdir()
    (home / "profiles.toml").write_text('active = "work"\n[profiles.local]\n'
                                        '[profiles.work]\nPREFECT_API_URL = "http://prefect:4200/api"\n')
    assert prefect_server_configured({"PREFECT_HOME": str(home)})
    assert not prefect_server_configured({"PREFECT_HOME": str(home), "PREFECT_PROFILE": "local"})


@pytest.mark.integration
def test_match_reject_and_import_as_a_user_meets_them(clean_db, database_url, tmp_path):
    from datetime import UTC, datetime
    from decimal import Decimal

    from snapprice.models import ListingSnapshot
    from snapprice.store.loader import load_snapshots
    from snapprice.store.runs import create_run

    with clean_db.begin() as conn:
        run = create_run(conn, kind="manual", catalog=None, config_digest=None)
        load_snapshots(conn, run, datetime.now(UTC), [ListingSnapshot(
            platform="taobao", item_id="42", title="定金 deposit", shop="s", url=None, pic_url=None,
            price_low=Decimal("1"), price_high=Decimal("1"), promo_price=None, original_price=None,
            currency="CNY", sales_lower_bound=None, sales_text=None, rank=1)], skus=["SKU-1"])
    env = {"DATABASE_URL": database_url}
    out = snapprice("match", "reject", "SKU-1", "taobao42", env=env)
    assert (out.returncode, out.stderr.count("\n")) == (2, 1), out.stderr
    assert "PLATFORM:ITEM_ID" in out.stderr
    out = snapprice("match", "reject", "NOPE", "taobao:42", env=env)
    assert out.returncode == 2 and "unknown SKU 'NOPE'" in out.stderr, out.stderr
    out = snapprice("match", "reject", "SKU-1", "taobao:42", "--note", "a deposit", env=env)
    assert out.returncode == 0 and "1 current match retired" in out.stdout, out.stderr
    f = tmp_path / "review.csv"
    f.write_text("sku,platform,item_id,decision\nSKU-1,taobao,42,confirm\nSKU-1,jd,7,reject\n")
    out = snapprice("match", "import", str(f), env=env)
    assert out.returncode == 1, out.stderr
    assert f"{f}:3: refused: unknown listing jd:7" in out.stderr
    assert "1 decision(s) applied (0 match(es) retired, 1 restored), 1 line(s) refused" in out.stdout
    out = snapprice("match", "list", env=env)
    assert "taobao:42" in out.stdout and "confirm" in out.stdout


def test_dedupe_rejects_name_the_row_the_sku_and_the_file(tmp_path):
    (tmp_path / "c.csv").write_text("sku,image\nA,missing.jpg\nB,\n")
    out = snapprice("dedupe", str(tmp_path / "c.csv"))
    assert out.returncode == 0, out.stderr
    assert "c.csv:row 1  not_found  sku A: image " in out.stdout and "missing.jpg" in out.stdout
    assert "c.csv:row 2  empty_image  sku B" in out.stdout


def test_the_program_waits_for_its_threads_and_exit_hooks_and_keeps_its_exit_code():
    """``entry`` ends the process without the interpreter's teardown, but not before a
    non-daemon thread ends and the atexit hooks ran; the exit code is the command's."""
    code = ("import atexit, sys, threading, time; from snapprice.cli import entry; "
            "atexit.register(lambda: print('hook ran', flush=True)); "
            "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start(); "
            "sys.argv = ['snapprice', 'run', '--no-such-option']; entry()")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "No such option" in out.stderr
    assert out.stdout.index("thread done") < out.stdout.index("hook ran"), out.stdout
