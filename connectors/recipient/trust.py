"""Which hub signing keys the connector trusts (docs/protocol.md §8).

The connector starts from the hub key pinned in its configuration (`hub_public_key_file`), handed
over out of band. When the hub rotates its key, it publishes the new key endorsed (signed) by the
key it replaces. `follow_chain` walks the published list oldest first and accepts a key only if
it is already trusted or its endorsement verifies with a key already trusted: a hub that was
never trusted cannot slip in a key of its own. It also says, for each published key it does not
trust, why, so that a connector rejecting packets can name the broken link.

Trusted keys are kept in `hub_trust_file`, as the published entries with their endorsements; the
file is a cache, never a root of trust: reading it follows the chain from the pin again, so a key
written into the file by hand is not trusted either.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import VerifyKey
from pydantic import ValidationError

from connectors.errors import ConfigInvalid
from hub.crypto import verify_envelope
from hub.errors import PacketInvalid
from hub.logs import get_logger
from keys import fingerprint
from schemas.envelope import (
    HUB_KEY_TYPE,
    Envelope,
    HubKeyEndorsement,
    PublishedHubKey,
    PublishedHubKeys,
)

__all__ = [
    "Chain",
    "HubKeyNotTrusted",
    "extend_trust",
    "follow_chain",
    "load_published_keys",
    "load_trust_file",
    "save_trust_file",
    "untrusted_signer",
]

log = get_logger(__name__)


class HubKeyNotTrusted(PacketInvalid):
    """A packet is signed by a hub key that is not the pinned key nor chained from it.

    Its message names the key ids and the broken link, never content.
    """


@dataclass(frozen=True)
class Chain:
    """The keys trusted from a pin through a published list, and why each other key is not."""

    trusted: dict[str, VerifyKey]
    untrusted: dict[str, str] = field(default_factory=dict)  # key id -> why
    followed: bool = False  # a published list was read
    pin_published: bool = False  # and it holds a trusted key to start the chain from

    def first_break(self) -> str | None:
        """The oldest published key left untrusted, with the reason: where the chain breaks."""
        for key_id, why in self.untrusted.items():
            return f"{key_id} {why}"
        return None


def _verify_key(entry: PublishedHubKey) -> VerifyKey:
    raw = base64.b64decode(entry.public_key)
    if fingerprint("ed25519", raw) != entry.key_id:
        raise PacketInvalid()
    return VerifyKey(raw)


def _signers(envelope: Envelope) -> str:
    return ", ".join(s.keyid for s in envelope.signatures) or "no key"


def _why_not(entry: PublishedHubKey, trusted: Mapping[str, VerifyKey]) -> str | None:
    """None if `entry` is endorsed by a trusted key, else why it is not (steps 2-4 of §8)."""
    if entry.endorsement is None:
        return "is published without an endorsement"
    if not {s.keyid for s in entry.endorsement.signatures} & trusted.keys():
        return f"is endorsed by {_signers(entry.endorsement)}, which is not trusted"
    try:
        body = HubKeyEndorsement.model_validate_json(
            verify_envelope(entry.endorsement, HUB_KEY_TYPE, trusted)
        )
        _verify_key(entry)
    except (PacketInvalid, ValidationError, ValueError):
        return "has an endorsement that does not verify"
    if body.key_id != entry.key_id or body.public_key != entry.public_key:
        return "has an endorsement of another key"
    return None


def follow_chain(trusted: Mapping[str, VerifyKey], published: PublishedHubKeys) -> Chain:
    """Trusted keys plus every published key endorsed, in a chain, by one of them; and, for
    each published key left out, why (oldest first)."""
    result = dict(trusted)
    untrusted: dict[str, str] = {}
    ordered = sorted(published.keys, key=lambda k: k.valid_from)
    # Keys older than the pin are not part of the chain from it: no reason to give for them.
    pins = [i for i, entry in enumerate(ordered) if entry.key_id in result]
    for entry in ordered[pins[0] if pins else 0 :]:
        if entry.key_id in result:
            continue
        why = _why_not(entry, result)
        if why is not None:
            untrusted[entry.key_id] = why
            log.warning("hub_key_not_endorsed", key_id=entry.key_id, reason=why)
            continue
        result[entry.key_id] = _verify_key(entry)
        log.info("hub_key_trusted", key_id=entry.key_id)
    return Chain(trusted=result, untrusted=untrusted, followed=True, pin_published=bool(pins))


def extend_trust(
    trusted: Mapping[str, VerifyKey], published: PublishedHubKeys
) -> dict[str, VerifyKey]:
    """Trusted keys plus every published key endorsed, in a chain, by one of them."""
    return follow_chain(trusted, published).trusted


def untrusted_signer(envelope: Envelope, pinned: Mapping[str, VerifyKey], chain: Chain) -> str:
    """Why the hub signature of `envelope` is not trusted: its key ids and the broken link."""
    signers = [s.keyid for s in envelope.signatures]
    said = (
        f"signed by hub key {', '.join(signers) or 'none'}, which is not chained from the pinned "
        f"key {', '.join(pinned)}"
    )
    if not chain.followed:
        return said + " (this connector holds no published key history that chains to it)"
    if not chain.pin_published:
        return said + (
            ": the pinned key is not in the hub's published key history; check hub.pub.json "
            "with the hub operator by phone"
        )
    reasons = [f"{k} {chain.untrusted[k]}" for k in signers if k in chain.untrusted]
    where = chain.first_break()
    return (
        said
        + (
            f": {'; '.join(reasons)}"
            if reasons
            else ": it is not in the hub's published key history"
        )
        + (f"; the chain breaks where {where}" if where and where not in reasons else "")
    )


def load_published_keys(path: Path) -> PublishedHubKeys:
    """A published key list (`GET /v1/hub/keys`, or a hub trust file). Raises ConfigInvalid."""
    try:
        return PublishedHubKeys.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigInvalid(f"{path}: not a readable list of hub keys") from exc


def load_trust_file(path: Path | None, pinned: Mapping[str, VerifyKey]) -> Chain:
    """The pinned keys and those the trust file chains from them, checked again from the pin.

    Raises ConfigInvalid for an unreadable file.
    """
    if path is None or not path.exists():
        return Chain(trusted=dict(pinned))
    return follow_chain(pinned, load_published_keys(path))


def save_trust_file(
    path: Path, published: PublishedHubKeys, trusted: Mapping[str, VerifyKey]
) -> None:
    """Keep the published entries of the trusted keys, atomically."""
    kept = PublishedHubKeys(keys=[k for k in published.keys if k.key_id in trusted])
    temporary = path.with_suffix(".tmp")
    temporary.write_text(kept.model_dump_json(indent=2, exclude_none=True) + "\n")
    os.replace(temporary, path)
