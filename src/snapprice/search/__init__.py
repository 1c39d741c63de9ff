"""Search: a run's image searches, throttled per platform, each finished task stored at once."""

from snapprice.search.executor import SearchSummary, execute_searches

__all__ = ["SearchSummary", "execute_searches"]
