"""The sandbox's HTTP app (every protocol, pictures, admin) and ways to run it."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from snapprice.errors import ConfigError
from snapprice.sandbox import aliyun, aop1688, gateway, top
from snapprice.sandbox.config import SandboxConfig
from snapprice.sandbox.market import Market
from snapprice.sandbox.official import RouteState
from snapprice.sandbox.world import World, build_world

_ALL = ["GET", "POST", "PUT", "DELETE", "PATCH"]


_WORLD_FIELDS = ("seed", "n_products", "platforms", "day_seconds")


def build_app(world: World, clock: Callable[[], float] = time.time,
              config: SandboxConfig | None = None) -> Starlette:
    """The ASGI app serving ``world``; ``app.state.market`` holds its state.

    ``config`` (default: the world's) sets credentials, limits and faults; the fields that
    shape the world itself must match the world's.
    """
    config = config or world.config
    mismatch = [f for f in _WORLD_FIELDS if getattr(config, f) != getattr(world.config, f)]
    if mismatch:
        raise ValueError(f"config differs from the world's in {mismatch}: build a world for it")
    market = Market(world, config, clock)
    # The official routes keep their own throttles and nonce memory next to the market.
    aliyun_state, aop_state = RouteState(market), RouteState(market)

    def bind(handler: Callable, *state: RouteState) -> Callable:
        async def endpoint(request: Request) -> Response:
            return await handler(request, market, *state)
        return endpoint

    async def image(request: Request) -> Response:
        platform, item = request.path_params["platform"], request.path_params["item"]
        try:
            if platform == "product":
                data = world.product_image_bytes(item)
            elif platform == "aliyun":  # pictures of Aliyun results are named by their ItemId
                item_id = aliyun.item_id_of(config, item)
                if item_id is None:
                    raise KeyError(item)
                data = world.listing_image_bytes("taobao", item_id)
            else:
                data = world.listing_image_bytes(platform, item)
        except KeyError:
            return Response("no such picture", status_code=404, media_type="text/plain")
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "public, max-age=86400"})

    async def stats(request: Request) -> Response:
        snap = market.stats.snapshot()
        snap["bans_started"] = market.limiter.bans
        snap["world"] = {"seed": world.config.seed, "products": len(world.products),
                         "listings": len(world.listings), "day": world.day(market.now())}
        return JSONResponse(snap)

    async def reset(request: Request) -> Response:
        market.reset()
        aliyun_state.reset()
        aop_state.reset()
        return JSONResponse({"ok": True})

    routes = [
        Route("/router/rest", bind(top.router), methods=_ALL),
        Route("/", bind(aliyun.endpoint, aliyun_state), methods=_ALL),
        Route("/openapi/param2/{version}/{namespace}/{api}/{app_key}", bind(aop1688.endpoint, aop_state),
              methods=_ALL),
        Route("/openapi/param2/{version}/{namespace}/{api}", bind(aop1688.missing_app_key, aop_state),
              methods=_ALL),
        Route("/img/{platform}/{item}.jpg", image, methods=["GET"]),
        Route("/_admin/stats", stats, methods=["GET"]),
        Route("/_admin/reset", reset, methods=["POST"]),
        Route("/{platform}/item_search_img/", bind(gateway.item_search_img), methods=["GET", "POST"]),
        Route("/{platform}/item_search_img", bind(gateway.item_search_img), methods=["GET", "POST"]),
        Route("/{platform}/upload_img/", bind(gateway.upload_img), methods=["GET", "POST"]),
        Route("/{platform}/upload_img", bind(gateway.upload_img), methods=["GET", "POST"]),
        Route("/{platform}/{api}/", bind(gateway.unknown_api), methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.market = market
    return app


class SandboxHandle:
    """A sandbox running in a background thread; ``stop()`` (or leaving ``with``) ends it."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int,
                 world: World, market: Market) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        self.base_url = f"http://{host}:{port}"
        self.world = world
        self.market = market
        self.config = market.config

    def stats(self) -> dict:
        """The counters ``GET /_admin/stats`` serves, read in-process."""
        return self.market.stats.snapshot()

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_in_thread(config: SandboxConfig, host: str = "127.0.0.1", port: int = 0, *,
                    world: World | None = None, clock: Callable[[], float] = time.time,
                    timeout: float = 60.0) -> SandboxHandle:
    """Build the world (unless given) and serve it from a daemon thread; ready on return."""
    world = world or build_world(config)
    app = build_app(world, clock, config)
    ucfg = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="off", timeout_graceful_shutdown=1, http="h11")
    server = uvicorn.Server(ucfg)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError(f"sandbox on {host}:{port} failed to start (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"sandbox on {host}:{port} not ready after {timeout} s")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()[1]
    return SandboxHandle(server, thread, host, bound, world, app.state.market)


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Build the world and serve it in the foreground until interrupted. The port is taken
    first: a busy one is a ConfigError before anything says "serving", and a client that
    calls while the world is still being built waits for it."""
    log = logging.getLogger("snapprice.sandbox")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)  # callers that come while the world is built wait instead of being refused
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot serve the sandbox on {host}:{port}: {exc.strerror}; "
                          "choose another --port") from None
    started = time.perf_counter()
    world = build_world(config)
    log.warning("sandbox world: seed %s, %d products, %d listings, built in %.1f s; serving on http://%s:%d",
                config.seed, len(world.products), len(world.listings), time.perf_counter() - started,
                host, port)
    server = uvicorn.Server(uvicorn.Config(build_app(world), log_level="warning", access_log=False,
                                           lifespan="off", timeout_graceful_shutdown=1))
    server.run(sockets=[sock])
