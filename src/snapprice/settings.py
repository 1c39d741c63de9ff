"""Typed settings: config/snapprice.toml overlaid by SNAPPRICE_* environment variables.

Read once (``load_settings``) and passed down; no other module reads the environment.
Secrets never live in the TOML file: a platform section names the environment variables
that hold its credentials, and ``load_settings`` resolves them into ``SecretStr`` values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from snapprice.errors import ConfigError
from snapprice.paths import default_config
from snapprice.redact import secret_parts

DEFAULT_CONFIG = Path("config/snapprice.toml")  # in the working directory; else the packaged one
ENV_PREFIX = "SNAPPRICE_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(_Section):
    url: str = ""  # empty: embedded PostgreSQL (pgserver) under data_dir
    reader_url: str = ""  # a login granted snapprice_reader, for `db query` (DATABASE_READER_URL)
    data_dir: str = ""  # empty: the user's data dir (platformdirs)
    connect_timeout: int = Field(5, ge=1, le=120)


class CatalogSettings(_Section):
    path: str = "sample-catalog/catalog.csv"
    # Image paths may leave the catalog's folder (absolute paths, `..`, symlinks out).
    allow_outside: bool = False
    # A run over the whole catalog retires the matches of SKUs it no longer has, or whose
    # pictures all changed (kept in match_retired, gone from the current views). Set false
    # when several catalogs share one database.
    retire_missing: bool = True


class DedupeSettings(_Section):
    threshold: int = Field(14, ge=0, le=32)  # dedupe.DEFAULT_THRESHOLD
    workers: int = Field(0, ge=0)  # 0: every core
    max_image_bytes: int = Field(25_000_000, gt=0)
    max_pixels: int = Field(60_000_000, gt=0)
    fetch_timeout: float = Field(15.0, gt=0)


class SearchSettings(_Section):
    concurrency: int = Field(8, ge=1, le=256)
    max_attempts: int = Field(6, ge=1, le=50)
    max_retry_seconds: float = Field(300.0, gt=0)
    # auto: the PostgreSQL limiter whenever there is a database (two runs at once share the
    # budget instead of doubling it); process: one budget per process (a lone client).
    limiter: Literal["auto", "process", "postgres"] = "auto"
    # Calls of one platform refused in a row with the same code (none succeeding between)
    # that stop it for the run; 0: never.
    stop_after_same_errors: int = Field(5, ge=0, le=10_000)
    # Finished searches are stored together, one transaction per batch: flushed when this
    # many are buffered or write_interval_ms after the first of them. A kill loses what is
    # not committed (at most two batches: one being written, one filling), and a resume
    # searches those again.
    write_batch: int = Field(64, ge=1, le=10_000)
    write_interval_ms: int = Field(250, ge=1, le=60_000)


class MatchCheckSettings(_Section):
    """Per-SKU match checks of search results (search/verify.py, search/match_check.py)."""

    enabled: bool = True
    # A (sku, listing) pair is matched when the result's picture scores at least this
    # against the SKU's own picture; 0.5 is min_inliers agreeing keypoints with colours
    # max_colour_shift apart.
    min_score: float = Field(0.5, ge=0, le=1)
    min_inliers: int = Field(15, ge=4, le=500)
    max_colour_shift: float = Field(20.0, gt=0, le=400)
    max_concurrency: int = Field(16, ge=1, le=256)  # picture fetches in flight (not the QPS budget)
    # Threads decoding and scoring pictures (each decode holds up to max_pixels × 3 bytes);
    # 0: every core.
    workers: int = Field(2, ge=0, le=64)
    # Bounds of each result picture: bytes, pixels (read from the header), seconds in all.
    max_bytes: int = Field(5_000_000, gt=0)
    max_pixels: int = Field(16_000_000, gt=0)
    timeout: float = Field(5.0, gt=0, le=300)
    cache_days: float = Field(30.0, ge=0)  # a URL's cached digest is trusted this long; 0: never


class ScheduleSettings(_Section):
    """When scheduled runs start: what `snapprice serve` and `snapprice deploy` schedule, and
    the slots `backfill --fill-gaps` checks."""

    cron: str = "0 7 * * *"
    timezone: str = "Asia/Shanghai"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(v, datetime(2000, 1, 1))
        except CronSimError as exc:
            raise ValueError(f"{v!r} is not a cron expression ({exc})") from None
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        return _zone(v)


def _zone(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{v!r} is not a time zone (e.g. Asia/Shanghai, UTC)") from None
    return v


class ReportSettings(_Section):
    """The `[report]` section: how reports and the SQL views present history."""

    # The zone whose days daily_price, the window statistics ("N-day low") and the alert
    # rules' windows are cut in; empty: [schedule] timezone, so a 07:00 run is on its own day.
    timezone: str = ""
    # Days with data (in the 90-day window) a SKU needs before the report shows its "90-day
    # low", its 30-day average and its low badge; until then it says "new" / how many days.
    min_history_days: int = Field(7, ge=1, le=90)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        return _zone(v) if v else v


class AccountSettings(_Section):
    """One credential set of a route (``[[platforms.NAME.accounts]]``): its own QPS budget,
    so k accounts search k times as fast; a banned or spent one is set aside for the run."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")  # in messages and the limiter's key
    credentials: dict[str, str]  # field -> ENV VAR NAME, as the section's own
    qps: float | None = Field(None, gt=0, le=10_000)  # default: the section's qps


