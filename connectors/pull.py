"""Pulling: lease packets from the hub, open and store each, and receipt what was stored.

A receipt is sent only for a packet whose report is already on disk, so a receipt always means
"stored here". A packet that does not verify is never receipted: the hub offers it again after its
lease, and the rejection is logged with ids only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from pydantic import ValidationError

from connectors.client import HubClient
from connectors.config import ConnectorConfig, key_passphrase, read_token
from connectors.errors import ConfigInvalid
from connectors.store import LocalStore
from connectors.trust import extend_trust, load_trust_file, save_trust_file
from hub.crypto import fingerprint_x25519, open_packet, sign_receipt, verify_envelope
from hub.errors import PacketInvalid
from hub.logs import get_logger
from keys import KeyFileError, load_keyset, load_public_keyset
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody

log = get_logger(__name__)

Clock = Callable[[], datetime]
MAX_ROUNDS = 100


@dataclass(frozen=True)
class PullResult:
    """What one or more pulls did, by packet id (report ids of newly stored reports)."""

    stored: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    report_ids: list[str] = field(default_factory=list)

    @property
    def pulled(self) -> int:
        """How many packets the hub handed out."""
        return len(self.stored) + len(self.already_stored) + len(self.rejected)

    def __add__(self, other: PullResult) -> PullResult:
        return PullResult(
            stored=self.stored + other.stored,
            already_stored=self.already_stored + other.already_stored,
            rejected=self.rejected + other.rejected,
            report_ids=self.report_ids + other.report_ids,
        )


@dataclass(frozen=True)
class ConnectorKeys:
    """This recipient's private keys (every sealing key it still holds) and the hub's key."""

    sealing: Mapping[str, PrivateKey]
    signing: SigningKey
    hub: Mapping[str, VerifyKey]


def load_keys(config: ConnectorConfig) -> ConnectorKeys:
    """Read the key files named in the config. Raises ConfigInvalid if one is unusable."""
    passphrase = key_passphrase(config)
    try:
        own = load_keyset(config.keys_file, passphrase)
        previous = [load_keyset(path, passphrase) for path in config.previous_keys_files]
        hub = load_public_keyset(config.hub_public_key_file)
    except KeyFileError as exc:
        raise ConfigInvalid(str(exc)) from exc
    if own.sealing is None:
        raise ConfigInvalid(f"{config.keys_file}: no sealing key, packets cannot be opened")
    sealing = {
        fingerprint_x25519(keys.sealing.public_key): keys.sealing
        for keys in [*previous, own]
        if keys.sealing is not None
    }
    # The pinned hub key, and keys it endorsed in a chain (connectors.trust); never a key the
    # hub merely claims.
    trusted = {hub.signing_key_id: hub.signing, **load_trust_file(config.hub_trust_file)}
    return ConnectorKeys(sealing=sealing, signing=own.signing, hub=trusted)


def refresh_trust(config: ConnectorConfig, keys: ConnectorKeys, client: HubClient) -> ConnectorKeys:
    """Fetch the hub's published keys and trust those endorsed by a trusted key.

    Keeps them in the config's hub_trust_file. Raises like HubClient.
    """
    if config.hub_trust_file is None:
        return keys
    published = client.published_hub_keys()
    trusted = extend_trust(keys.hub, published)
    if trusted.keys() == keys.hub.keys():
        return keys
    save_trust_file(config.hub_trust_file, published, trusted)
    return ConnectorKeys(sealing=keys.sealing, signing=keys.signing, hub=trusted)


def _verified_body(envelope: Envelope, keys: ConnectorKeys, recipient_id: str) -> PacketBody:
    try:
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
    except ValidationError as exc:
        raise PacketInvalid() from exc
    if body.recipient_id != recipient_id:
        raise PacketInvalid()
    return body


def _claimed_packet_id(envelope: Envelope, index: int) -> str:
    """The packet id a rejected packet claims, unverified, so the hub's operator can find it."""
    try:
        claimed = json.loads(base64.b64decode(envelope.payload, validate=True))["packet_id"]
        return str(UUID(str(claimed)))
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError):
        return f"unidentified-{index}"


