"""The hub's own keys: the Ed25519 key that signs packets and acknowledgements, and the key of
its content digests, made by `hub init` and loaded once at start.

Rotation (`hub keys rotate-hub`) makes a new signing key from now on, endorsed by the old one,
and keeps the public history in `hub-keys.json`, published at /.well-known/ctt-hub-keys.json so
that a connector trusting any earlier key can verify its way to the new one. The running hub
picks the new key up at its next start.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from nacl.signing import SigningKey
from pydantic import ValidationError

from hub.crypto import sign_envelope
from hub.errors import ConfigurationError
from hub.files import private_folder
from hub.settings import Settings
from keys import (
    KeyFileError,
    KeySet,
    generate_keyset,
    load_keyset,
    write_keyset,
    write_public_keyset,
)
from schemas.envelope import HUB_KEY_TYPE, HubKeyEndorsement, PublishedHubKey, PublishedHubKeys

_MAC_KEY_BYTES = 32


@dataclass(frozen=True)
class HubSecrets:
    """The hub's signing key and the key of its content digests, loaded once at start."""

    signing_key: SigningKey
    mac_key: bytes


def _published(keys: KeySet, valid_from: datetime) -> PublishedHubKey:
    return PublishedHubKey(
        key_id=keys.public.signing_key_id,
        public_key=base64.b64encode(bytes(keys.public.signing)).decode("ascii"),
        valid_from=valid_from,
    )


def _index_file(settings: Settings) -> Path:
    return settings.hub_key_file.parent / "hub-keys.json"


def _write_index(settings: Settings, index: PublishedHubKeys) -> None:
    path = _index_file(settings)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(index.model_dump_json(indent=2, exclude_none=True) + "\n")
    os.replace(temporary, path)


def create_hub_keys(settings: Settings, now: datetime | None = None) -> bool:
    """Make the hub's keys if they do not exist yet; return whether it made them."""
    if settings.hub_key_file.exists():
        return False
    private_folder(settings.hub_key_file.parent)
    keys = generate_keyset(sealing=False)
    write_keyset(keys, settings.hub_key_file, name="hub")
    write_public_keyset(keys.public, settings.hub_public_key_file, name="hub")
    _write_secret(settings.mac_key_file, secrets.token_bytes(_MAC_KEY_BYTES))
    start = now or datetime.now(UTC)
    _write_index(settings, PublishedHubKeys(keys=[_published(keys, start)]))
    return True


def _write_secret(path: Path, raw: bytes) -> None:
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(raw)


def published_keys(settings: Settings) -> PublishedHubKeys:
    """The public history of the hub's signing keys. Raises ConfigurationError if unreadable."""
    try:
        return PublishedHubKeys.model_validate_json(_index_file(settings).read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigurationError(
            f"{_index_file(settings)} missing or invalid: run 'hub init'"
        ) from exc


def load_hub_secrets(settings: Settings) -> tuple[HubSecrets, PublishedHubKeys]:
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
    published = published_keys(settings)
    if published.keys[-1].key_id != keys.public.signing_key_id:
        raise ConfigurationError("the hub's signing key is not the newest published key")
    return HubSecrets(signing_key=keys.signing, mac_key=mac_key), published


def rotate_hub_key(settings: Settings, now: datetime) -> PublishedHubKey:
    """Replace the hub's signing key from `now`, endorsed by the old one; return the new key.

    Raises ConfigurationError if the current keys cannot be read.
    """
    old = load_hub_secrets(settings)[0].signing_key
    history = published_keys(settings)
    new = generate_keyset(sealing=False)
    entry = _published(new, now)
    endorsement = sign_envelope(
        HUB_KEY_TYPE,
        HubKeyEndorsement(key_id=entry.key_id, public_key=entry.public_key, valid_from=now),
        old,
    )
    entry = entry.model_copy(update={"endorsement": endorsement})
    retired = history.keys[-1].model_copy(update={"valid_until": now})
    staged = settings.hub_key_file.with_suffix(".new")
    staged.unlink(missing_ok=True)
    write_keyset(new, staged, name="hub")
    _write_index(settings, PublishedHubKeys(keys=[*history.keys[:-1], retired, entry]))
    os.replace(staged, settings.hub_key_file)
    settings.hub_public_key_file.unlink(missing_ok=True)
    write_public_keyset(new.public, settings.hub_public_key_file, name="hub")
    return entry
