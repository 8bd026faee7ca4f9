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
    redis_url: str | None = None
    data_dir: Path = Path("data")
    blob_dir: Path | None = None  # default: <data_dir>/blobs
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"

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

    # limits
    rate_limit_per_minute: int = Field(30, ge=1)
    max_upload_mb: int = Field(20, ge=1)

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
    stripe_api_base: str | None = None
    public_base_url: str = "http://127.0.0.1:8080"

    # HTTP server
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)

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
