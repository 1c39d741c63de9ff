"""Prefect's temporary API server, started by the command itself as soon as it knows it needs one.

Without a configured server, Prefect starts its temporary one (uvicorn in a subprocess) at the
flow's first API call, after this process has imported Prefect's server package (2-3 s of
CPU only to build the command line) and then waits 3-8 s for it. Started here instead, as the
command starts, the server boots on the other core while this process imports Prefect and
reads the config; ``PREFECT_API_URL`` then points Prefect at it, so Prefect never imports
its server package here. Same command, same settings and database as Prefect's own.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from snapprice.errors import SnappriceError

PORT_IN_USE = 3  # uvicorn's exit code when it cannot bind


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prefect_parent() -> str:
    """The folder holding the ``prefect`` package (uvicorn's ``--app-dir``), found without
    importing Prefect."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise SnappriceError("Prefect is not installed; run without --prefect")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


class TemporaryServer:
    """One temporary Prefect API server for this command; ``stop`` (also at exit) ends it."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = self._spawn()
        atexit.register(self.stop)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1"}
        env.pop("PREFECT_API_URL", None)
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", _prefect_parent(), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the server answers its health check; an error naming the cause otherwise."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.process is not None
                code = self.process.poll()
                if code == PORT_IN_USE:  # the port was taken between choosing and binding it
                    self.port = _free_port()
                    self.process = self._spawn()
                elif code is not None:
                    raise SnappriceError(f"Prefect's temporary API server exited with code {code} while "
                                         "starting; run with --verbose, or without --prefect")
                try:
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        raise SnappriceError(f"Prefect's temporary API server did not start within {timeout:.0f} s; "
                             "run without --prefect, or set PREFECT_API_URL to a running server")

    def stop(self) -> None:
        """Terminate the server and reap it (killed if it has not ended within 5 s)."""
        proc, self.process = self.process, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
