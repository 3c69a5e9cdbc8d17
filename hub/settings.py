"""Settings of one hub process, read from HUB_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the hub keeps its data and how it behaves; every field has a HUB_ variable."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="forbid")

    data_dir: Path = Field(Path("var"), description="Database, hub keys and demo material.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite at data_dir/hub.db."
    )
    routing_policy: Path = Field(Path("deploy/routing.toml"), description="The routing rules.")
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="Larger requests get 413.")
    lease_seconds: int = Field(300, ge=1, description="How long a pulled packet is reserved.")
    inbox_limit: int = Field(100, ge=1, le=1000, description="Most packets per pull.")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def hub_key_file(self) -> Path:
        return self.data_dir / "hub" / "hub.keys.json"

    @property
    def hub_public_key_file(self) -> Path:
        return self.data_dir / "hub" / "hub.pub.json"

    @property
    def mac_key_file(self) -> Path:
        return self.data_dir / "hub" / "content-mac.key"
