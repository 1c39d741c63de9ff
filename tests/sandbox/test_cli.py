"""Starting the sandbox: config files, the CLI command, and a subprocess any client can call."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from typer.testing import CliRunner

from snapprice.cli.sandbox import app
from snapprice.errors import ConfigError
from snapprice.sandbox import SandboxConfig, load_config


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "sb.toml"
    path.write_text('[sandbox]\nseed = 3\nn_products = 40\nqps = 5\n[sandbox.faults.jd]\nreset = 0.1\n')
    cfg = load_config(path, qps=None, gateway_key="k")
    assert (cfg.seed, cfg.n_products, cfg.qps, cfg.gateway_key) == (3, 40, 5.0, "k")
    assert cfg.faults == {"jd": {"reset": 0.1}}
    flat = tmp_path / "flat.toml"
    flat.write_text("seed = 9\n")
    assert load_config(flat).seed == 9
    assert load_config(None) == SandboxConfig()


@pytest.mark.parametrize(("text", "message"), [
    ("seed = ", "invalid TOML"),
    ("n_products = 0", "n_products"),
    ("colour = 'red'", "colour"),
    ("platforms = ['taobao', 'amazon']", "unknown platforms"),
])
def test_bad_config_says_what(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "missing.toml")


def test_cli_help_and_bad_config(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--app-key" in result.output and "--port" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("qps = -1")
    result = runner.invoke(app, ["serve", "--config", str(bad)])
    assert result.exit_code == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_subprocess_serves_with_given_credentials():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapprice.sandbox", "--port", str(port), "--products", "15",
         "--key", "k1", "--secret", "s1", "--app-key", "777", "--app-secret", "top-s"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/_admin/stats", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline, "sandbox subprocess did not start"
                time.sleep(0.1)
        url = f"{base}/taobao/item_search_img/"
        img = f"{base}/img/product/P000001.jpg"
        assert httpx.get(url, params={"key": "k1", "secret": "s1", "imgid": img}).json()["error_code"] in (
            "0000", "2000")
        assert httpx.get(url, params={"key": "demo-key", "secret": "demo-secret", "imgid": img}).json()[
            "error_code"] == "4005"
        stats = httpx.get(f"{base}/_admin/stats").json()
        assert stats["world"]["products"] == 15
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sample_catalog_command_writes_a_catalog_run_can_read(tmp_path):
    from snapprice.ingest import read_catalog

    out = CliRunner().invoke(app, ["catalog", str(tmp_path / "sample"), "--items", "8", "--products", "20"])
    assert out.exit_code == 0, out.output
    read = read_catalog(tmp_path / "sample" / "catalog.csv")
    assert read.items.height == 8 and read.rejects == []
    bad = CliRunner().invoke(app, ["catalog", str(tmp_path / "x"), "--items", "50", "--products", "3"])
    assert bad.exit_code == 2 and "error:" in bad.output


def test_run_without_the_configured_catalog_says_how_to_make_one(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[catalog]\npath = "nowhere/catalog.csv"\n', encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "snapprice", "--config", str(config), "run"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "[catalog] path" in out.stderr and "snapprice sandbox catalog nowhere" in out.stderr
    assert out.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [["-m", "snapprice", "sandbox", "serve"], ["-m", "snapprice.sandbox"]])
def test_a_busy_port_is_one_line_before_anything_says_serving(command):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = subprocess.run([sys.executable, *command, "--port", str(port), "--products", "5"],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "serving" not in out.stdout + out.stderr
    assert out.stderr.startswith("error: cannot serve the sandbox on 127.0.0.1:") and out.stderr.count("\n") == 1
