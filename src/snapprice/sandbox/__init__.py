"""The marketplace sandbox: a local, protocol-true image-search marketplace for demos and tests."""

from snapprice.sandbox.config import PLATFORMS, SandboxConfig, load_config
from snapprice.sandbox.server import SandboxHandle, build_app, serve, start_in_thread
from snapprice.sandbox.world import Listing, Product, World, build_world

__all__ = [
    "PLATFORMS",
    "Listing",
    "Product",
    "SandboxConfig",
    "SandboxHandle",
    "World",
    "build_app",
    "build_world",
    "load_config",
    "serve",
    "start_in_thread",
]