class PlatformSettings(_Section):
    # A name in snapprice.search.platforms.registry.PROTOCOLS; checked where platforms are
    # built (check_platforms, build_searchers), so settings need not know the protocols.
    protocol: str = Field(min_length=1)
    base_url: str
    platform: str = ""  # gateway path segment (taobao, 1688, jd, pinduoduo); default: section name
    enabled: bool = True
    qps: float = Field(5.0, gt=0, le=10_000)
    pages: int = Field(1, ge=1, le=100)
    page_size: int = Field(20, ge=1, le=200)
    cat: str = ""
    sort: str = ""
    timeout: float = Field(10.0, gt=0, le=600)  # seconds for a whole call: connect, headers, body
    max_body_bytes: int = Field(8_000_000, gt=0)  # a larger answer is refused (RequestRejected)
    currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")
    credentials: dict[str, str] = Field(default_factory=dict)  # field -> ENV VAR NAME
    accounts: list[AccountSettings] = Field(default_factory=list)  # instead of credentials
    options: dict[str, Any] = Field(default_factory=dict)  # protocol-specific knobs

    def credential_sets(self) -> list[AccountSettings]:
        """The accounts of the section: its ``accounts``, or the one its ``credentials`` and
        ``qps`` describe (named "")."""
        return self.accounts or [AccountSettings.model_construct(name="", credentials=self.credentials, qps=None)]

    @model_validator(mode="after")
    def _one_way_to_name_credentials(self) -> PlatformSettings:
        if self.accounts and self.credentials:
            raise ValueError("give credentials or accounts, not both")
        names = [a.name for a in self.accounts]
        if len(set(names)) != len(names):
            raise ValueError(f"account names must differ (got {', '.join(names)})")
        return self

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class AlertSettings(_Section):
    """The `[alerts]` section: which rules run, their thresholds, and the optional webhook."""

    enabled: bool = True
    target_prices: dict[str, Decimal] = Field(default_factory=dict)  # SKU -> alert at or below
    drop_vs_previous_pct: float = Field(10.0, ge=0, lt=100)  # 0: off
    rise_vs_previous_pct: float = Field(10.0, ge=0, le=1000)  # 0: off
    # Noise control: a change must also be at least this much money (0: any), and a SKU
    # gets at most this many alerts delivered per day, the biggest changes first (0: no cap).
    min_change_abs: Decimal = Field(Decimal(0), ge=0)
    max_per_sku_per_day: int = Field(5, ge=0, le=10_000)
    drop_vs_average_pct: float = Field(15.0, ge=0, lt=100)  # 0: off
    average_days: int = Field(30, ge=1, le=365)
    min_average_days: int = Field(3, ge=1, le=365)  # days of data the average needs
    new_low_days: int = Field(90, ge=0, le=365)  # 0: off
    new_low_min_days: int = Field(7, ge=1, le=365)  # earlier days with data a new low needs
    reappeared_after_runs: int = Field(2, ge=0, le=1000)  # 0: off
    min_score: float = Field(0.0, ge=0, le=1)  # only listings matched at least this well
    webhook_url_env: str = ""  # NAME of the environment variable holding the URL; empty: off
    # NAMES of variables (or secrets-file lines) each holding an Apprise URL: one digest per
    # run to each (tgram://…, mailto://…, dingtalk://…, wecombot://…, ntfy://…).
    channels: list[str] = Field(default_factory=list)
    webhook_timeout: float = Field(10.0, gt=0, le=300)
    webhook_attempts: int = Field(4, ge=1, le=20)
    webhook_batch: int = Field(100, ge=1, le=10_000)


