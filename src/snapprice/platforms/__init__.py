"""Image-search clients (one module per protocol), their limiter/retry layer and registry."""

from snapprice.platforms.base import SearchClient, redact
from snapprice.platforms.gateway import GatewayClient, parse_gateway_body
from snapprice.platforms.limiter import PostgresLimiter, ProcessLimiter, RateLimiter
from snapprice.platforms.registry import (
    PROTOCOLS,
    build_searchers,
    close_searchers,
    make_http_client,
)
from snapprice.platforms.searcher import Backoff, CallCounters, PlatformSearcher, search_pages
from snapprice.platforms.signing import SIGN_METHODS, canonical_string, top_sign
from snapprice.platforms.top import TopClient, parse_top_body

__all__ = [
    "PROTOCOLS",
    "SIGN_METHODS",
    "Backoff",
    "CallCounters",
    "GatewayClient",
    "PlatformSearcher",
    "PostgresLimiter",
    "ProcessLimiter",
    "RateLimiter",
    "SearchClient",
    "TopClient",
    "build_searchers",
    "canonical_string",
    "close_searchers",
    "make_http_client",
    "parse_gateway_body",
    "parse_top_body",
    "redact",
    "search_pages",
    "top_sign",
]
