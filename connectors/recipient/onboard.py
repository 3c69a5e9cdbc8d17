"""`connector init`: a new member's side of onboarding, on the member's own machine.

From its country profile, for each of its recipients (section, police liaison), it makes the
keys, writes the connector's configuration, and puts the public halves in a registration
folder for the hub operator:

    <out>/hub.pub.json                       the hub's public key, as given (checked by its id):
                                             the pinned key every later hub key must chain from
    <out>/passphrase.txt                     the key files' passphrase, mode 0600, made if missing
                                             (--passphrase-file elsewhere, or a systemd credential)
    <out>/<recipient>/<recipient>.keys.pem   encrypted PKCS#8 private keys: stay here
    <out>/<recipient>/<recipient>.pub.json
    <out>/<recipient>/connector.json         for `connector pull` once credential.txt is there
    <out>/<recipient>/hub-trust.json         (written by pull) hub keys endorsed in a chain from
                                             the pinned one: how the connector survives a rotation
    <out>/registration/registration.json     public keys and their ids: send this folder
    <out>/registration/<recipient>.pub.json
    <out>/registration/profile.toml          the country profile, as given: the hub judges the
                                             member and counts its working days by it

The hub operator registers the folder (`hub recipients add`) and sends back one API token per
recipient, which goes into `<out>/<recipient>/credential.txt`.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from connectors.client import tls_context
from connectors.config import load_config
from connectors.countries.profiles import PROFILE_FILE, Profile
from connectors.errors import ConfigInvalid
from hub.network.directory import DeliveryMode
from hub.network.routing import RecipientKind
from hub.onboarding.member import (
    REGISTRATION_FILE,
    REGISTRATION_FORMAT,
    RegisteredPortal,
    RegisteredRecipient,
    Registration,
)
from keys import (
    KeyFileError,
    create_passphrase_file,
    generate_keyset,
    load_public_keyset,
    write_keyset,
    write_public_keyset,
)

__all__ = [
    "CREDENTIAL_FILE",
    "HUB_TRUST_FILE",
    "PASSPHRASE_FILE",
    "MemberSetup",
    "RecipientSetup",
    "init_member",
]

CREDENTIAL_FILE = "credential.txt"
PASSPHRASE_FILE = "passphrase.txt"  # noqa: S105 - a file name, not a passphrase
HUB_TRUST_FILE = "hub-trust.json"
CA_FILE = "hub-ca.pem"
_DIR_MODE = 0o700


@dataclass(frozen=True)
class RecipientSetup:
    """One recipient's new keys and configuration."""

    recipient_id: str
    sealing_key_id: str
    receipt_key_id: str
    config_file: Path
    credential_file: Path


@dataclass(frozen=True)
class MemberSetup:
    """What `init_member` wrote."""

    hub_key_id: str
    recipients: list[RecipientSetup]
    registration_dir: Path
    passphrase_file: Path


def _hub_key(hub_key_file: Path, out: Path) -> str:
    try:
        hub = load_public_keyset(hub_key_file)
    except KeyFileError as exc:
        raise ConfigInvalid(str(exc)) from exc
    target = out / "hub.pub.json"
    if target.exists() and target.read_bytes() != hub_key_file.read_bytes():
        raise ConfigInvalid(f"{target} exists and holds another hub key")
    if not target.exists():
        shutil.copyfile(hub_key_file, target)
    return hub.signing_key_id


def _copy_profile(profile: Profile, target: Path) -> None:
    """The profile file as the member wrote it, for the hub. Raises ConfigInvalid."""
    try:
        shutil.copyfile(profile.path(PROFILE_FILE), target)
    except OSError as exc:
        raise ConfigInvalid(
            f"cannot copy the profile into {target.parent}: {exc.strerror}"
        ) from exc


