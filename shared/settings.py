"""Settings shared by every service: one pydantic-settings base, built at start-up."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DEV_TOKEN_SECRET = "dev-only-not-secret"
MIN_SECRET_BYTES = 32


class ServiceSettings(BaseSettings):
    """Configuration of one lastmeter process, read from the environment (LASTMETER_*)."""

    model_config = SettingsConfigDict(env_prefix="LASTMETER_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then one file per setting in LASTMETER_SECRETS_DIR (Docker/Kubernetes secrets)."""
        # Read when the settings are built, not at import: e.g. /run/secrets/lastmeter_token_secret.
        secrets_dir = os.environ.get("LASTMETER_SECRETS_DIR")
        files = (SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir),) if secrets_dir else ()
        return (init_settings, env_settings, dotenv_settings, *files)

    service: str = "lastmeter"
    env: Literal["dev", "test", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: int = 8000
    # DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS keep their conventional unprefixed names.
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=AliasChoices("DATABASE_URL", "LASTMETER_DATABASE_URL"),
    )
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "LASTMETER_KAFKA_BOOTSTRAP_SERVERS"),
    )
    # Tests give every case its own prefix so they never see each other's topics or tables.
    topic_prefix: str = ""
    schema_prefix: str = ""
    catalogue_path: Path = REPO_ROOT / "catalogue" / "demo.yaml"
    # Signs what must be signed (dashboard session cookies, stream tickets). Only `env=dev` on a
    # loopback host may run with the public placeholder; everywhere else it must be set, >= 32 bytes.
    token_secret: SecretStr = SecretStr(DEV_TOKEN_SECRET)
    # A resident's access token keeps opening their case this long after it closes (a reopen clears it).
    resident_token_days_after_close: float = Field(30.0, ge=0)
    max_body_bytes: int = 1_000_000
    # Browser origins that may call the API with the dashboard's session cookie (the dashboard served
    # by notify reads sla's rates). Name each origin; "*" admits any origin but never with credentials.
    cors_origins: list[str] = ["http://127.0.0.1:8004", "http://localhost:8004"]
    db_pool_min: int = 2
    db_pool_max: int = 10
    consumer_batch: int = 500
    # Identical transient-looking failures of one event (while others pass) before it is dead-lettered.
    consumer_retry_attempts: int = Field(5, ge=1)
    # How long a group waits for members to rejoin in a rebalance; it also bounds how long a new
    # member's first join takes on the dev broker, so tests and `make run` use a short one.
    kafka_rebalance_timeout_ms: int = 10000
    # How long a fetch waits for data. The dev broker (Tansu) answers a waiting fetch only when this
    # runs out, not when data arrives, so it is added to every hop: 500 ms (aiokafka's default)
    # measured a 132 ms median hop, 20 ms a 7 ms one, for ~50 small fetches a second when idle.
    kafka_fetch_max_wait_ms: int = 20
    log_level: str = "INFO"
    log_json: bool | None = None  # None: JSON when stderr is not a terminal

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> ServiceSettings:
        problem = secret_problem(self.token_secret.get_secret_value())
        if problem and not (self.env == "dev" and is_loopback(self.host)):
            raise ValueError(
                f"LASTMETER_TOKEN_SECRET {problem}: set it to a random secret of at least {MIN_SECRET_BYTES} bytes "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`); only LASTMETER_ENV=dev "
                f"on a loopback LASTMETER_HOST may run without one (env={self.env}, host={self.host})"
            )
        return self

    @property
    def resident_token_retention(self) -> timedelta:
        """How long after its case closes a resident's access token still works."""
        return timedelta(days=self.resident_token_days_after_close)

    @property
    def db_schema(self) -> str:
        """The PostgreSQL schema this service owns."""
        return f"{self.schema_prefix}{self.service}"

    def topic(self, name: str) -> str:
        """The broker topic name for a logical topic, with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def consumer_group(self) -> str:
        """Consumer group id shared by every process of this service."""
        return f"{self.topic_prefix}{self.service}"


def secret_problem(secret: str) -> str | None:
    """Why a token secret is unfit (missing, the public placeholder, too short), or None."""
    if not secret.strip():
        return "is missing"
    if secret == DEV_TOKEN_SECRET:
        return "is the public dev placeholder"
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    return None


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
