"""The exception tree: every error snapprice raises says what happened and to what."""

from __future__ import annotations


class SnappriceError(Exception):
    """Base of every error raised by snapprice."""


class ConfigError(SnappriceError):
    """The configuration is invalid; the message names the key."""


class DatabaseUnavailable(SnappriceError):
    """The configured PostgreSQL cannot be reached or started."""


class MigrationError(SnappriceError):
    """A schema migration failed or the database is newer than the code."""


class CatalogError(SnappriceError):
    """A catalog cannot be read at all (missing required columns, unreadable file)."""


class ImageRejected(SnappriceError):
    """One image cannot be used; `reason` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class PlatformError(SnappriceError):
    """A marketplace call failed. Subclasses say whether retrying can help."""

    def __init__(
        self,
        platform: str,
        message: str,
        *,
        code: str | None = None,
        sub_code: str | None = None,
    ) -> None:
        super().__init__(f"{platform}: {message}" + (f" (code {code})" if code else ""))
        self.platform = platform
        self.message = message
        self.code = code
        self.sub_code = sub_code


class TransientError(PlatformError):
    """Retrying later may succeed: 5xx, timeouts, resets, malformed bodies, isp.* errors."""

    def __init__(self, platform: str, message: str, *, retry_after: float | None = None,
                 code: str | None = None, sub_code: str | None = None) -> None:
        super().__init__(platform, message, code=code, sub_code=sub_code)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The platform refused the call for going too fast; `retry_after` is the ban in seconds."""


class RequestRejected(PlatformError):
    """This one request is wrong (bad argument, unusable image); others may still succeed."""


class PlatformFatal(PlatformError):
    """Stop this platform for the run: bad signature, bad key, no permission, quota spent."""


class QuotaExhausted(PlatformFatal):
    """The account's daily or total call quota is spent."""
