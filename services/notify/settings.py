"""Notify's settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Notify listens on 8004 and owns the `notify` schema."""

    service: str = "notify"
    port: int = 8004
    # SSE: a client whose queue fills (it does not read) is dropped; it reconnects with Last-Event-ID.
    sse_queue_size: int = 1000
    sse_heartbeat_seconds: float = 15.0
    # Streams per key in one notify process (429 above it); the bench's thousand clients raise it.
    sse_max_streams_per_key: int = Field(10, ge=1)
    # How often open streams' keys are re-checked: a revoked or expired key's streams end within this.
    sse_key_check_seconds: float = Field(2.0, gt=0, le=60)
    # Last-Event-ID further back than this many stream ids gets a `resync` event instead of a replay.
    sse_replay_max_rows: int = Field(1000, ge=0, le=100_000)
    # The dashboard's session cookie: its lifetime, and Secure (None: when the request came over https).
    session_ttl_seconds: float = Field(8 * 3600.0, gt=0, le=7 * 24 * 3600.0)
    session_cookie_secure: bool | None = None
    # Webhooks go only to public addresses. Loopback only when set explicitly (tests, `make run`), never
    # in prod; private, link-local and metadata ranges are refused whatever this says.
    webhook_allow_loopback: bool = False
    webhook_timeout_seconds: float = 10.0
    webhook_dns_timeout_seconds: float = Field(3.0, gt=0, le=30)
    # An answer's body is drained (so the connection can be reused) up to this, never kept.
    webhook_max_response_bytes: int = 64 * 1024
    # Subscriptions per owning key (429 above it); admin keys more (the bench's hundred receivers).
    subscriptions_per_key: int = Field(20, ge=1)
    subscriptions_per_admin_key: int = Field(500, ge=1)
    # How stale the "is the owning key still valid" answer may be when a delivery is sent.
    subscription_owner_check_seconds: float = Field(2.0, gt=0, le=10)
    # SMS and e-mail targets confirm with a code first: its lifetime, tries, and codes per target per hour.
    confirm_code_ttl_seconds: float = Field(900.0, gt=0, le=86400)
    confirm_max_attempts: int = Field(5, ge=1, le=20)
    confirm_codes_per_target_per_hour: int = Field(5, ge=1)
    # Retries: exponential backoff with full jitter from `retry_base` up to `retry_max`, for `retry_for`.
    delivery_retry_base_seconds: float = 2.0
    delivery_retry_max_seconds: float = 3600.0
    delivery_retry_for_seconds: float = 24 * 3600.0
    # The delivery worker pool of one process, and at most this many sends in flight per destination.
    delivery_workers: int = 64
    delivery_per_destination: int = 4
    delivery_lease_seconds: float = 120.0
    delivery_poll_seconds: float = 0.5
    # E-mail (SMTP via aiosmtplib).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_sender: str = "lastmeter <notify@lastmeter.example>"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = 10.0
    # SMS provider: `dev` records messages in the sms_messages table.
    sms_provider: str = "dev"
    # The dashboard reads the three rates from sla; the browser calls this URL directly (CORS).
    dashboard_sla_url: str = "http://127.0.0.1:8003"

    @field_validator("dashboard_sla_url")
    @classmethod
    def _sla_url_is_an_origin(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("LASTMETER_DASHBOARD_SLA_URL must be an http(s) URL such as https://sla.example.org")
        return value.rstrip("/")

    @property
    def dashboard_sla_origin(self) -> str:
        """The sla origin the dashboard may connect to (its Content-Security-Policy names it)."""
        parts = urlsplit(self.dashboard_sla_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def loopback_allowed(self) -> bool:
        """Whether webhook URLs may point at this machine (an explicit dev/test setting, never prod)."""
        return self.webhook_allow_loopback and self.env != "prod"

    @model_validator(mode="after")
    def _no_loopback_in_prod(self) -> NotifySettings:
        if self.env == "prod" and self.webhook_allow_loopback:
            raise ValueError("LASTMETER_WEBHOOK_ALLOW_LOOPBACK is for dev and test only")
        return self
