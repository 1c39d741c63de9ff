"""The demo workspace: a sandbox marketplace, a generated sample catalog, a config that
points every platform at the sandbox. Only the demo knows it talks to a sandbox."""

from __future__ import annotations

import json
import shutil
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomli_w

from snapprice.paths import default_config
from snapprice.sandbox import SandboxConfig, SandboxHandle, start_in_thread
from snapprice.sandbox.catalogs import generate_catalog

DEMO_ENV = {
    "SNAPPRICE_GATEWAY_KEY": "demo-key",
    "SNAPPRICE_GATEWAY_SECRET": "demo-secret",
    "SNAPPRICE_TOP_APP_KEY": "12345678",
    "SNAPPRICE_TOP_APP_SECRET": "demo-top-secret",
}
DEMO_QPS = 20  # the demo's sandbox allows 50 per caller; the committed 5 would make it slow


@dataclass(frozen=True)
class DemoShape:
    """What the demo's world and catalog are made of: another shape is another workspace."""

    products: int
    items: int
    seed: int

    @property
    def database(self) -> str:
        """The folder of this shape's embedded database: a new shape gets a new database
        (deleting a database folder right after its server stopped proved racy)."""
        return f"pgdata-{self.products}p-{self.items}i-s{self.seed}"


@dataclass
class DemoWorkspace:
    root: Path
    config: Path
    catalog: Path
    database: Path
    sandbox: SandboxHandle


def demo_config(base: dict[str, Any], sandbox_url: str, catalog: Path) -> dict[str, Any]:
    """The committed config with every platform moved to ``sandbox_url`` (same paths) and
    the catalog set to ``catalog``.

    >>> cfg = demo_config({"platforms": {"t": {"base_url": "http://127.0.0.1:8765/router/rest",
    ...                                        "qps": 5}}}, "http://127.0.0.1:40001", Path("c.csv"))
    >>> cfg["platforms"]["t"], cfg["catalog"]
    ({'base_url': 'http://127.0.0.1:40001/router/rest', 'qps': 20}, {'path': 'c.csv'})
    """
    target = urlsplit(sandbox_url)
    tree = {**base, "catalog": {**base.get("catalog", {}), "path": str(catalog)}}
    platforms = {}
    for name, plat in base.get("platforms", {}).items():
        url = urlsplit(plat["base_url"])
        platforms[name] = {**plat, "base_url": urlunsplit((target.scheme, target.netloc, *url[2:])),
                           "qps": max(plat.get("qps", 5), DEMO_QPS)}
    tree["platforms"] = platforms
    return tree


def workspace_root() -> Path:
    """The demo's own folder: its catalog, config, report and (by default) its database,
    apart from the user's own database so that demo SKUs never mix with a real catalog's."""
    import platformdirs

    return Path(platformdirs.user_data_dir("snapprice", appauthor=False)) / "demo"


def _reset_if_reshaped(root: Path, shape: DemoShape) -> bool:
    """Start the catalog afresh when the workspace was made for another world or catalog
    size (the same SKU ids would name other products); the database is the shape's own."""
    marker = root / "workspace.json"
    if not marker.exists() or json.loads(marker.read_text(encoding="utf-8")) == asdict(shape):
        return False
    shutil.rmtree(root / "catalog", ignore_errors=True)
    return True


def prepare(root: Path, database: Path | None = None, *, products: int = 120, items: int = 60,
            seed: int = 7, day_seconds: float = 86400.0) -> tuple[DemoWorkspace, bool]:
    """Start the sandbox, write the sample catalog and the demo config under ``root``;
    returns the workspace and whether an earlier one of another shape was set aside.
    ``database``: the embedded database's folder (default: the shape's own in ``root``)."""
    shape = DemoShape(products, items, seed)
    root.mkdir(parents=True, exist_ok=True)
    reset = _reset_if_reshaped(root, shape)
    sandbox = start_in_thread(SandboxConfig(seed=seed, n_products=products, day_seconds=day_seconds,
                                            qps=50))
    catalog_dir = root / "catalog"
    csv_path = catalog_dir / "catalog.csv"
    if not csv_path.exists():
        generate_catalog(sandbox.world, catalog_dir, items, dup_rate=0.3, distractor_rate=0.1,
                         seed=seed)
    (root / "workspace.json").write_text(json.dumps(asdict(shape)), encoding="utf-8")
    base = tomllib.loads(default_config().read_text(encoding="utf-8"))
    config = root / "snapprice-demo.toml"
    config.write_text("# written by `snapprice demo`: the sandbox's address changes every run\n"
                      + tomli_w.dumps(demo_config(base, sandbox.base_url, csv_path)), encoding="utf-8")
    return DemoWorkspace(root, config, csv_path, database or root / shape.database, sandbox), reset
