"""Hostile JSON bodies: read within bounds, stored as jsonb accepts them; the HTTP round trip
bounded in time and size."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from snapprice.errors import RequestRejected, TransientError
from snapprice.search.platforms import jsonbody
from snapprice.search.platforms.http import fetch_any_status, fetch_json
from snapprice.search.platforms.jsonbody import MAX_DEPTH, TOO_DEEP, loads, storable

LOADS = [
    (b'{"a": NaN}', {"a": "NaN"}),
    (b'{"a": Infinity, "b": -Infinity}', {"a": "Infinity", "b": "-Infinity"}),
    (b'{"a": 1e309, "b": -1e400, "c": 1.5e3}', {"a": "1e309", "b": "-1e400", "c": 1500.0}),
    (b'{"a": ' + b"9" * 5000 + b", \"b\": 12}", {"a": "9" * 5000, "b": 12}),
    (b'{"a": -' + b"1" * 401 + b"}", {"a": "-" + "1" * 401}),
    (b'{"a": "\\u0000", "b": "\\ud800"}', {"a": "\x00", "b": "\ud800"}),  # storable() cleans
    (b'{"t": "caf\xe9"}', {"t": "caf\ufffd"}),  # not UTF-8: the byte becomes U+FFFD
    ('{"t": "\u56f4\u5dfe"}'.encode(), {"t": "围巾"}),
    (b"\xef\xbb\xbf{\"bom\": 1}", {"bom": 1}),
]


@pytest.mark.parametrize(("raw", "expected"), LOADS)
def test_loads_keeps_what_no_float_or_int_holds_as_text(raw, expected):
    assert loads(raw) == expected


def _depth(value) -> int:
    n = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        n += 1
    return n


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1, 900, 1_000, 100_000])
def test_loads_bounds_depth_and_keeps_the_rest(levels):
    raw = (b'{"items": [{"id": 1, "deep": ' + b"[" * levels + b"]" * levels
           + b'}, {"id": 2, "deep": {"x": [1]}}], "after": "kept"}')
    body = loads(raw)
    assert body["after"] == "kept" and [i["id"] for i in body["items"]] == [1, 2]
    assert body["items"][1]["deep"] == {"x": [1]}
    deep = body["items"][0]["deep"]
    if levels <= MAX_DEPTH - 3:  # the root object, its list and the item hold three levels
        assert _depth(deep) == levels
    else:
        assert _depth(deep) == MAX_DEPTH - 3 and TOO_DEEP in json.dumps(body)
    json.dumps(storable(body))  # nothing after the parser meets a recursion limit


def test_loads_refuses_what_is_no_json():
    for raw in (b"<br />\n<b>Warning</b>: {\"items\":", b'{"a": [' + b"[" * 5000, b"", b"{]"):
        with pytest.raises(ValueError):
            loads(raw)


def test_brackets_in_strings_are_no_nesting():
    raw = b'{"t": "' + b"[" * 5000 + b'", "u": "\\"]]]}"}'
    assert loads(raw) == {"t": "[" * 5000, "u": '"]]]}'}


def test_loads_of_a_large_body_takes_bounded_time():
    raw = b'{"items": {"item": [' + b'{"num_iid": 1, "title": "x", "price": "9.90"},' * 150_000 + b"{}]}}"
    started = time.perf_counter()
    assert len(loads(raw)["items"]["item"]) == 150_001
    print(f"\n{len(raw) / 1e6:.1f} MB body read in {time.perf_counter() - started:.2f} s")


@pytest.mark.parametrize(("value", "expected"), [
    ({"t\x00": "a\x00b", "s": ["\ud800", "\udfff!"]}, {"t\ufffd": "a\ufffdb", "s": ["\ufffd", "\ufffd!"]}),
    ({"n": float("nan"), "i": float("-inf"), "f": 1.5}, {"n": "nan", "i": "-inf", "f": 1.5}),
    ({"api_info": {"today": 1}}, {"api_info": {"today": 1}}),
    ((1, True, None), [1, True, None]),
])
def test_storable_is_what_jsonb_accepts(value, expected):
    assert storable(value) == expected


def test_storable_bounds_depth():
    value: list = []
    for _ in range(5000):
        value = [value]
    assert _depth(storable(value)) == MAX_DEPTH


# ---------------------------------------------------------------- the round trip


def _trickled(chunks: int, pause: float, first: bytes = b'{"items": ') -> httpx.Response:
    async def stream():
        yield first
        for _ in range(chunks):
            await asyncio.sleep(pause)
            yield b" "
        yield b"{}}"

    return httpx.Response(200, content=stream())


@pytest.mark.anyio
@pytest.mark.parametrize("call", ["fetch_json", "fetch_any_status"])
async def test_timeout_bounds_the_whole_call_not_each_read(call):
    """A body trickled a byte every 0.1 s never trips a per-read timeout of 1 s."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: _trickled(100, 0.1)))
    started = time.monotonic()
    with pytest.raises(TransientError, match="no complete answer within 1 s"):
        if call == "fetch_json":
            await fetch_json(http, "p", "GET", "http://x.test/", params={}, timeout=1.0, secrets=())
        else:
            await fetch_any_status(http, "p", "http://x.test/", form={}, timeout=1.0, secrets=())
    assert time.monotonic() - started < 2.0
    await http.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("declared", [True, False])
async def test_body_size_is_bounded(declared):
    big = b'{"a": "' + b"x" * 5000 + b'"}'

    def handler(request):
        if declared:
            return httpx.Response(200, content=big)

        async def stream():
            for i in range(0, len(big), 1000):
                yield big[i:i + 1000]
        return httpx.Response(200, content=stream())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(RequestRejected, match="max_body_bytes = 4096") as info:
            await fetch_json(http, "p", "GET", "http://x.test/", params={}, timeout=5,
                             secrets=(), max_bytes=4096)
        assert info.value.code == "body_too_large"
        _, body = await fetch_json(http, "p", "GET", "http://x.test/", params={}, timeout=5,
                                   secrets=(), max_bytes=8192)
    assert len(body["a"]) == 5000


@pytest.mark.anyio
async def test_hostile_values_reach_the_client_as_text():
    raw = b'{"items": {"item": [{"num_iid": 1, "price": NaN}]}, "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    async with httpx.AsyncClient(transport=httpx.MockTransport(
            lambda r: httpx.Response(200, content=raw))) as http:
        _, body = await fetch_json(http, "p", "GET", "http://x.test/", params={}, timeout=5, secrets=())
    assert body["items"]["item"][0]["price"] == "NaN" and TOO_DEEP in json.dumps(body)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_module_examples():
    import doctest

    assert doctest.testmod(jsonbody).failed == 0
