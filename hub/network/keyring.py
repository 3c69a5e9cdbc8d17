"""The hub's own keys: the Ed25519 key that signs packets and acknowledgements, the key of its
content digests and the key its webhook secrets are encrypted with in the database, made by
`hub init` and loaded once at start.

One mechanism for all three, as for a member's connector (keys.passphrase): each secret comes
from a systemd credential of its name when the unit passes one (`LoadCredential=`, under
`$CREDENTIALS_DIRECTORY`), else from the file of that name beside the keys; either way a file
that group or others may read is refused. The signing key file is encrypted PKCS#8 PEM whose
passphrase is the secret `hub-passphrase`; `content-mac.key` and `webhook-secrets.key` are raw
32-byte keys. An old plain JSON signing key file is converted by `hub init`.

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
from hub.logs import get_logger
from hub.network.webhook_secrets import KEY_BYTES as WEBHOOK_KEY_BYTES
from hub.settings import Settings
from keys import (
    KeyFileError,
    KeySet,
    create_passphrase_file,
    generate_keyset,
    keyset_pem,
    load_keyset,
    read_passphrase,
    read_secret_file,
    write_keyset,
    write_public_keyset,
)
from keys.passphrase import CREDENTIALS_ENV
from schemas.envelope import HUB_KEY_TYPE, HubKeyEndorsement, PublishedHubKey, PublishedHubKeys

log = get_logger(__name__)

_MAC_KEY_BYTES = 32
PASSPHRASE = "hub-passphrase"  # noqa: S105 - the name of the credential, not its value
MAC_KEY = "content-mac.key"
WEBHOOK_KEY = "webhook-secrets.key"


def secret_path(settings: Settings, name: str) -> Path:
    """Where one of the hub's secrets is: its systemd credential if passed, else its file."""
    folder = os.environ.get(CREDENTIALS_ENV)
    if folder and (Path(folder) / name).is_file():
        return Path(folder) / name
    return settings.hub_key_file.parent / name


def _raw_key(settings: Settings, name: str, size: int) -> bytes:
    """A raw key of `size` bytes. Raises ConfigurationError if missing, exposed or malformed."""
    path = secret_path(settings, name)
    try:
        key = read_secret_file(path)
    except KeyFileError as exc:
        raise ConfigurationError(f"{exc}: run 'hub init'") from exc
    if len(key) != size:
        raise ConfigurationError(f"{path} is not a {size}-byte key")
    return key


def load_webhook_key(settings: Settings) -> bytes:
    """The key of the webhook secrets in the database. Raises ConfigurationError."""
    return _raw_key(settings, WEBHOOK_KEY, WEBHOOK_KEY_BYTES)


def _hub_passphrase(settings: Settings, *, create: bool = False) -> bytes:
    path = secret_path(settings, PASSPHRASE)
    try:
        return create_passphrase_file(path) if create else read_passphrase(path)
    except KeyFileError as exc:
        raise ConfigurationError(str(exc)) from exc


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
    """Make the hub's keys if they do not exist yet; return whether it made a signing key.

    On a hub made before keys were encrypted, it encrypts the old JSON signing key file and
    makes the webhook key. Raises ConfigurationError if an existing secret is unusable.
    """
    _ensure_raw_key(settings, WEBHOOK_KEY, WEBHOOK_KEY_BYTES)
    if settings.legacy_hub_key_file.exists() and not settings.hub_key_file.exists():
        _protect_legacy(settings)
        return False
    if settings.hub_key_file.exists():
        return False
    private_folder(settings.hub_key_file.parent)
    keys = generate_keyset(sealing=False)
    write_keyset(
        keys, settings.hub_key_file, name="hub", passphrase=_hub_passphrase(settings, create=True)
    )
    write_public_keyset(keys.public, settings.hub_public_key_file, name="hub")
    _ensure_raw_key(settings, MAC_KEY, _MAC_KEY_BYTES)
    start = now or datetime.now(UTC)
    _write_index(settings, PublishedHubKeys(keys=[_published(keys, start)]))
    return True


def _protect_legacy(settings: Settings) -> None:
    """Encrypt the old plain JSON signing key file into the PEM file, then remove the old one."""
    try:
        keys = load_keyset(settings.legacy_hub_key_file)
    except KeyFileError as exc:
        raise ConfigurationError(str(exc)) from exc
    data = keyset_pem(keys, name="hub", passphrase=_hub_passphrase(settings, create=True))
    _write_secret(settings.hub_key_file, data)
    settings.legacy_hub_key_file.unlink()
    log.info("hub_key_file_protected", path=str(settings.hub_key_file))


def _ensure_raw_key(settings: Settings, name: str, size: int) -> None:
    if not secret_path(settings, name).exists():
        _write_secret(secret_path(settings, name), secrets.token_bytes(size))


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
    if not settings.hub_key_file.exists():
        raise ConfigurationError(
            f"hub keys missing under {settings.hub_key_file.parent}: run 'hub init'"
        )
    try:
        keys = load_keyset(settings.hub_key_file, _hub_passphrase(settings))
    except KeyFileError as exc:
        raise ConfigurationError(f"{exc}: run 'hub init'") from exc
    mac_key = _raw_key(settings, MAC_KEY, _MAC_KEY_BYTES)
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
    write_keyset(new, staged, name="hub", passphrase=_hub_passphrase(settings))
    _write_index(settings, PublishedHubKeys(keys=[*history.keys[:-1], retired, entry]))
    os.replace(staged, settings.hub_key_file)
    settings.hub_public_key_file.unlink(missing_ok=True)
    write_public_keyset(new.public, settings.hub_public_key_file, name="hub")
    return entry


def replace_stolen_hub_key(settings: Settings, now: datetime) -> PublishedHubKey:
    """After a theft of the hub's signing key: a new key from `now`, endorsed by nobody.

    The stolen key must not endorse its successor (the thief can endorse keys of its own), so
    no connector follows the chain to the new key: every member and coordinator pins it anew,
    out of band (docs/hub-key-rotation.md). The stolen key stays published, ended at `now`, so
    that what it signed before stays verifiable by the hub's own audit. Raises
    ConfigurationError if the published history cannot be read.
    """
    history = published_keys(settings)
    new = generate_keyset(sealing=False)
    entry = _published(new, now)
    retired = history.keys[-1].model_copy(update={"valid_until": now})
    staged = settings.hub_key_file.with_suffix(".new")
    staged.unlink(missing_ok=True)
    write_keyset(new, staged, name="hub", passphrase=_hub_passphrase(settings))
    _write_index(settings, PublishedHubKeys(keys=[*history.keys[:-1], retired, entry]))
    os.replace(staged, settings.hub_key_file)
    settings.hub_public_key_file.unlink(missing_ok=True)
    write_public_keyset(new.public, settings.hub_public_key_file, name="hub")
    return entry
