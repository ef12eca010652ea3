"""Settings of the control plane: one pydantic-settings class read from `ADSBIN_*` variables.

Every backend is chosen here (database, object store, broker, queue, providers); swapping one is a
setting, never a code change. Derived defaults (the SQLite file, the local object store) live under
`data_dir`, so one variable moves a whole installation.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the control plane can be told from its environment."""

    model_config = SettingsConfigDict(env_prefix="ADSBIN_", env_file=None, extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str = ""
    # connections per process: as many as the threads that run requests (AnyIO's 40), so that a
    # busy process queues requests for a thread, not threads for a connection; a request that
    # still waits this long for one answers 503 database_unavailable with Retry-After
    database_pool_size: int = Field(20, ge=1)
    database_max_overflow: int = Field(20, ge=0)
    database_pool_timeout_s: float = Field(10.0, gt=0)
    storage_url: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    mqtt_url: str | None = None
    mqtt_port: int = 18830
    mqtt_host: str = "127.0.0.1"  # where the embedded broker listens
    mqtt_device_url: str | None = None  # how devices reach the broker, if not mqtt_url
    mqtt_service_username: str | None = None  # the control plane's login on an external broker
    mqtt_service_password: SecretStr | None = None
    # an external Mosquitto's dynamic-security admin: with it, we make the service login and
    # every device's login and ACLs there (`devices/broker.py` ExternalMosquitto)
    mqtt_admin_username: str | None = None
    mqtt_admin_password: SecretStr | None = None
    mqtt_auth_hook_secret: SecretStr | None = None  # EMQX HTTP auth hooks (/v1/mqtt/*)
    command_ttl_s: int = 300
    run_broker: bool = True  # start the embedded broker when ADSBIN_MQTT_URL is unset
    heartbeat_interval_s: float = 30.0
    # a screen not heard from for this long is offline: its venue is told, once per outage
    offline_alert_after_s: float = Field(600.0, ge=0)
    pairing_code_ttl_s: int = 900
    # pairing codes one address may ask for a minute (screens behind one NAT, a simulated fleet)
    pairing_requests_per_minute: int = Field(30, ge=1)
    # proof of play: how far a device clock may run ahead, how much longer than expected a play
    # may last, how old a play may arrive
    pop_clock_skew_s: float = 120.0
    pop_duration_tolerance_ms: int = 2000
    pop_max_age_days: int = 90
    # a tracked link's scans are attributed to the screens that played its campaign this long
    # before them (engagement/attribution.py)
    scan_attribution_window_s: float = Field(900.0, ge=0, le=7 * 86_400)
    queue_url: str | None = None
    queue_name: str = "adsbin"
    queue_workers: int = 2
    # where the rate limits count (logins, pairing codes, ...): unset, the queue's Redis when
    # the queue is on Redis (every API process then shares one window), else each process's
    # memory; `memory://` or `redis://…` to choose
    rate_limit_url: str | None = None
    run_worker: bool = True  # `adsbin serve` consumes jobs in-process unless told not to
    run_scheduler: bool = True  # and asks for the hourly pacing rebuild
    schedule_tick_s: float = 3600.0
    minor_tick_s: float = 60.0  # checks that should not wait for the hour (screens offline)
    job_retry_base_s: float = 2.0
    job_retry_max_s: float = 300.0
    # a running job whose process renewed no lease for this long is queued again (a dead worker)
    job_lease_s: float = Field(60.0, gt=0)
    public_url: str = "http://127.0.0.1:8000"

    # identity
    issuer: str = ""
    access_token_ttl_s: int = 3600
    token_leeway_s: int = 10
    jwks_refetch_cooldown_s: float = 30.0
    authorized_parties: list[str] = Field(default_factory=list)
    clerk_issuer: str | None = None
    clerk_jwks_url: str | None = None
    clerk_secret_key: SecretStr | None = None
    clerk_webhook_secret: SecretStr | None = None
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: SecretStr | None = None

    # request hygiene
    max_body_bytes: int = 1_048_576
    max_upload_bytes: int = 1_073_741_824
    max_image_bytes: int = 50 * 1024 * 1024
    max_video_bytes: int = 1024 * 1024 * 1024
    max_image_pixels: int = 50_000_000
    max_video_duration_s: float = 3600
    upload_url_ttl_s: int = 3600
    login_attempts_per_minute: int = 10
    # "fast" is for test suites only: passwords hashed in a fraction of a millisecond, with no
    # protection for a stolen table (`orgs/passwords.py`)
    password_hashing: Literal["rfc9106", "fast"] = "rfc9106"  # noqa: S105 - a profile name
    # signups one client address may try a minute (each answer, 201 or 409 email_taken, counts)
    signup_attempts_per_minute: int = Field(10, ge=1)

    # money: billing cycles are calendar months in UTC (or `billing_cycle_days` long, counted
    # from the epoch); the scheduler closes one `billing_close_grace_h` after it ends
    billing_cycle: str = Field("month", pattern="^(month|days)$")
    billing_cycle_days: int = Field(30, ge=1, le=366)
    billing_close_grace_h: float = Field(48.0, ge=0)
    billing_auto_close: bool = True
    invoice_days_until_due: int = Field(30, ge=1, le=365)
    # revenue share: venues' share in basis points until a policy is set
    revenue_default_bps: int = Field(6000, ge=0, le=10_000)
    payout_delay_days: int = Field(30, ge=0)  # net-30: transfers this long after a period ends
    payout_minimum_cents: int = Field(2500, ge=0)  # smaller balances roll over
    payout_auto_run: bool = True
    connect_country: str = "FR"

    # providers (offline mode when unset)
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # another address for Stripe's API (tests)
    stripe_timeout_s: float = 30.0
    stripe_max_network_retries: int = 2
    stripe_webhook_tolerance_s: int = 300  # older signed deliveries are refused (replays)
    resend_api_key: SecretStr | None = None
    resend_api_url: str = "https://api.resend.com"  # another address for Resend's API (tests)
    resend_webhook_secret: SecretStr | None = None  # Svix's whsec_… of the status webhook
    resend_timeout_s: float = 15.0
    email_from: str = "ADSBIN <notifications@adsbin.local>"
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_api_base: str | None = None  # Twilio's API elsewhere (tests' fake); None: Twilio
    twilio_status_callback: bool = True  # ask Twilio to report delivery to our webhook
    vapid_private_key: SecretStr | None = None  # PEM or base64url; else made in keys_dir
    vapid_subject: str = "mailto:ops@adsbin.local"  # who push services may contact
    push_ttl_s: int = Field(86400, ge=0)  # how long a push service keeps an undelivered push
    # http:// push endpoints on loopback (a local push service in tests), never in production
    push_allow_insecure_endpoints: bool = False
    # push endpoints whose host resolves to a private, loopback or link-local address (a local
    # push service in tests); refused by default, at subscription and at every send
    push_allow_private_endpoints: bool = False
    coconut_api_key: SecretStr | None = None
    coconut_base_url: str = "https://api.coconut.co"

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'adsbin.db').resolve()}"
        if not self.storage_url:
            self.storage_url = f"file://{(self.data_dir / 'objects').resolve()}"
        self.public_url = self.public_url.rstrip("/")
        if not self.issuer:
            self.issuer = self.public_url
        return self

    @property
    def keys_dir(self) -> Path:
        """Where the built-in issuer keeps its RS256 signing keys."""
        return self.data_dir / "keys"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def clerk_enabled(self) -> bool:
        """Whether tokens from a Clerk instance are accepted as well as our own."""
        return bool(self.clerk_issuer)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
