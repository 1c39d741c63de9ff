"""Settings of the marketplace sandbox (defaults, TOML file, validation)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from snapprice.errors import ConfigError

PLATFORMS = ("taobao", "1688", "jd", "pinduoduo")
FAULT_KINDS = (
    "http_500", "http_502", "http_503", "reset", "stall", "malformed", "truncated",
    "code15", "slow", "ban",
)
# "ban": risk control bans the caller for ban_seconds although it kept to its QPS (real
# marketplaces do, e.g. for a shared account); only routes that ban know it.
BAN_FAULT_TARGETS = (*PLATFORMS, "top")
# Faults keyed "top" apply to the TOP router, "aliyun" to Aliyun ImageSearch, "aop" to the
# 1688 open platform; platform names to the gateway routes.
FAULT_TARGETS = (*PLATFORMS, "top", "aliyun", "aop")


class SandboxConfig(BaseModel):
    """Everything that shapes one sandbox: its world, credentials, limits and faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 7
    n_products: int = Field(300, ge=1, le=100_000)
    # What real results contain besides honest offers (docs/sandbox.md): per product and
    # platform, the chance of a deposit / pre-order listing, an accessory that reuses the
    # product's picture, a decoy at an anchor price, and an honest clearance at -35 %.
    bait_rates: dict[str, float] = Field(default_factory=lambda: {
        "deposit": 0.08, "accessory": 0.08, "decoy": 0.04, "clearance": 0.05})
    platforms: tuple[str, ...] = PLATFORMS
    day_seconds: float = Field(86_400.0, gt=0)
    gateway_key: str = "demo-key"
    gateway_secret: str = "demo-secret"
    # More key/secret pairs the gateway accepts: accounts, each its own caller (QPS, quota).
    gateway_accounts: tuple[tuple[str, str], ...] = ()
    top_app_key: str = "12345678"
    top_app_secret: str = "demo-top-secret"
    qps: float = Field(50.0, gt=0)
    ban_seconds: int = Field(5, ge=1)
    daily_quota: int = Field(1_000_000, ge=1)
    faults: dict[str, dict[str, float]] = Field(default_factory=dict)
    stall_seconds: float = Field(30.0, ge=0)
    slow_seconds: float = Field(1.5, ge=0)
    fault_seed: int = 1
    # Search: results below this similarity are not relevant (see docs/sandbox.md).
    min_score: float = Field(0.88, ge=0, le=1)
    max_image_bytes: int = Field(10_000_000, gt=0)
    timestamp_window: int = Field(600, ge=1)  # seconds of clock skew TOP accepts
    top_granted_methods: tuple[str, ...] = (
        "taobao.item.search.img", "taobao.tbk.dg.pailitao.widget.convert",
    )
    top_sessions: tuple[str, ...] = ()  # when set, TOP calls need one of these sessions
    # Aliyun ImageSearch 淘宝联盟版 (POP RPC): AccessKey pair and the Alimama PIDs it accepts.
    aliyun_access_key_id: str = "demo-aliyun-id"
    aliyun_access_key_secret: str = "demo-aliyun-secret"
    aliyun_pids: tuple[str, ...] = ("mm_12345678_2345678_34567890",)
    # 1688 open platform (AOP): app key pair, user access tokens, APIs the app was granted.
    aop_app_key: str = "7654321"
    aop_app_secret: str = "demo-aop-secret"
    aop_access_tokens: tuple[str, ...] = ("demo-aop-token",)
    aop_granted_apis: tuple[str, ...] = ("product.image.upload", "product.search.imageQuery")

    @field_validator("platforms")
    @classmethod
    def _known_platforms(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(v) - set(PLATFORMS))
        if unknown:
            raise ValueError(f"unknown platforms {unknown}; known: {list(PLATFORMS)}")
        return v

    @field_validator("faults")
    @classmethod
    def _valid_faults(cls, v: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for target, rates in v.items():
            if target not in FAULT_TARGETS:
                raise ValueError(f"faults.{target}: unknown target; use one of {list(FAULT_TARGETS)}")
            for kind, rate in rates.items():
                if kind not in FAULT_KINDS:
                    raise ValueError(f"faults.{target}.{kind}: unknown kind; use {list(FAULT_KINDS)}")
                if kind == "ban" and target not in BAN_FAULT_TARGETS:
                    raise ValueError(f"faults.{target}.ban: this route throttles without bans;"
                                     f" ban applies to {list(BAN_FAULT_TARGETS)}")
                if not 0 <= rate <= 1:
                    raise ValueError(f"faults.{target}.{kind}: rate {rate} is not within [0, 1]")
            if sum(rates.values()) > 1:
                raise ValueError(f"faults.{target}: rates add up to more than 1")
        return v


def load_config(path: Path | None = None, **overrides: Any) -> SandboxConfig:
    """Read a sandbox config from TOML (top level or a ``[sandbox]`` table), then apply overrides.

    Overrides whose value is ``None`` are ignored, so CLI options can be passed through as is.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"sandbox config {path}: cannot be read ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"sandbox config {path}: invalid TOML ({exc})") from None
        data = dict(raw.get("sandbox", raw))
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SandboxConfig(**data)
    except ValidationError as exc:
        where = f"sandbox config {path}" if path else "sandbox config"
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {loc}: {first['msg']}") from None
