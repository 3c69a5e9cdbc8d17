"""Pulling: lease packets from the hub, open and store each, and receipt what was stored.

A receipt is sent only for a packet whose report is already on disk, so a receipt always means
"stored here". A packet that does not verify is never receipted: the hub offers it again after its
lease, and the rejection is logged with ids and its reason only. A receipt stored earlier is sent
again signed with the current receipt key, so that a rotation or a revocation of the old key does
not leave the packet unreceipted for ever; a receipt the hub still refuses is dropped from the
batch and reported, and the others are sent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from uuid import UUID

from nacl.public import PrivateKey
from nacl.signing import SigningKey, VerifyKey
from pydantic import ValidationError

from connectors.client import MAX_RECEIPTS_PER_BATCH, HubClient
from connectors.config import ConnectorConfig, key_passphrase, read_token
from connectors.errors import ConfigInvalid, HubRefused
from connectors.readings.translations import available_locales
from connectors.recipient.forwarded import is_forward, open_forward
from connectors.recipient.store import LocalStore
from connectors.recipient.trust import (
    Chain,
    HubKeyNotTrusted,
    follow_chain,
    load_trust_file,
    save_trust_file,
    untrusted_signer,
)
from hub.commitment import check_packet
from hub.crypto import (
    OpenedPacket,
    fingerprint_x25519,
    open_packet,
    sign_envelope,
    sign_receipt,
    verify_envelope,
)
from hub.errors import PacketInvalid
from hub.logs import get_logger
from keys import KeyFileError, fingerprint, load_keyset, load_public_keyset
from schemas.envelope import PACKET_TYPE, RECEIPT_TYPE, Envelope, PacketBody, ReceiptBody

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
    problems: list[str] = field(default_factory=list)
    receipts_refused: list[str] = field(default_factory=list)

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
            problems=self.problems + other.problems,
            receipts_refused=self.receipts_refused + other.receipts_refused,
        )

    @property
    def failed(self) -> bool:
        """Whether a packet was rejected or a receipt refused: the pull did not do all it should."""
        return bool(self.rejected or self.receipts_refused)


@dataclass(frozen=True)
class ConnectorKeys:
    """This recipient's private keys (every sealing key it still holds) and the hub's keys: the
    pinned one and those chained from it, with why the other published ones are not trusted."""

    sealing: Mapping[str, PrivateKey]
    signing: SigningKey
    hub: Mapping[str, VerifyKey]
    pinned: Mapping[str, VerifyKey] = field(default_factory=dict)
    chain: Chain | None = None

    def untrusted(self, envelope: Envelope) -> str:
        """Why the envelope's hub signature is not trusted (key ids and the broken link)."""
        chain = self.chain or Chain(trusted=dict(self.hub))
        return untrusted_signer(envelope, self.pinned or self.hub, chain)


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
    # The pinned hub key, and keys it endorsed in a chain (connectors.recipient.trust), checked
    # again from the pin; never a key the hub, or the trust file, merely claims.
    pinned = {hub.signing_key_id: hub.signing}
    chain = load_trust_file(config.hub_trust_file, pinned)
    return ConnectorKeys(
        sealing=sealing, signing=own.signing, hub=chain.trusted, pinned=pinned, chain=chain
    )


def refresh_trust(config: ConnectorConfig, keys: ConnectorKeys, client: HubClient) -> ConnectorKeys:
    """Fetch the hub's published keys and trust those endorsed by a trusted key.

    Keeps them in the config's hub_trust_file, if it names one. Raises like HubClient.
    """
    published = client.published_hub_keys()
    chain = follow_chain(keys.hub, published)
    # Without a trust file the chain is followed for this pull only, from the pin again next time.
    if config.hub_trust_file is not None and chain.trusted.keys() != keys.hub.keys():
        save_trust_file(config.hub_trust_file, published, chain.trusted)
    return replace(keys, hub=chain.trusted, chain=chain)


def _verified_body(envelope: Envelope, keys: ConnectorKeys, recipient_id: str) -> PacketBody:
    if not {s.keyid for s in envelope.signatures} & keys.hub.keys():
        raise HubKeyNotTrusted(
            f"not signed by a hub key this connector trusts: {keys.untrusted(envelope)}"
        )
    try:
        payload = verify_envelope(envelope, PACKET_TYPE, keys.hub)
    except PacketInvalid as exc:
        raise PacketInvalid("not signed by a hub key this connector trusts") from exc
    try:
        body = PacketBody.model_validate_json(payload)
    except ValidationError as exc:
        raise PacketInvalid("signed by the hub but not a packet") from exc
    if body.recipient_id != recipient_id:
        raise PacketInvalid(f"addressed to {body.recipient_id}, not to {recipient_id}")
    return body


