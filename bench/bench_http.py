"""CPU per API request of the platforms' HTTP client: httpx's own transport vs ApiTransport.

    python bench/bench_http.py [--requests 3000] [--concurrency 16]

A minimal loopback server (its own process) answers every GET with a 20-item gateway body;
each transport makes the same requests the way ``http._exchange`` does (streamed, bounded,
one deadline). Prints CPU ms per request of this process and the ratio to httpx's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import httpx

from bench_e2e import free_port
from snapprice.search.platforms.transport import ApiTransport

SERVER = r'''
import asyncio, sys
body = sys.stdin.buffer.read()
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
async def handle(r, w):
    try:
        while True:
            await r.readuntil(b"\r\n\r\n")
            w.write(head + body)
            await w.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    w.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
'''


def body() -> bytes:
    items = [{"num_iid": 600000 + i, "title": "北欧高档充电宝 大容量 快充" * 2, "price": "39.00-59.00",
              "promotion_price": "35.90", "pic_url": f"//img.example/{i}.jpg", "sales": "1万+人付款",
              "seller_nick": "shop", "detail_url": f"https://item.example/{i}"} for i in range(20)]
    return json.dumps({"error_code": "0000", "items": {"page": 1, "pagecount": 3, "item": items}},
                      ensure_ascii=False).encode()


async def one_transport(url: str, transport: httpx.AsyncBaseTransport | None, n: int, c: int) -> float:
    limits = httpx.Limits(max_connections=c + 2, max_keepalive_connections=c + 2, keepalive_expiry=30)
    left = [n]
    async with httpx.AsyncClient(limits=limits, transport=transport) as http:
        async def worker() -> None:
            while left[0] > 0:
                left[0] -= 1
                async with asyncio.timeout(10):
                    async with http.stream("GET", url, params={"key": "k", "secret": "s", "imgid": "//x/y.jpg",
                                                               "page": 1},
                                           timeout=httpx.Timeout(10, connect=5)) as resp:
                        buf = bytearray()
                        async for chunk in resp.aiter_bytes():
                            buf += chunk
                    assert resp.status_code == 200 and len(buf) > 1000

        await worker()  # connect and warm up
        cpu0 = time.process_time()
        left[0] = n
        await asyncio.gather(*(worker() for _ in range(c)))
        return (time.process_time() - cpu0) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    server.stdin.write(body())  # type: ignore[union-attr]
    server.stdin.close()  # type: ignore[union-attr]
    server.stdout.readline()  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/taobao/item_search_img/"
    try:
        base = asyncio.run(one_transport(url, None, args.requests, args.concurrency))
        mine = asyncio.run(one_transport(
            url, ApiTransport(httpx.Limits(max_connections=args.concurrency + 2)), args.requests,
            args.concurrency))
    finally:
        server.terminate()
        server.wait(10)
    print(f"{args.requests} requests, {args.concurrency} in flight: httpx's transport {base:.3f} ms CPU/request, "
          f"ApiTransport {mine:.3f} ms ({mine / base:.2f} x)")


if __name__ == "__main__":
    main()
