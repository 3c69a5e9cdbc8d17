"""The hub's own keys: the Ed25519 key that signs packets and acknowledgements, and the key of
its content digests. Both are made once by `hub init` and loaded once at start."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from hub.errors import ConfigurationError
from hub.intake import HubSecrets
from hub.settings import Settings
from keys import KeyFileError, generate_keyset, load_keyset, write_keyset, write_public_keyset

_MAC_KEY_BYTES = 32


class HubKeyInfo(BaseModel):
    """A public signing key of the hub, as published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    algorithm: str = "ed25519"
    public_key: str


def create_hub_keys(settings: Settings) -> bool:
    """Make the hub's keys if they do not exist yet; return whether it made them."""
    if settings.hub_key_file.exists():
        return False
    keys = generate_keyset(sealing=False)
    write_keyset(keys, settings.hub_key_file, name="hub")
    write_public_keyset(keys.public, settings.hub_public_key_file, name="hub")
    _write_secret(settings.mac_key_file, secrets.token_bytes(_MAC_KEY_BYTES))
    return True


def _write_secret(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)


def load_hub_secrets(settings: Settings) -> tuple[HubSecrets, list[HubKeyInfo]]:
    """Load the hub's keys. Raises ConfigurationError if `hub init` has not made them."""
    try:
        keys = load_keyset(settings.hub_key_file)
        mac_key = settings.mac_key_file.read_bytes()
    except (KeyFileError, OSError) as exc:
        raise ConfigurationError(
            f"hub keys missing or unreadable under {settings.hub_key_file.parent}: run 'hub init'"
        ) from exc
    if len(mac_key) != _MAC_KEY_BYTES:
        raise ConfigurationError(f"{settings.mac_key_file} is not a {_MAC_KEY_BYTES}-byte key")
    public = keys.public
    info = HubKeyInfo(
        key_id=public.signing_key_id,
        public_key=base64.b64encode(bytes(public.signing)).decode("ascii"),
    )
    return HubSecrets(signing_key=keys.signing, mac_key=mac_key), [info]