def accept_packet(
    envelope: Envelope, keys: ConnectorKeys, store: LocalStore, recipient_id: str, clock: Clock
) -> tuple[PullResult, Envelope]:
    """Store one packet (or find it stored) and return its receipt, for pull and push alike.

    Raises PacketInvalid if it does not verify, is not for us, or is sealed to no key we hold.
    """
    body = _verified_body(envelope, keys, recipient_id)
    packet_id = str(body.packet_id)
    stored_receipt = store.receipt_for(body.packet_id) if store.has_packet(body.packet_id) else None
    if stored_receipt is not None:
        # Pulled again because our receipt was lost: the same receipt, the report not stored twice.
        log.info("packet_already_stored", packet_id=packet_id)
        return PullResult(already_stored=[packet_id]), stored_receipt
    private = keys.sealing.get(body.recipient_key_id)
    if private is None:
        raise PacketInvalid()
    opened = open_packet(envelope, hub_keys=keys.hub, private=private)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=clock(),
        key=keys.signing,
    )
    store.save(opened, envelope, receipt)
    report_id = str(opened.report.report_id)
    log.info("packet_stored", packet_id=packet_id, report_id=report_id)
    return PullResult(stored=[packet_id], report_ids=[report_id]), receipt


def pull_once(
    config: ConnectorConfig, *, now: Clock | None = None, limit: int | None = None
) -> PullResult:
    """One round: pull the inbox, open and store each packet, send the receipts.

    Raises ConfigInvalid, HubUnreachable, HubRefused, HubAnswerInvalid or StoreFailed.
    """
    clock = now or _utc_now
    # 1. Our keys, and the hub's public key from our own configuration.
    keys = load_keys(config)
    token = read_token(config.credential_file)
    store = LocalStore(config.store_dir, readable=config.write_readable_reports)
    with HubClient(config.hub_url, token) as client:
        # 2. Lease what the inbox holds for us; a signer we do not know yet may be the hub's
        # rotated key, endorsed by one we trust.
        envelopes = client.pull(limit)
        signers = {s.keyid for envelope in envelopes for s in envelope.signatures}
        if not signers <= keys.hub.keys():
            keys = refresh_trust(config, keys, client)
        # 3. Each packet: reuse a stored receipt, or open, check, receipt and store it.
        result = PullResult()
        receipts: list[Envelope] = []
        for index, envelope in enumerate(envelopes):
            try:
                outcome, receipt = accept_packet(envelope, keys, store, config.recipient_id, clock)
            except PacketInvalid:
                packet_id = _claimed_packet_id(envelope, index)
                log.warning("packet_rejected", claimed_packet_id=packet_id, index=index)
                result = result + PullResult(rejected=[packet_id])
                continue
            result = result + outcome
            receipts.append(receipt)
        # 4. All receipts in one request; the hub records all of them or none.
        if receipts:
            answer = client.send_receipts(receipts)
            log.info(
                "receipts_sent",
                recorded=answer.recorded,
                already_recorded=answer.already_recorded,
            )
    return result


def pull_until_empty(
    config: ConnectorConfig,
    *,
    now: Clock | None = None,
    on_round: Callable[[int, PullResult], None] | None = None,
    max_rounds: int = MAX_ROUNDS,
) -> PullResult:
    """Pull until the inbox hands out nothing, at most `max_rounds` times. Raises like pull_once."""
    total = PullResult()
    for round_number in range(1, max_rounds + 1):
        result = pull_once(config, now=now)
        if on_round is not None:
            on_round(round_number, result)
        total = total + result
        # Rejected packets stay leased until their lease ends, so they do not come back at once.
        if result.pulled == 0:
            break
    else:
        log.warning("pull_rounds_exhausted", max_rounds=max_rounds)
    return total


def _utc_now() -> datetime:
    return datetime.now(UTC)
