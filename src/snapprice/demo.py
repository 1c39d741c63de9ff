"""The demo workspace: a sandbox marketplace, a generated sample catalog, a config that
points every platform at the sandbox. Only the demo knows it talks to a sandbox."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from snapprice.migrate import project_dir
from snapprice.sandbox import SandboxConfig, SandboxHandle, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog

DEMO_ENV = {
    "SNAPPRICE_GATEWAY_KEY": "demo-key",
    "SNAPPRICE_GATEWAY_SECRET": "demo-secret",
    "SNAPPRICE_TOP_APP_KEY": "12345678",
    "SNAPPRICE_TOP_APP_SECRET": "demo-top-secret",
}


@dataclass
class DemoWorkspace:
    root: Path
    config: Path
    catalog: Path
    sandbox: SandboxHandle


def prepare(root: Path, *, products: int = 120, items: int = 60, seed: int = 7,
            day_seconds: float = 86400.0) -> DemoWorkspace:
    """Start the sandbox, write the sample catalog and the demo config under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    sandbox = start_in_thread(SandboxConfig(seed=seed, n_products=products, day_seconds=day_seconds,
                                            qps=50))
    catalog_dir = root / "catalog"
    csv_path = catalog_dir / "catalog.csv"
    if not csv_path.exists():
        generate_catalog(sandbox.world, catalog_dir, items, dup_rate=0.3, distractor_rate=0.1,
                         seed=seed)
    text = (project_dir("config") / "snapprice.toml").read_text(encoding="utf-8")
    text = re.sub(r"http://127\.0\.0\.1:8765", sandbox.base_url, text)
    text = re.sub(r'(?m)^path = ".*"$', f"path = {str(csv_path)!r}".replace("'", '"'), text)
    text = re.sub(r"(?m)^qps = 5$", "qps = 20", text)
    config = root / "snapprice-demo.toml"
    config.write_text("# written by `snapprice demo`: the sandbox's address changes every run\n"
                      + text, encoding="utf-8")
    return DemoWorkspace(root, config, csv_path, sandbox)
