"""``python -m snapprice.sandbox --port P``: serve the sandbox without the full CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

from snapprice.errors import ConfigError
from snapprice.sandbox.config import load_config
from snapprice.sandbox.server import serve


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m snapprice.sandbox", description=__doc__)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--products", type=int, dest="n_products")
    ap.add_argument("--app-key", dest="top_app_key")
    ap.add_argument("--app-secret", dest="top_app_secret")
    ap.add_argument("--key", dest="gateway_key")
    ap.add_argument("--secret", dest="gateway_secret")
    ap.add_argument("--qps", type=float)
    ap.add_argument("--day-seconds", type=float, dest="day_seconds")
    args = vars(ap.parse_args(argv))
    host, port, path = args.pop("host"), args.pop("port"), args.pop("config")
    try:
        serve(load_config(path, **args), host=host, port=port)
    except ConfigError as exc:
        ap.exit(2, f"error: {exc}\n")


if __name__ == "__main__":
    main()