class RetentionSettings(_Section):
    """The `[retention]` section: how long archived raw responses (and, optionally, snapshots)
    are kept; `snapprice db prune` removes what is older."""

    raw_days: int = Field(90, ge=1)  # raw responses received more than this many days ago go
    snapshot_days: int | None = Field(None, ge=1)  # None: price snapshots are kept forever
    batch: int = Field(5_000, ge=1, le=1_000_000)  # raw responses deleted per transaction


# Words in a title that say its price is not the product's (docs/schema.md, price_flag).
BAIT_WORDS = ("定金", "订金", "预定", "预订", "预售定金", "拍下改价", "拍前咨询改价", "联系客服改价", "补差价",
              "差价链接", "补拍", "邮费链接", "运费链接", "专拍", "单拍不发", "不发货", "deposit", "pre-order")


class FlagSettings(_Section):
    """The `[flags]` section: when a snapshot's price is bait or an outlier (price_flag)."""

    enabled: bool = True
    bait_words: list[str] = Field(default_factory=lambda: list(BAIT_WORDS))
    low_ratio: float = Field(0.3, gt=0, lt=1)  # under this share of the SKU's median: suspect_low
    high_ratio: float = Field(2.5, gt=1)  # over this multiple of the SKU's median: suspect_high
    min_listings: int = Field(3, ge=2)  # listings of the SKU in the run the median needs
    own_ratio: float = Field(0.3, gt=0, lt=1)  # under this share of its own recent median: suspect_low
    own_days: int = Field(30, ge=1, le=3650)

    def bait_pattern(self) -> str | None:
        """A PostgreSQL regular expression matching any bait word, case-insensitively (None:
        no words, nothing matches).

        >>> print(FlagSettings(bait_words=["定金", "a.b"]).bait_pattern())
        (?i)(定金|a\\.b)
        """
        words = [w for w in self.bait_words if w.strip()]
        if not words:
            return None
        return "(?i)(" + "|".join(re.escape(w) for w in words) + ")"


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    catalog: CatalogSettings = CatalogSettings()
    dedupe: DedupeSettings = DedupeSettings()
    search: SearchSettings = SearchSettings()
    match_check: MatchCheckSettings = MatchCheckSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    platforms: dict[str, PlatformSettings] = Field(default_factory=dict)
    alerts: AlertSettings = AlertSettings()
    retention: RetentionSettings = RetentionSettings()
    flags: FlagSettings = FlagSettings()
    report: ReportSettings = ReportSettings()
    # Resolved at load time from the variables each platform names; never serialized.
    secrets: dict[str, dict[str, SecretStr]] = Field(default_factory=dict, exclude=True)
    source: str = Field("", exclude=True)

    def day_zone(self) -> str:
        """The time zone days are cut in: ``[report] timezone``, else ``[schedule] timezone``."""
        return self.report.timezone or self.schedule.timezone

    def enabled_platforms(self) -> dict[str, PlatformSettings]:
        return {n: p for n, p in self.platforms.items() if p.enabled}

    def credentials(self, platform: str, account: str = "") -> dict[str, str]:
        """Plain credential values of one platform's account (for the client that signs with
        them); ``account`` "" is the section's own ``credentials``."""
        return {k: v.get_secret_value() for k, v in self.secrets.get(_secret_key(platform, account), {}).items()}

    def alert_channels(self) -> list[tuple[str, str]]:
        """(variable name, Apprise URL) of each ``[alerts] channels`` entry that holds one."""
        held = self.secrets.get(_ALERT_CHANNELS, {})
        return [(name, held[name].get_secret_value()) for name in self.alerts.channels
                if held.get(name) and held[name].get_secret_value()]

    def secret_values(self) -> list[str]:
        """Every secret this config holds (platform credentials, database passwords): what
        ``redact.scrub`` takes out of an error's text before it is stored or shown."""
        values = [v.get_secret_value() for creds in self.secrets.values() for v in creds.values()]
        return values + secret_parts(self.database.url) + secret_parts(self.database.reader_url)

    def digest(self) -> str:
        """A short digest of the effective config (no secrets), stored with each run."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


_ALERT_CHANNELS = "alerts.channels"  # where the channels' URLs are kept among the secrets


def _secret_key(platform: str, account: str) -> str:
    return f"{platform}@{account}" if account else platform


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"environment overlay: {'.'.join(path)} is not a table")
    node[path[-1]] = value


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _read_secrets_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"secrets file {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"secrets file {path}: not UTF-8 text (NAME=value lines)") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"secrets file {path} line {n}: expected NAME=value")
        out[name.strip()] = value.strip().strip("'\"")
    return out


def _choose_platforms(settings: Settings, chosen: Sequence[str], cfg_path: Path) -> None:
    unknown = [name for name in chosen if name not in settings.platforms]
    if unknown:
        raise ConfigError(f"--platform {', '.join(unknown)}: no such [platforms.NAME] section in {cfg_path} "
                          f"(there are: {', '.join(settings.platforms) or 'none'})")
    settings.platforms = {name: plat.model_copy(update={"enabled": name in chosen})
                          for name, plat in settings.platforms.items()}


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    require_credentials: bool = True,
    platforms: Sequence[str] | None = None,
) -> Settings:
    """Read the TOML file, overlay the environment, validate, resolve secrets.

    Precedence: ``path`` argument, ``SNAPPRICE_CONFIG``, ``config/snapprice.toml`` in the
    working directory, the default config shipped in the package.
    ``SNAPPRICE_SECTION__KEY=value`` overrides one key (JSON values allowed:
    ``SNAPPRICE_PLATFORMS__JD__QPS=2``); ``DATABASE_URL`` sets ``database.url`` and
    ``DATABASE_READER_URL`` ``database.reader_url``. Errors name the offending key.
    ``platforms`` (``run --platform``) keeps only those sections, enabled, so that only
    their credentials are needed.
    """
    env = dict(os.environ if environ is None else environ)
    chosen = path or env.get("SNAPPRICE_CONFIG") or ""
    cfg_path = Path(chosen) if chosen else DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else default_config()
    if chosen and not cfg_path.exists():
        raise ConfigError(f"config file {cfg_path} does not exist")
    tree = _read_toml(cfg_path) if cfg_path.exists() else {}
    _overlay_environment(tree, env)
    try:
        settings = Settings.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"{cfg_path if cfg_path.exists() else 'config'}: `{key}`: {err['msg'].removeprefix('Value error, ')}"
        ) from None
    if platforms is not None:
        _choose_platforms(settings, platforms, cfg_path)
    _resolve_secrets(settings, env, require_credentials)
    settings.source = str(cfg_path) if cfg_path.exists() else "<defaults>"
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None


def _overlay_environment(tree: dict[str, Any], env: Mapping[str, str]) -> None:
    """``SNAPPRICE_SECTION__KEY`` variables, then ``DATABASE_URL`` and ``DATABASE_READER_URL``."""
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
        _set_path(tree, keys, _env_value(raw))
    if env.get("DATABASE_URL"):
        _set_path(tree, ["database", "url"], env["DATABASE_URL"])
    if env.get("DATABASE_READER_URL"):
        _set_path(tree, ["database", "reader_url"], env["DATABASE_READER_URL"])


def _resolve_secrets(settings: Settings, env: Mapping[str, str], required: bool) -> None:
    """The credentials each enabled platform names, from the environment or the secrets file."""
    values = dict(env)
    if env.get("SNAPPRICE_SECRETS_FILE"):
        values = {**_read_secrets_file(Path(env["SNAPPRICE_SECRETS_FILE"])), **env}
    settings.secrets[_ALERT_CHANNELS] = {name: SecretStr(values.get(name, "")) for name in settings.alerts.channels}
    for pname, plat in settings.enabled_platforms().items():
        for account in plat.credential_sets():
            where = f"platforms.{pname}" + (f".accounts[{account.name}]" if account.name else "")
            resolved: dict[str, SecretStr] = {}
            for field, var in account.credentials.items():
                value = values.get(var, "")
                if not value and required:
                    raise ConfigError(f"{where}.credentials.{field}: environment variable {var} is not set")
                resolved[field] = SecretStr(value)
            settings.secrets[_secret_key(pname, account.name)] = resolved
