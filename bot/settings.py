"""All configuration, from the environment and an optional ``.env``; built once in ``bot/``.

Nothing else reads the environment. Every field has a working embedded default, so
``huntaze run`` needs no configuration at all.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # storage
    database_url: str = "sqlite+aiosqlite:///./data/huntaze.db"
    database_pool_size: int = Field(20, ge=1, le=1000)  # PostgreSQL connections per process
    redis_url: str | None = None
    # Seconds a Redis connection or command may take before the answer is "not reachable": a
    # Redis that accepts but never answers (a network partition) must not hold every message.
    redis_timeout: float = Field(2.0, gt=0, le=60)
    data_dir: Path = Path("data")
    blob_dir: Path | None = None  # default: <data_dir>/blobs
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_part_mb: int = Field(8, ge=5, le=5120)  # multipart part size
    s3_multipart_mb: int = Field(32, ge=5, le=5120)  # larger files: multipart; smaller: one PUT

    # AI
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout: float = Field(20.0, gt=0)
    openai_max_retries: int = Field(2, ge=0, le=6)
    openai_price_prompt_per_1k: Decimal = Decimal("0.00015")
    openai_price_completion_per_1k: Decimal = Decimal("0.0006")
    llm_concurrency: int = Field(8, ge=1)
    llm_cache_ttl: float = Field(600.0, ge=0)

    # background jobs
    jobs_queue: str = Field("huntaze", min_length=1)  # SAQ queue name in Redis

    # limits
    rate_limit_per_minute: int = Field(30, ge=1)
    max_upload_mb: int = Field(20, ge=1)
    max_import_mb: int = Field(100, ge=1)  # the largest CSV export an import takes

    # chat platforms
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str | None = None
    discord_bot_token: SecretStr | None = None
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None

    # billing
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secrets: str = ""  # comma-separated; two during rotation
    stripe_webhook_tolerance: int = Field(300, ge=1)
    stripe_api_base: str | None = None  # self-hosted mocks, tests
    public_base_url: str = "http://127.0.0.1:8080"
    # Stripe price ids: a product without one cannot be bought.
    stripe_price_pro: str | None = None
    stripe_price_studio: str | None = None
    stripe_price_credits_100: str | None = None
    stripe_price_credits_500: str | None = None
    stripe_price_credits_2000: str | None = None
    # Plan quotas (ideas a day, fan drafts a month, vault size). Default: enforced when Stripe is
    # configured (people can buy more); a self-hosted instance without billing is unlimited.
    enforce_quotas: bool | None = None

    # HTTP server (webhooks, uploads API, metrics, health)
    http_enabled: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    http_shutdown_timeout: float = Field(10.0, ge=0)

    # logging
    log_level: str = "INFO"
    log_format: str = "auto"  # auto | json | console

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.lower()
        if value not in {"auto", "json", "console"}:
            raise ValueError("LOG_FORMAT must be auto, json or console")
        return value

    @property
    def blob_root(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @property
    def webhook_secrets(self) -> list[str]:
        return [s.strip() for s in self.stripe_webhook_secrets.split(",") if s.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_import_bytes(self) -> int:
        return self.max_import_mb * 1024 * 1024

    @property
    def price_ids(self) -> dict[str, str | None]:
        """Product name -> Stripe price id (see ``core.services.billing.default_catalog``)."""
        return {
            "pro": self.stripe_price_pro,
            "studio": self.stripe_price_studio,
            "credits-100": self.stripe_price_credits_100,
            "credits-500": self.stripe_price_credits_500,
            "credits-2000": self.stripe_price_credits_2000,
        }

    @property
    def quotas_enforced(self) -> bool:
        if self.enforce_quotas is not None:
            return self.enforce_quotas
        return self.stripe_api_key is not None

    @property
    def checkout_success_url(self) -> str:
        return self.public_base_url.rstrip("/") + "/billing/return?status=success"

    @property
    def checkout_cancel_url(self) -> str:
        return self.public_base_url.rstrip("/") + "/billing/return?status=cancel"
