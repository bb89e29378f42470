"""Settings of the REST API (``SCEAU_API_*``), read once per application."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCEAU_API_", extra="ignore")

    rate_per_second: float = 50.0  # per token, per process; 0 disables the limit
    rate_burst: int = 200
    token_max_days: int = 366
    idempotency_stale_seconds: int = 300  # a key claimed by a request that died
