"""Image-search clients (one module per protocol), their limiter/retry layer and registry."""

from snapprice.search.platforms.aliyun import AliyunImageSearchClient, parse_aliyun_body
from snapprice.search.platforms.aop1688 import Aop1688Client, parse_aop_body
from snapprice.search.platforms.base import SearchClient
from snapprice.search.platforms.gate import CallCounters, Gate
from snapprice.search.platforms.gateway import GatewayClient, parse_gateway_body
from snapprice.search.platforms.http import redact
from snapprice.search.platforms.limiter import PostgresLimiter, ProcessLimiter, RateLimiter
from snapprice.search.platforms.registry import (
    PROTOCOLS,
    build_searchers,
    check_platforms,
    client_class,
    close_searchers,
    make_http_client,
)
from snapprice.search.platforms.searcher import Backoff, PlatformSearcher, search_pages
from snapprice.search.platforms.signing import SIGN_METHODS, aop_sign, canonical_string, pop_sign, top_sign
from snapprice.search.platforms.top import TopClient, parse_top_body

__all__ = [
    "PROTOCOLS",
    "SIGN_METHODS",
    "AliyunImageSearchClient",
    "Aop1688Client",
    "Backoff",
    "CallCounters",
    "Gate",
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
    "check_platforms",
    "client_class",
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
