"""The executor's query pictures: read once per group, and not at all for a route that sends URLs."""

from __future__ import annotations

import asyncio

import pytest

from snapprice.errors import ImageRejected
from snapprice.models import QueryImage
from snapprice.search import executor
from snapprice.settings import Settings
from snapprice.store.groups import GroupInfo

GONE = "http://127.0.0.1:9/gone.jpg"  # nothing listens: reading it fails at once


def _images(ref: str) -> executor._Images:
    return executor._Images({1: GroupInfo(1, ref, "d1gest", ["SKU"])}, Settings())


def test_a_route_that_sends_the_url_gets_it_without_the_picture_being_read():
    images = _images(GONE)
    try:
        assert asyncio.run(images.get(1, url_only=True)) == QueryImage(digest="d1gest", data=b"", url=GONE)
        with pytest.raises(ImageRejected):  # a route that sends bytes reads it (here: cannot)
            asyncio.run(images.get(1))
    finally:
        images.http.close()


def test_a_local_picture_is_read_once_for_the_searches_of_its_group(tmp_path, monkeypatch):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.new("RGB", (64, 64), "red").save(path)
    images = _images(str(path))
    reads: list[int] = []
    load = images._load
    monkeypatch.setattr(images, "_load", lambda gid: reads.append(gid) or load(gid))
    images.expect(1)
    images.expect(1)

    async def two_searches() -> tuple[QueryImage, QueryImage]:
        return await images.get(1, url_only=True), await images.get(1)

    try:
        first, second = asyncio.run(two_searches())
    finally:
        images.http.close()
    assert reads == [1] and first is second and first.data[:4] == b"\x89PNG" and first.url is None


@pytest.mark.parametrize(("protocol", "url_only"), [
    ("gateway", True), ("top", True), ("aliyun-imagesearch", True), ("1688-aop", False)])
def test_which_routes_send_the_url(protocol, url_only):
    settings = Settings.model_validate({"platforms": {"p": {"protocol": protocol, "base_url": "http://x"}}})
    ex = executor._Executor(None, settings, 1, {"p": object()}, None)  # type: ignore[arg-type]
    try:
        assert ex.url_only == {"p": url_only}
    finally:
        ex.writers.shutdown()
