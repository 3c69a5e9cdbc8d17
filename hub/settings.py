"""Settings of one hub process, read from HUB_* environment variables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


class Settings(BaseSettings):
    """Where the hub keeps its data and how it behaves; every field has a HUB_ variable."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid")

    data_dir: Path = Field(Path("var"), description="Database, hub keys and demo material.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite at data_dir/hub.db."
    )
    database_url_file: Path | None = Field(
        None, description="A file holding the database URL (a secret: it may carry a password)."
    )
    routing_policy: Path = Field(Path("deploy/routing.toml"), description="The routing rules.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Larger requests get 413.")
    lease_seconds: int = Field(300, ge=1, description="How long a pulled packet is reserved.")
    inbox_limit: int = Field(100, ge=1, le=1000, description="Most packets per pull.")
    push_interval_seconds: float = Field(1.0, gt=0, description="How often the push worker runs.")
    push_batch: int = Field(64, ge=1, le=1000, description="Most deliveries one worker run claims.")
    push_concurrency: int = Field(8, ge=1, le=64, description="Pushes in flight at once.")
    push_client: Literal["urllib3", "httpx"] = Field(
        "urllib3", description="The push HTTP client (docs/delivery.md, 'The push client')."
    )
    push_timeout_seconds: float = Field(10.0, gt=0, description="Per push request.")
    claim_seconds: int = Field(60, ge=1, description="How long a claimed push is reserved.")
    retry_base_seconds: float = Field(2.0, gt=0, description="First retry delay (before jitter).")
    retry_max_seconds: float = Field(600.0, gt=0, description="Longest retry delay.")
    retry_horizon_seconds: int = Field(3 * 86400, ge=1, description="Past this a push is dead.")
    retention_seconds: int = Field(30 * 86400, ge=0, description="Keep sealed bytes after receipt.")
    dead_retention_seconds: int = Field(90 * 86400, ge=0, description="Keep dead sealed bytes.")
    purge_interval_seconds: float = Field(3600.0, gt=0, description="How often purge runs.")
    scheduler: bool = Field(True, description="Run the push and purge jobs in this process.")
    audit_interval_seconds: float = Field(
        60.0, gt=0, description="How often the fleet signs an audit tree head over new entries."
    )
    audit_promise_margin_seconds: float = Field(
        60.0,
        ge=0,
        description="Slack, beyond one audit interval, in the deadline an acknowledgement promises "
        'for a signed tree head that includes the report (docs/audit.md, "Promises").',
    )
    audit_verify_interval_seconds: float = Field(
        3600.0,
        gt=0,
        description="How often the fleet verifies the whole stored log; this grows with the log.",
    )
    quality_criteria: Path | None = Field(
        None,
        description="A deployment's own copy of the quality standards and thresholds; by default "
        "the hub package's hub/oversight/standards.toml.",
    )
    classification_codes: Path | None = Field(
        None,
        description="The coordinators' classification and reason codes, added to and overriding "
        "the shipped schemas/classification.toml (docs/classification.md).",
    )
    dashboard_session_seconds: int = Field(
        8 * 3600, ge=60, description="How long a coordinator's dashboard login lasts."
    )
    intake_rate_limit: str = Field(
        "60/minute",
        pattern=r"^\d{1,9} ?(/|per) ?\d{0,9} ?(second|minute|hour|day)s?$",
        description="Most report submissions per source and window, in this process.",
    )
    api_docs: bool = Field(
        False,
        description="Serve /docs and /redoc, whose pages load scripts from a public CDN: for "
        "development only. /openapi.json is always served.",
    )
    receipts_rate_limit: str = Field(
        "120/minute",
        pattern=r"^\d{1,9} ?(/|per) ?\d{0,9} ?(second|minute|hour|day)s?$",
        description="Most receipt batches per recipient and window, in this process.",
    )
    inbox_rate_limit: str = Field(
        "120/minute",
        pattern=r"^\d{1,9} ?(/|per) ?\d{0,9} ?(second|minute|hour|day)s?$",
        description="Most pulls of the inbox per recipient and window, in this process.",
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        if self.database_url_file is not None:
            return self.database_url_file.read_text(encoding="utf-8").strip()
        return f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def shown_database_url(self) -> str:
        """The database URL fit to print or log: its password hidden, its query left off."""
        url = make_url(self.resolved_database_url)
        return url.set(query={}).render_as_string(hide_password=True)

    @property
    def promise_within(self) -> timedelta:
        """How long after accepting a report the hub promises a tree head that includes it."""
        return timedelta(seconds=self.audit_interval_seconds + self.audit_promise_margin_seconds)

    @property
    def hub_key_file(self) -> Path:
        return self.data_dir / "hub" / "hub.keys.pem"

    @property
    def signed_head_file(self) -> Path:
        """The newest signed tree head's size, beside the key: a restore does not roll it back."""
        return self.data_dir / "hub" / "newest-signed-head.json"

    @property
    def legacy_hub_key_file(self) -> Path:
        """The plain JSON signing key file of hubs made before keys were encrypted."""
        return self.data_dir / "hub" / "hub.keys.json"

    @property
    def hub_public_key_file(self) -> Path:
        return self.data_dir / "hub" / "hub.pub.json"
