"""The sandbox and an HTTP client, once per test module (a module that tests the sandbox's
limits defines its own ``sandbox``: this one lets any rate through and injects no fault)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from snapprice.sandbox import SandboxHandle, start_in_thread
from snapprice.sandbox.testing import shared_world


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    world = shared_world(60)
    cfg = world.config.model_copy(update={"qps": 100_000.0, "faults": {}})
    with start_in_thread(cfg, world=world) as handle:
        yield handle


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15) as c:
        yield c
