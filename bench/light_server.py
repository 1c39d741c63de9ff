"""A light, strict gateway server for bench_e2e's light mode: its own cost stays out of the way.

    python bench/light_server.py --port 8099 --qps 100 [--items 20]

Serves ``GET /{platform}/item_search_img/`` as the Onebound-style gateway does (key and
secret checked, ``imgid`` required, string error codes in HTTP 200 bodies) with canned,
realistic results: ``--items`` distinct listings per picture and platform (ids derived from
the picture's URL), prices as strings (some ranges), promotional prices, sales text in the
platforms' style, scheme-less picture URLs. It enforces ``--qps`` per (key, platform) with
the sandbox's token bucket: a call over the pace starts a ban (error 4008, "retry in N s"),
as the real gateway does. It never fetches the picture: a search costs it well under a
millisecond, so a bench measures the pipeline, not the marketplace.

``POST /_reset`` clears the counters and moves prices to the next "day";
``GET /_stats`` gives the admitted calls, refusals and bans, and the server's own times
(epoch seconds) of the first and the last admitted call.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

import uvicorn

from snapprice.sandbox.limits import Limiter

KEY, SECRET = "demo-key", "demo-secret"
SALES = ("{n}人付款", "{n}+人付款", "已拼{n}件", "月销 {n}+", "{n}")


class LightGateway:
    def __init__(self, qps: float, items: int, ban_seconds: int) -> None:
        self.limiter = Limiter(qps=qps, ban_seconds=ban_seconds, daily_quota=10**9, day_seconds=86400)
        self.items = items
        self.day = 0
        self.reset()

    def reset(self) -> None:
        self.limiter.reset()
        self.calls = 0
        self.refused: dict[str, int] = {}
        self.first = self.last = None
        self.day += 1

    def stats(self) -> dict[str, Any]:
        return {"calls": self.calls, "refused": self.refused, "bans": self.limiter.bans,
                "first": self.first, "last": self.last}

    def _listing(self, platform: str, seed: bytes, rank: int) -> dict[str, Any]:
        h = hashlib.blake2b(seed + rank.to_bytes(2, "big"), digest_size=16).digest()
        item_id = str(int.from_bytes(h[:6], "big"))
        cents = 500 + int.from_bytes(h[6:9], "big") % 50_000
        drift = 1 + ((self.day + h[9]) % 7 - 3) / 100  # prices move a little each "day"
        price = cents * drift / 100
        out = {
            "num_iid": item_id,
            "title": f"{platform} 同款 商品 {item_id[-6:]} 新款 {rank}",
            "pic_url": f"//img.example.com/bao/{item_id}.jpg",
            "price": f"{price:.2f}" if h[10] % 5 else f"{price:.2f}-{price * 1.4:.2f}",
            "promotion_price": f"{price * 0.9:.2f}" if h[11] % 3 == 0 else "",
            "sales": SALES[h[12] % len(SALES)].format(n=int.from_bytes(h[13:15], "big") % 20_000),
            "seller_nick": f"店铺{h[15] % 200}",
            "detail_url": f"https://item.example.com/item.htm?id={item_id}",
            "post_fee": "0.00" if h[14] % 2 else "8.00",
            "area": "浙江 杭州",
        }
        return out

    def search(self, platform: str, query: dict[str, str]) -> dict[str, Any]:
        if query.get("key") != KEY or query.get("secret") != SECRET:
            return self._error("4005", "key", "Invalid authentication credentials")
        verdict = self.limiter.check(f"{query['key']}:{platform}")
        if not verdict.admitted:
            return self._error("4008", "limit", f"API rate limit exceeded: retry in {verdict.wait_seconds} s")
        imgid = query.get("imgid", "")
        if not imgid:
            return self._error("4003", "param", "Param error: imgid is required")
        now = time.time()
        self.calls += 1
        self.first = self.first or now
        self.last = now
        page = int(query.get("page", "1"))
        size = self.items
        seed = f"{platform}|{imgid}|{page}".encode()
        items = [self._listing(platform, seed, r) for r in range(size)]
        return {"items": {"page": str(page), "page_size": size, "real_total_results": str(size),
                          "total_results": str(size), "pagecount": "1", "item": items},
                "cache": 0, "error_code": "0000", "reason": "ok", "error": "",
                "api_info": f"today:{self.calls} max:1000000", "request_id": f"gw-{self.calls}"}

    def _error(self, code: str, error: str, reason: str) -> dict[str, Any]:
        self.refused[code] = self.refused.get(code, 0) + 1
        return {"error_code": code, "error": error, "reason": reason}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/_stats":
            body = self.stats()
        elif path == "/_reset":
            self.reset()
            body = {"ok": True}
        else:
            parts = path.strip("/").split("/")
            if len(parts) == 2 and parts[1] == "item_search_img":
                query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
                body = self.search(parts[0], query)
            else:
                body = self._error("4010", "api", "API not found with these values")
        data = json.dumps(body, ensure_ascii=False).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json;charset=UTF-8"),
                                (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--qps", type=float, required=True, help="per (key, platform)")
    ap.add_argument("--items", type=int, default=20, help="results per search")
    ap.add_argument("--ban-seconds", type=int, default=2)
    args = ap.parse_args()
    uvicorn.run(LightGateway(args.qps, args.items, args.ban_seconds), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
