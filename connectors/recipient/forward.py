"""Forwarding: pass a received report on to a section or police desk, and check a forward offline.

A forwarder (`forward_report`) opens its stored copy in memory, checks the hub's commitment opens
to it, and seals to the next recipient a `ForwardOpening`: every field either disclosed with its
field salt or withheld by name, and what it adds (a classification, a note). It signs the forward
with its own signing key and sends it through the hub, which cannot read it. The reporter's
contact details go on only where the reporter consented and the forwarder shares them; the Dutch
procedure of anonymising on request is the same choice. Where the procedure says so, it then
deletes its copy and tells the hub.

A receiver checks a forward offline with `connectors.recipient.forwarded.open_forward`.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import uuid4

from nacl.public import PublicKey, SealedBox
from nacl.signing import SigningKey
from pydantic import ValidationError

from connectors.client import HubClient
from connectors.config import ConnectorConfig, read_token
from connectors.errors import ForwardRefused
from connectors.recipient.pull import ConnectorKeys, load_keys, open_with
from connectors.recipient.store import LocalStore, packet_file
from hub.commitment import (
    CONTACT_FIELDS,
    disclose,
)
from hub.crypto import (
    OpenedPacket,
    canonical_json,
    fingerprint_x25519,
    sealed_digest,
    sign_envelope,
)
from hub.logs import get_logger
from schemas.commitment import (
    FORWARD_TYPE,
    CopyDeletion,
    CopyDeletionAnswer,
    ForwardAdditions,
    ForwardAnswer,
    ForwardBody,
    ForwardOpening,
    ForwardRequest,
)
from schemas.envelope import Envelope
from schemas.report import Report

__all__ = [
    "ForwardResult",
    "forward_report",
    "seal_forward",
    "withheld_fields",
]

log = get_logger(__name__)

Clock = Callable[[], datetime]


def withheld_fields(report: Report, *, share_contact: bool) -> set[str]:
    """The fields a forward withholds: the reporter's contact details, unless the reporter
    consented to contact and the forwarder shares them (the Dutch section anonymises on
    request by not sharing them)."""
    consented = report.reporter.kind == "contact" and report.reporter.consent_to_contact
    if share_contact and consented:
        return set()
    return {name for name in CONTACT_FIELDS if report.reporter.kind == "contact"}


def seal_forward(
    opened: OpenedPacket,
    *,
    signing_key: SigningKey,
    to_recipient_id: str,
    to_key: PublicKey,
    withheld: Iterable[str],
    additions: ForwardAdditions,
    now: datetime,
) -> ForwardRequest:
    """The signed forward of an opened copy, sealed to `to_key`.

    Raises ForwardRefused for a copy without the hub's commitment (a version 1 packet), and
    ValueError for a withheld name the report does not have.
    """
    if opened.salt is None or opened.body.commitment is None:
        raise ForwardRefused(
            f"packet {opened.body.packet_id} carries no commitment: it cannot be forwarded "
            "verifiably"
        )
    disclosed, hidden = disclose(opened.report, opened.salt, withheld)
    opening = ForwardOpening(
        report_id=opened.report.report_id,
        disclosed=disclosed,
        withheld=hidden,
        additions=additions,
    )
    sealed = SealedBox(to_key).encrypt(canonical_json(opening.model_dump(mode="json")))
    body = ForwardBody(
        forward_id=uuid4(),
        report_id=opened.report.report_id,
        from_recipient_id=opened.body.recipient_id,
        to_recipient_id=to_recipient_id,
        to_key_id=fingerprint_x25519(to_key),
        forwarded_at=now,
        commitment=opened.body.commitment,
        sealed_sha256=sealed_digest(sealed),
    )
    return ForwardRequest(
        forward=sign_envelope(FORWARD_TYPE, body, signing_key),
        sealed=base64.b64encode(sealed).decode("ascii"),
    )


@dataclass(frozen=True)
class ForwardResult:
    """What a forward did: the hub's answer, and the deletion if the procedure asked for one."""

    answer: ForwardAnswer
    withheld: list[str]
    deleted: CopyDeletionAnswer | None = None
    removed: list[str] = field(default_factory=list)


def _stored_copy(store: LocalStore, packet_id: str, keys: ConnectorKeys, me: str) -> OpenedPacket:
    path = packet_file(store, packet_id)
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise ForwardRefused(f"packet {packet_id} is not stored here") from exc
    except (OSError, ValidationError) as exc:
        raise ForwardRefused(f"{path}: unreadable packet") from exc
    return open_with(envelope, keys, me)


def forward_report(
    config: ConnectorConfig,
    packet_id: str,
    *,
    to_recipient_id: str,
    classification: str | None = None,
    note: str | None = None,
    share_contact: bool = False,
    delete_copy: bool = False,
    to_key: PublicKey | None = None,
    now: Clock | None = None,
    client: HubClient | None = None,
) -> ForwardResult:
    """Forward the stored copy `packet_id` to `to_recipient_id` through the hub.

    The next recipient's key is `to_key` if given (pinned out of band), otherwise the one the
    hub lists for it. With `delete_copy`, the local copy is deleted afterwards and the hub told.
    Raises ForwardRefused, PacketInvalid, ConfigInvalid, HubUnreachable, HubRefused,
    HubAnswerInvalid or StoreFailed.
    """
    clock = now or (lambda: datetime.now(UTC))
    keys = load_keys(config)
    store = LocalStore(config.store_dir, readable=config.write_readable_reports)
    # 1. Our copy, opened in memory, its commitment checked (open_with does).
    opened = _stored_copy(store, packet_id, keys, config.recipient_id)
    withheld = withheld_fields(opened.report, share_contact=share_contact)
    own = client is None
    hub = client or HubClient(
        config.hub_url, read_token(config.credential_file), ca_file=config.ca_file
    )
    try:
        # 2. The next recipient's sealing key.
        if to_key is None:
            listed = {t.recipient_id: t for t in hub.forward_targets().targets}
            target = listed.get(to_recipient_id)
            if target is None:
                raise ForwardRefused(f"{to_recipient_id} is not a section or police desk")
            to_key = PublicKey(base64.b64decode(target.public_key, validate=True))
            if fingerprint_x25519(to_key) != target.key_id:
                raise ForwardRefused(f"the hub's key for {to_recipient_id} does not match its id")
        # 3. Seal, sign and send.
        request = seal_forward(
            opened,
            signing_key=keys.signing,
            to_recipient_id=to_recipient_id,
            to_key=to_key,
            withheld=withheld,
            additions=ForwardAdditions(classification=classification, note=note),
            now=clock(),
        )
        answer = hub.send_forward(request)
        log.info(
            "report_forwarded",
            report_id=str(answer.report_id),
            packet_id=packet_id,
            forward_id=str(answer.forward_id),
            to_recipient_id=to_recipient_id,
            withheld=sorted(withheld),
        )
        if not delete_copy:
            return ForwardResult(answer=answer, withheld=sorted(withheld))
        # 4. Delete our copy where the procedure says so, then tell the hub.
        report_id = str(opened.report.report_id)
        removed = store.delete_copy(packet_id, report_id)
        deleted = hub.record_deletion(report_id, CopyDeletion(deleted_at=clock()))
        log.info("copy_deleted", report_id=report_id, packet_id=packet_id, files=len(removed))
        return ForwardResult(
            answer=answer,
            withheld=sorted(withheld),
            deleted=deleted,
            removed=[str(path) for path in removed],
        )
    finally:
        if own:
            hub.close()
