"""``snapprice sandbox serve``: run the local marketplace sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The local marketplace sandbox (both protocols, synthetic world).",
                  no_args_is_help=True)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Interface to bind (keep it on loopback).")] = "127.0.0.1",
    config: Annotated[Path | None, typer.Option(help="Sandbox TOML file (see docs/sandbox.md).")] = None,
    seed: Annotated[int | None, typer.Option(help="World seed.")] = None,
    products: Annotated[int | None, typer.Option(help="Number of products in the world.")] = None,
    app_key: Annotated[str | None, typer.Option(help="TOP app_key callers must use.")] = None,
    app_secret: Annotated[str | None, typer.Option(help="TOP app secret.")] = None,
    key: Annotated[str | None, typer.Option(help="Gateway key callers must use.")] = None,
    secret: Annotated[str | None, typer.Option(help="Gateway secret.")] = None,
    qps: Annotated[float | None, typer.Option(help="Calls per second per caller and platform.")] = None,
    day_seconds: Annotated[float | None, typer.Option(help="Length of a sandbox day, seconds.")] = None,
) -> None:
    """Build the synthetic world and serve it until interrupted."""
    from snapprice.errors import ConfigError
    from snapprice.sandbox.config import load_config
    from snapprice.sandbox.server import serve as run

    try:
        cfg = load_config(config, seed=seed, n_products=products, top_app_key=app_key,
                          top_app_secret=app_secret, gateway_key=key, gateway_secret=secret,
                          qps=qps, day_seconds=day_seconds)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    run(cfg, host=host, port=port)