def open_with(envelope: Envelope, keys: ConnectorKeys, recipient_id: str) -> OpenedPacket:
    """Open a packet with whichever configured sealing key it names.

    Raises PacketInvalid saying why: an untrusted hub signature, another recipient, a sealing key
    no configured key file holds, or content that does not open with the key it names.
    """
    body = _verified_body(envelope, keys, recipient_id)
    private = keys.sealing.get(body.recipient_key_id)
    if private is None:
        raise PacketInvalid(
            f"sealed to sealing key {body.recipient_key_id}, which neither keys_file nor "
            "previous_keys_files holds"
        )
    try:
        opened = open_packet(envelope, hub_keys=keys.hub, private=private)
    except PacketInvalid as exc:
        raise PacketInvalid(f"does not open with sealing key {body.recipient_key_id}") from exc
    try:
        check_packet(opened, keys.hub)
    except PacketInvalid as exc:
        raise PacketInvalid("the report does not open the hub's commitment") from exc
    return opened


def _current_receipt(stored: Envelope, keys: ConnectorKeys) -> Envelope:
    """The stored receipt, signed again with the current receipt key if an older key signed it."""
    current = fingerprint("ed25519", bytes(keys.signing.verify_key))
    if [s.keyid for s in stored.signatures] == [current]:
        return stored
    try:
        body = ReceiptBody.model_validate_json(base64.b64decode(stored.payload, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise PacketInvalid("the stored receipt is unreadable") from exc
    return sign_envelope(RECEIPT_TYPE, body, keys.signing)


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

    Raises PacketInvalid, saying why, if it does not verify, is not for us, or is sealed to no
    key we hold.
    """
    body = _verified_body(envelope, keys, recipient_id)
    packet_id = str(body.packet_id)
    stored_receipt = store.receipt_for(body.packet_id) if store.has_packet(body.packet_id) else None
    if stored_receipt is not None:
        # Pulled again because our receipt was lost or refused: the same receipt, signed with
        # today's receipt key, and the report not stored twice.
        log.info("packet_already_stored", packet_id=packet_id)
        return PullResult(already_stored=[packet_id]), _current_receipt(stored_receipt, keys)
    if is_forward(body):
        forwarded = open_forward(
            envelope, hub_keys=keys.hub, sealing=keys.sealing, recipient_id=recipient_id
        )
        receipt = sign_receipt(
            packet=forwarded.body,
            sealed_sha256=forwarded.sealed_sha256,
            received_at=clock(),
            key=keys.signing,
        )
        # Kept sealed only: a forward is read by opening it in memory (connector open).
        store.save_sealed(body.packet_id, envelope, receipt)
        report_id = str(body.report_id)
        log.info("forward_stored", packet_id=packet_id, report_id=report_id)
        return PullResult(stored=[packet_id], report_ids=[report_id]), receipt
    opened = open_with(envelope, keys, recipient_id)
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


def primary_locale(config: ConnectorConfig) -> str:
    """The first of the config's languages that has a catalogue; English otherwise."""
    usable = [code for code in config.languages if code in available_locales()]
    return usable[0] if usable else "en"


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
    store = LocalStore(
        config.store_dir,
        readable=config.write_readable_reports,
        locale=primary_locale(config),
        timezone=config.timezone,
    )
    with HubClient(config.hub_url, token, ca_file=config.ca_file) as client:
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
            except PacketInvalid as exc:
                packet_id = _claimed_packet_id(envelope, index)
                log.warning(
                    "packet_rejected", claimed_packet_id=packet_id, index=index, reason=str(exc)
                )
                result = result + PullResult(
                    rejected=[packet_id], problems=[f"packet {packet_id} rejected: {exc}"]
                )
                continue
            result = result + outcome
            receipts.append(receipt)
        # 4. All receipts in one request; the hub records all of them or none, so the ones it
        # refuses are dropped and the rest sent again.
        for start in range(0, len(receipts), MAX_RECEIPTS_PER_BATCH):
            result = result + _send_receipts(
                client, receipts[start : start + MAX_RECEIPTS_PER_BATCH]
            )
    return result


def _send_receipts(client: HubClient, receipts: list[Envelope]) -> PullResult:
    """Send receipts; drop those the hub refuses (once) and send the rest. Raises like HubClient."""
    try:
        answer = client.send_receipts(receipts)
    except HubRefused as exc:
        refused = _refused_indices(exc, len(receipts))
        if exc.status != 422 or not refused:
            raise
        problems = []
        for index, reason in sorted(refused.items()):
            packet_id = _claimed_packet_id(receipts[index], index)
            log.warning("receipt_refused", packet_id=packet_id, reason=reason)
            problems.append(f"receipt for packet {packet_id} refused by the hub: {reason}")
        kept = [r for i, r in enumerate(receipts) if i not in refused]
        dropped = PullResult(
            receipts_refused=[_claimed_packet_id(receipts[i], i) for i in sorted(refused)],
            problems=problems,
        )
        return dropped + (_send_receipts(client, kept) if kept else PullResult())
    log.info("receipts_sent", recorded=answer.recorded, already_recorded=answer.already_recorded)
    return PullResult()


def _refused_indices(exc: HubRefused, count: int) -> dict[int, str]:
    """Which receipts of a batch the hub named as refused (`receipts.N`), with its reasons."""
    refused: dict[int, str] = {}
    for name, reason in exc.errors:
        head, _, tail = name.partition(".")
        if head == "receipts" and tail.isdigit() and int(tail) < count:
            refused[int(tail)] = reason
    return refused


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