def init_member(
    profile: Profile,
    *,
    out: Path,
    hub_url: str,
    hub_key_file: Path,
    passphrase_file: Path | None = None,
    ca_file: Path | None = None,
) -> MemberSetup:
    """Make keys, connector configs and the registration folder for every recipient of `profile`.

    The private keys are encrypted with the passphrase in `passphrase_file` (default
    `<out>/passphrase.txt`), made at random if the file does not exist. With `ca_file` (the
    hub's private CA or self-signed certificate), a copy beside the hub's key is what the
    connectors trust for the hub's TLS. Raises ConfigInvalid if the profile lists no recipients,
    the hub key file, CA file or passphrase file is unusable, or a recipient already has keys
    under `out` (keys are never overwritten).
    """
    if not profile.recipients:
        raise ConfigInvalid(f"profile {profile.code} lists no recipients")
    out.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    registration_dir = out / "registration"
    for recipient in profile.recipients:
        folder = out / recipient.id
        if any(folder.glob(f"{recipient.id}.keys.*")):
            raise ConfigInvalid(f"{folder} already has keys: not overwriting them")
    hub_key_id = _hub_key(hub_key_file, out)
    if ca_file is not None:
        tls_context(ca_file)  # certificates it can read, or ConfigInvalid before anything is made
        shutil.copyfile(ca_file, out / CA_FILE)
    passphrase_path = passphrase_file or out / PASSPHRASE_FILE
    try:
        passphrase = create_passphrase_file(passphrase_path)
    except KeyFileError as exc:
        raise ConfigInvalid(str(exc)) from exc
    registration_dir.mkdir(mode=_DIR_MODE, exist_ok=True)
    made: list[RecipientSetup] = []
    entries: list[RegisteredRecipient] = []
    for recipient in profile.recipients:
        folder = out / recipient.id
        folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        keys = generate_keyset()
        write_keyset(
            keys, folder / f"{recipient.id}.keys.pem", name=recipient.id, passphrase=passphrase
        )
        write_public_keyset(keys.public, folder / f"{recipient.id}.pub.json", name=recipient.id)
        write_public_keyset(
            keys.public, registration_dir / f"{recipient.id}.pub.json", name=recipient.id
        )
        config = {
            "hub_url": hub_url,
            "recipient_id": recipient.id,
            "credential_file": CREDENTIAL_FILE,
            "keys_file": f"{recipient.id}.keys.pem",
            "passphrase_file": os.path.relpath(passphrase_path.resolve(), folder.resolve()),
            "hub_public_key_file": "../hub.pub.json",
            # Without it a hub key rotation stops delivery: see connectors.recipient.trust.
            "hub_trust_file": HUB_TRUST_FILE,
            "store_dir": "inbox",
            **({"ca_file": f"../{CA_FILE}"} if ca_file is not None else {}),
            # Readings in the recipient's languages and local time without --profiles.
            "languages": list(recipient.languages),
            "timezone": profile.timezone,
        }
        config_file = folder / "connector.json"
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        load_config(config_file)  # what was written must be a valid config
        made.append(
            RecipientSetup(
                recipient_id=recipient.id,
                sealing_key_id=keys.public.sealing_key_id,
                receipt_key_id=keys.public.signing_key_id,
                config_file=config_file,
                credential_file=folder / CREDENTIAL_FILE,
            )
        )
        entries.append(
            RegisteredRecipient(
                id=recipient.id,
                name=recipient.name,
                country=profile.country,
                kind=RecipientKind(recipient.kind),
                delivery_mode=DeliveryMode(recipient.delivery_mode),
                public_keys_file=f"{recipient.id}.pub.json",
                sealing_key_id=keys.public.sealing_key_id,
                receipt_key_id=keys.public.signing_key_id,
            )
        )
    registration = Registration(
        format=REGISTRATION_FORMAT,
        profile=profile.code,
        country=profile.country,
        recipients=entries,
        portals=[RegisteredPortal(id=portal.id, name=portal.name) for portal in profile.portals],
        profile_file=PROFILE_FILE,
    )
    _copy_profile(profile, registration_dir / PROFILE_FILE)
    (registration_dir / REGISTRATION_FILE).write_text(
        registration.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    return MemberSetup(
        hub_key_id=hub_key_id,
        recipients=made,
        registration_dir=registration_dir,
        passphrase_file=passphrase_path,
    )
