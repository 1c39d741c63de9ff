"""Image-search clients (one module per protocol), their limiter/retry layer and registry."""

from snapprice.platforms.aliyun import AliyunImageSearchClient, parse_aliyun_body, pop_sign
from snapprice.platforms.aop1688 import Aop1688Client, aop_sign, parse_aop_body
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
    "AliyunImageSearchClient",
    "Aop1688Client",
    "Backoff",
    "CallCounters",
    "GatewayClient",
    "PlatformSearcher",
    "PostgresLimiter",
    "ProcessLimiter",
    "RateLimiter",
    "SearchClient",
    "TopClient",
    "aop_sign",
    "build_searchers",
    "canonical_string",
    "close_searchers",
    "make_http_client",
    "parse_aliyun_body",
    "parse_aop_body",
    "parse_gateway_body",
    "parse_top_body",
    "pop_sign",
    "redact",
    "search_pages",
    "top_sign",
]
