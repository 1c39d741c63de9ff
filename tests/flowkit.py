"""Helpers of the flow tests: a sandbox, a generated catalog and a config pointing at both."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snapprice.sandbox import SandboxConfig, SandboxHandle, start_in_thread
from snapprice.sandbox.catalogs import GeneratedCatalog, generate_catalog

CREDS = {
    "SNAPPRICE_GATEWAY_KEY": "demo-key",
    "SNAPPRICE_GATEWAY_SECRET": "demo-secret",
    "SNAPPRICE_TOP_APP_KEY": "12345678",
    "SNAPPRICE_TOP_APP_SECRET": "demo-top-secret",
}


@dataclass
class Setup:
    sandbox: SandboxHandle
    catalog: GeneratedCatalog
    config: Path


def platform_block(name: str, base_url: str, qps: float, pages: int, extra: str = "") -> str:
    return (f"[platforms.{name}]\nprotocol = \"gateway\"\nbase_url = \"{base_url}\"\nqps = {qps}\n"
            f"pages = {pages}\ncredentials = {{ key = \"SNAPPRICE_GATEWAY_KEY\", "
            f"secret = \"SNAPPRICE_GATEWAY_SECRET\" }}\n{extra}\n")


def make_setup(tmp: Path, database_url: str, *, products: int = 40, items: int = 24,
               platforms: tuple[str, ...] = ("taobao", "jd"), qps: float = 50, pages: int = 1,
               concurrency: int = 4, sandbox_cfg: SandboxConfig | None = None,
               extra_platforms: str = "") -> Setup:
    sandbox = start_in_thread(sandbox_cfg or SandboxConfig(seed=11, n_products=products, qps=200))
    catalog = generate_catalog(sandbox.world, tmp / "catalog", items, dup_rate=0.25,
                               distractor_rate=0.1, seed=1)
    body = (f"[database]\nurl = \"{database_url}\"\n\n[catalog]\npath = \"{catalog.csv_path}\"\n\n"
            f"[dedupe]\nworkers = 1\n\n[search]\nconcurrency = {concurrency}\nmax_attempts = 4\n"
            f"max_retry_seconds = 30\n\n")
    body += "".join(platform_block(p, sandbox.base_url, qps, pages) for p in platforms)
    body += extra_platforms.replace("{base}", sandbox.base_url)
    config = tmp / "snapprice.toml"
    config.write_text(body, encoding="utf-8")
    return Setup(sandbox, catalog, config)
