"""Which hub signing keys the connector trusts.

The connector starts from the hub key pinned in its configuration (`hub_public_key_file`), handed
over out of band. When the hub rotates its key, it publishes the new key endorsed (signed) by the
key it replaces. `extend_trust` walks the published list oldest first and accepts a key only if
it is already trusted or its endorsement verifies with a key already trusted: a hub that was
never trusted cannot slip in a key of its own. Trusted keys are kept in `hub_trust_file`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from nacl.signing import VerifyKey
from pydantic import ValidationError

from connectors.errors import ConfigInvalid
from hub.crypto import verify_envelope
from hub.errors import PacketInvalid
from hub.logs import get_logger
from keys import fingerprint
from schemas.envelope import HUB_KEY_TYPE, HubKeyEndorsement, PublishedHubKey, PublishedHubKeys

log = get_logger(__name__)


def _verify_key(entry: PublishedHubKey) -> VerifyKey:
    raw = base64.b64decode(entry.public_key)
    if fingerprint("ed25519", raw) != entry.key_id:
        raise PacketInvalid()
    return VerifyKey(raw)


def extend_trust(
    trusted: Mapping[str, VerifyKey], published: PublishedHubKeys
) -> dict[str, VerifyKey]:
    """Trusted keys plus every published key endorsed, in a chain, by one of them."""
    result = dict(trusted)
    for entry in sorted(published.keys, key=lambda k: k.valid_from):
        if entry.key_id in result or entry.endorsement is None:
            continue
        try:
            body = HubKeyEndorsement.model_validate_json(
                verify_envelope(entry.endorsement, HUB_KEY_TYPE, result)
            )
            key = _verify_key(entry)
        except (PacketInvalid, ValidationError, ValueError):
            log.warning("hub_key_not_endorsed", key_id=entry.key_id)
            continue
        if body.key_id != entry.key_id or body.public_key != entry.public_key:
            log.warning("hub_key_not_endorsed", key_id=entry.key_id)
            continue
        result[entry.key_id] = key
        log.info("hub_key_trusted", key_id=entry.key_id)
    return result


def load_trust_file(path: Path | None) -> dict[str, VerifyKey]:
    """Keys trusted earlier through endorsements. Raises ConfigInvalid for an unreadable file."""
    if path is None or not path.exists():
        return {}
    try:
        listed = PublishedHubKeys.model_validate_json(path.read_bytes())
        return {entry.key_id: _verify_key(entry) for entry in listed.keys}
    except (OSError, ValidationError, PacketInvalid, ValueError) as exc:
        raise ConfigInvalid(f"{path}: not a readable hub trust file") from exc


def save_trust_file(
    path: Path, published: PublishedHubKeys, trusted: Mapping[str, VerifyKey]
) -> None:
    """Keep the published entries of the trusted keys, atomically."""
    kept = PublishedHubKeys(keys=[k for k in published.keys if k.key_id in trusted])
    temporary = path.with_suffix(".tmp")
    temporary.write_text(kept.model_dump_json(indent=2, exclude_none=True) + "\n")
    os.replace(temporary, path)
