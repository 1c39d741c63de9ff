"""One digest per run to each Apprise channel: two channel kinds against a loopback receiver."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from snapprice.alerts.channels import deliver
from snapprice.settings import load_settings

ALERTS = [{"rule": "new_low", "sku": f"SKU-{i}", "message": f"taobao {i}: 9.90 CNY, a new 90-day low"}
          for i in range(3)]


class _Receiver(ThreadingHTTPServer):
    def __init__(self, status: int) -> None:
        self.status = status
        self.received: list[tuple[str, bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.path, body))
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver(200)
    yield server
    server.shutdown()


def _settings(tmp_path, env):
    config = tmp_path / "c.toml"
    config.write_text('[alerts]\nchannels = ["TEAM_JSON", "PHONE_NTFY", "NOT_SET"]\n', encoding="utf-8")
    return load_settings(config, environ=env)


def test_each_channel_gets_one_digest_and_no_url_reaches_the_log(receiver, tmp_path, caplog):
    secrets_file = tmp_path / "secrets.env"
    secrets_file.write_text(f"PHONE_NTFY=ntfy://127.0.0.1:{receiver.port}/prices-Tok3n\n")
    env = {"TEAM_JSON": f"json://127.0.0.1:{receiver.port}/hook/S3cret", "SNAPPRICE_SECRETS_FILE": str(secrets_file)}
    settings = _settings(tmp_path, env)
    with caplog.at_level(logging.DEBUG):
        assert deliver(ALERTS, settings, run_id=12) == 2
    paths = sorted(path for path, _ in receiver.received)
    assert paths == ["/", "/hook/S3cret"]  # ntfy posts its topic in the body
    bodies = {path: body.decode() for path, body in receiver.received}
    team = json.loads(bodies["/hook/S3cret"])
    assert team["title"] == "snapprice run 12: 3 price alerts" and "SKU-2" in team["message"]
    assert "prices-Tok3n" in bodies["/"] and "SKU-0" in bodies["/"]
    assert "S3cret" not in caplog.text and "Tok3n" not in caplog.text
    assert "S3cret" in " ".join(settings.secret_values())  # kept among the secrets


def test_a_refusing_or_unknown_channel_is_logged_by_kind_only(tmp_path, caplog):
    refusing = _Receiver(500)
    try:
        env = {"TEAM_JSON": f"json://127.0.0.1:{refusing.port}/hook/S3cret", "PHONE_NTFY": "nosuchkind://x/Tok3n"}
        with caplog.at_level(logging.WARNING):
            assert deliver(ALERTS, _settings(tmp_path, env), run_id=3) == 0
    finally:
        refusing.shutdown()
    assert "the json channel in TEAM_JSON refused" in caplog.text
    assert "PHONE_NTFY holds no URL Apprise knows" in caplog.text
    assert "S3cret" not in caplog.text and "Tok3n" not in caplog.text


def test_no_alert_or_no_channel_sends_nothing(tmp_path):
    assert deliver([], _settings(tmp_path, {"TEAM_JSON": "json://127.0.0.1:9/x"}), run_id=1) == 0
    assert deliver(ALERTS, _settings(tmp_path, {}), run_id=1) == 0
