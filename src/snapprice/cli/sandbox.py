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
    aliyun_key_id: Annotated[str | None, typer.Option(help="Aliyun AccessKey ID callers must use.")] = None,
    aliyun_key_secret: Annotated[str | None, typer.Option(help="Aliyun AccessKey secret.")] = None,
    aliyun_pid: Annotated[list[str] | None, typer.Option(help="Alimama PID Aliyun accepts (repeat).")] = None,
    aop_app_key: Annotated[str | None, typer.Option(help="1688 AOP app key callers must use.")] = None,
    aop_app_secret: Annotated[str | None, typer.Option(help="1688 AOP app secret.")] = None,
    aop_token: Annotated[list[str] | None, typer.Option(help="1688 access token accepted (repeat).")] = None,
    qps: Annotated[float | None, typer.Option(help="Calls per second per caller and platform.")] = None,
    day_seconds: Annotated[float | None, typer.Option(help="Length of a sandbox day, seconds.")] = None,
) -> None:
    """Build the synthetic world and serve it until interrupted."""
    from snapprice.errors import ConfigError
    from snapprice.sandbox.config import load_config as sandbox_config
    from snapprice.sandbox.server import serve as run

    try:
        cfg = sandbox_config(config, seed=seed, n_products=products, top_app_key=app_key,
                             top_app_secret=app_secret, gateway_key=key, gateway_secret=secret,
                             aliyun_access_key_id=aliyun_key_id, aliyun_access_key_secret=aliyun_key_secret,
                             aliyun_pids=tuple(aliyun_pid) if aliyun_pid else None,
                             aop_app_key=aop_app_key, aop_app_secret=aop_app_secret,
                             aop_access_tokens=tuple(aop_token) if aop_token else None,
                             qps=qps, day_seconds=day_seconds)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    run(cfg, host=host, port=port)


@app.command()
def catalog(
    out: Annotated[Path, typer.Argument(help="Folder to write catalog.csv and images/ into.")] = Path("sample-catalog"),
    items: Annotated[int, typer.Option(min=1, help="Catalog rows.")] = 40,
    seed: Annotated[int | None, typer.Option(help="World seed (the one `sandbox serve` uses).")] = None,
    products: Annotated[int | None, typer.Option(help="Products in the world (as `sandbox serve`).")] = None,
    config: Annotated[Path | None, typer.Option(help="Sandbox TOML file (see docs/sandbox.md).")] = None,
) -> None:
    """Write a sample catalog of the sandbox's world: products it sells, near-duplicates and a
    few it does not, ready for `snapprice run` against `snapprice sandbox serve`."""
    from snapprice.errors import ConfigError
    from snapprice.sandbox.catalogs import generate_catalog
    from snapprice.sandbox.config import load_config as sandbox_config
    from snapprice.sandbox.world import build_world

    try:
        cfg = sandbox_config(config, seed=seed, n_products=products)
        made = generate_catalog(build_world(cfg), out, items, dup_rate=0.25, distractor_rate=0.1)
    except (ConfigError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {made.csv_path} ({items} rows, world seed {cfg.seed}, {cfg.n_products} products)")
