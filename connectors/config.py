"""The connector's configuration: one JSON file, with paths relative to the file's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from connectors.errors import ConfigInvalid
from keys import KeyFileError, credential_path, read_passphrase
from schemas.envelope import RecipientId
from schemas.report import LanguageCode


class ConnectorConfig(BaseModel):
    """Where the hub is, who this recipient is, and where its secrets and reports live."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hub_url: Annotated[str, Field(max_length=500)]
    recipient_id: RecipientId
    credential_file: Path
    keys_file: Path
    hub_public_key_file: Path
    store_dir: Path
    previous_keys_files: list[Path] = Field(
        default_factory=list,
        max_length=20,
        description="Older private key files, kept to open packets sealed before a rotation.",
    )
    webhook_secret_file: Path | None = Field(
        default=None, description="The Standard Webhooks secret pushes are signed with."
    )
    hub_trust_file: Path | None = Field(
        default=None, description="Hub keys trusted later through endorsements (kept here)."
    )
    passphrase_file: Path | None = Field(
        default=None,
        description="The file (mode 0600) holding the passphrase of the private key files.",
    )
    ca_file: Path | None = Field(
        default=None,
        description="PEM certificates to trust for the hub's TLS instead of the system's (a "
        "private CA, or the hub's self-signed certificate).",
    )
    passphrase_credential: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="Or the name of the systemd credential (LoadCredential=) holding it.",
    )
    languages: list[LanguageCode] = Field(
        default_factory=list,
        max_length=10,
        description="The languages reports are read in, first is primary (connector init writes "
        "the profile's); empty: the profile's if --profiles names it, else English.",
    )
    timezone: str = Field(
        default="UTC", description="IANA time zone of the times in readings (the profile's)."
    )
    write_readable_reports: bool = Field(
        default=False,
        description="Also write opened reports as JSON, text, HTML and PDF files (mode 0600, "
        "removed after the profile's readable_retention_days); off: only sealed packets are kept.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PydanticCustomError("timezone", "not an IANA time zone") from exc
        return value

    @field_validator("hub_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in {"http", "https"} or not url.host or url.query:
            raise PydanticCustomError("hub_url", "must be an http:// or https:// URL, no query")
        return value

    @field_validator(
        "credential_file",
        "keys_file",
        "hub_public_key_file",
        "store_dir",
        "webhook_secret_file",
        "hub_trust_file",
        "passphrase_file",
        "ca_file",
        mode="after",
    )
    @classmethod
    def _relative_to_config(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # A config copied with its key files keeps working wherever the folder is moved.
        return None if value is None else _rebase(value, info)

    @field_validator("previous_keys_files", mode="after")
    @classmethod
    def _all_relative_to_config(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [_rebase(path, info) for path in value]


def _rebase(value: Path, info: ValidationInfo) -> Path:
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base is None or value.is_absolute():
        return value
    return Path(base) / value


def load_config(path: Path) -> ConnectorConfig:
    """Read and validate a config file. Raises ConfigInvalid if it is missing or invalid."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigInvalid(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        return ConnectorConfig.model_validate_json(raw, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        # Field names and messages only: pydantic's input values are not echoed.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigInvalid(f"{path}: invalid config ({problems})") from exc


def key_passphrase(config: ConnectorConfig) -> bytes | None:
    """The passphrase of the private key files, from the credential or the file; None if the
    config names neither. Raises ConfigInvalid if it is unreadable or others may read it."""
    try:
        if config.passphrase_credential is not None:
            return read_passphrase(credential_path(config.passphrase_credential))
        if config.passphrase_file is not None:
            return read_passphrase(config.passphrase_file)
    except KeyFileError as exc:
        raise ConfigInvalid(str(exc)) from exc
    return None


def read_token(path: Path) -> str:
    """Read the bearer token from its file (first line). Raises ConfigInvalid if unusable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigInvalid(f"{path}: cannot read credential file") from exc
    token = lines[0].strip() if lines else ""
    if not token or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigInvalid(f"{path}: credential file holds no token on its first line")
    return token
