"""Intake: accept a report from a source, route it, seal a packet per recipient, acknowledge it.

The steps, in order:
1. Check the report names the source that is calling.
2. Compute the report's canonical bytes and their keyed digest.
3. If the source already sent a report with this id: the same digest returns the stored answer;
   other content is a conflict. Nothing is stored either way. Report ids are the source's own: the
   same id from another source is another report, and neither source learns of the other. The
   hub keys the report by its id, or by a fresh random UUID if another source's report has that
   key already (docs/protocol.md §4).
4. Route the report against the directory of recipients.
5. Seal one packet per recipient to its current key; sign each. A recipient without a current key
   gets a held copy instead (`awaiting_reseal`, no bytes): the source sees the report in its
   reseal requests and sends it again once the recipient has a key. If no routed recipient has
   a key, the report is refused.
6. In one transaction (the process's group commit, hub/intake/batch.py): append the report's
   routing to the audit log, which gives its entry's
   index and leaf hash; sign the acknowledgement with the promise that a tree head covering that
   entry will be signed within `promise_within`; store the report row and all its deliveries.
The plaintext exists only in memory, in steps 2 to 5.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Table, bindparam, insert
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from hub import commitment, crypto
from hub.audit.records import (
    SealedDelivery,
    record_acceptance,
    record_awaiting_key,
    record_resealed,
    record_routing,
)
from hub.delivery.state import DeliveryState
from hub.errors import ConfigurationError, Conflict, InvalidInput, RoutingFailed
from hub.intake import batch
from hub.intake.batch import NotStored
from hub.logs import get_logger
from hub.network.credentials import Principal
from hub.network.directory import Recipient, recipients, sealing_key_of
from hub.network.keyring import HubSecrets
from hub.network.routing import RoutingPolicy
from hub.store import (
    DeliveryRow,
    ReportFactRow,
    ReportFeedbackRow,
    ReportRow,
    SourceRow,
)
from schemas.envelope import (
    AcknowledgementBody,
    Envelope,
    InclusionPromise,
    RecipientId,
    RoutedRecipient,
)
from schemas.report import Report

log = get_logger(__name__)

_REPORTS: Table = ReportRow.__table__  # type: ignore[attr-defined]
_DELIVERIES: Table = DeliveryRow.__table__  # type: ignore[attr-defined]
_SOURCES: Table = SourceRow.__table__  # type: ignore[attr-defined]
# Built once: a statement's construction and cache key cost as much as running it on SQLite.
_STORED = (
    core_select(_REPORTS.c.id, _REPORTS.c.content_mac, _REPORTS.c.answer)
    .where(_REPORTS.c.source_id == bindparam("source_id"))
    .where(_REPORTS.c.report_id == bindparam("report_id"))
)
_KEY_TAKEN = core_select(_REPORTS.c.id).where(_REPORTS.c.id == bindparam("key"))
_COUNTRY = core_select(_SOURCES.c.country).where(_SOURCES.c.id == bindparam("source_id"))
_NEW_REPORT = insert(_REPORTS)
_NEW_DELIVERIES = insert(_DELIVERIES)
_NEW_FEEDBACK = insert(ReportFeedbackRow.__table__)  # type: ignore[attr-defined]
_NEW_FACTS = insert(ReportFactRow.__table__)  # type: ignore[attr-defined]
# One audit interval and the default margin (Settings.promise_within); the API passes its own.
PROMISE_WITHIN = timedelta(seconds=120)


class IntakeAnswer(BaseModel):
    """What a source gets back for an accepted report: routing and a signed acknowledgement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str
    accepted_at: AwareDatetime
    recipients: list[RoutedRecipient]
    acknowledgement: Envelope
    awaiting_key: list[RecipientId] = Field(
        default_factory=list,
        description="Routed recipients that had no current sealing key: their copy is held, and "
        "the report appears in GET /v1/reseal-requests until it is sent again and sealed.",
    )


def accept_report(
    session: Session,
    *,
    report: Report,
    caller: Principal,
    policy: RoutingPolicy,
    secrets: HubSecrets,
    now: datetime,
    promise_within: timedelta = PROMISE_WITHIN,
) -> IntakeAnswer:
    """Accept `report` from `caller` and return the answer to send (new or repeated).

    The acknowledgement promises a signed tree head covering the report's routing entry by
    `now + promise_within` (docs/audit.md, "Promises").

    Raises InvalidInput if the report names another source, Conflict if its id was used for
    other content, RoutingFailed or ConfigurationError if it cannot be sealed for anybody.
    """
    # 1.
    if report.source != caller.id:
        raise InvalidInput.at("source", "does not match the calling source's id")
    # 2.
    canonical = crypto.canonical_bytes(report)
    mac = crypto.content_mac(secrets.mac_key, canonical)
    # 3.
    repeated = _repeated_answer(session, report, caller, mac)
    if repeated is not None:
        report_key, answer = repeated
        reseal_held(
            session,
            report=report,
            report_key=report_key,
            canonical=canonical,
            secrets=secrets,
            now=now,
        )
        return answer
    # 4.
    directory = recipients(session, now)
    country = _source_country(session, caller.id)
    routed = policy.route(report, country, [r.member for r in directory])
    # 5. One salt for the report's commitment; it is sealed into each copy and then forgotten.
    report_id = str(report.report_id)
    report_key = _new_key(session, report_id)
    salt = commitment.new_salt()
    committed = commitment.commit(report, salt, now)
    signed_commitment = commitment.sign_commitment(committed, secrets.signing_key)
    keyless = _without_key(directory, routed)
    sealed: list[SealedDelivery] = []
    rows: list[dict[str, object]] = [
        _held_row(report_key, target, now) for target in routed if target.recipient_id in keyless
    ]
    for target in routed:
        if target.recipient_id in keyless:
            continue
        key = sealing_key_of(directory, target.recipient_id)
        packet = crypto.seal_packet(
            report_id=report.report_id,
            canonical=canonical,
            recipient_id=target.recipient_id,
            recipient_key=key,
            hub_key=secrets.signing_key,
            now=now,
            commitment=signed_commitment,
            salt=salt,
        )
        delivery = SealedDelivery(
            packet_id=str(packet.packet_id),
            recipient_id=target.recipient_id,
            recipient_key_id=crypto.fingerprint_x25519(key),
            sealed_sha256=packet.sealed_sha256,
            hub_key_id=packet.envelope.signatures[0].keyid,
        )
        sealed.append(delivery)
        rows.append(
            {
                "packet_id": delivery.packet_id,
                "report_id": report_key,
                "recipient_id": delivery.recipient_id,
                "rules": ",".join(target.rules),
                "state": DeliveryState.pending.value,
                "packet": packet.envelope.model_dump_json(),
                "sealed_sha256": delivery.sealed_sha256,
                "recipient_key_id": delivery.recipient_key_id,
                "created_at": now,
                "pulls": 0,
                "attempts": 0,
                "next_attempt_at": now,
                "window_start": now,
                "last_error": None,
            }
        )
    # Core statements, not ORM objects: the rows are written once and never read back here, and
    # building and flushing mapped objects cost more than sealing them (docs/benchmark.md).
    report_row: dict[str, object] = {
        "id": report_key,
        "report_id": report_id,
        "source_id": caller.id,
        "accepted_at": now,
        "content_mac": mac,
    }
    # 6. The rows go to this process's writer (hub/intake/batch.py), which commits them with
    # other requests' rows; the answer is returned only after that commit.

    def write(writer: Session) -> IntakeAnswer:
        connection = writer.connection()
        # Looked for again in the writer's transaction: a request of the same batch, or another
        # process, may have stored this id or taken this key since step 3.
        taken = (
            connection.execute(_STORED, {"source_id": caller.id, "report_id": report_id}).first()
            or connection.execute(_KEY_TAKEN, {"key": report_key}).first()
        )
        if taken is not None:
            raise NotStored(f"report {report_id} stored meanwhile")
        leaf_index, leaf_hash = record_routing(
            writer, report_id=report_id, source_id=caller.id, recipients=routed, now=now
        )
        acknowledgement = crypto.sign_acknowledgement(
            AcknowledgementBody(
                acknowledgement_version=3,
                report_id=report.report_id,
                source=caller.id,
                accepted_at=now,
                recipients=routed,
                commitment_root=committed.root,
                promise=InclusionPromise(
                    leaf_index=leaf_index, leaf_hash=leaf_hash, deadline=now + promise_within
                ),
            ),
            secrets.signing_key,
        )
        answer = IntakeAnswer(
            report_id=report_id,
            accepted_at=now,
            recipients=routed,
            acknowledgement=acknowledgement,
            awaiting_key=sorted(keyless),
        )
        connection.execute(_NEW_REPORT, {**report_row, "answer": answer.model_dump_json()})
        connection.execute(_NEW_DELIVERIES, rows)
        record_acceptance(
            writer,
            report_id=report_key,
            acknowledgement=acknowledgement,
            deliveries=sealed,
            source_id=caller.id,
            now=now,
        )
        record_awaiting_key(
            writer,
            report_key,
            [(str(r["packet_id"]), str(r["recipient_id"])) for r in rows if r["packet"] is None],
            now,
        )
        note_report(writer, report, report_key)
        return answer

    # Ends this session's read transaction too, so that the look after a clash sees the batch.
    session.commit()
    try:
        answer = batch.submit(session.get_bind(), write)  # type: ignore[arg-type]
        stored = True
    except NotStored:
        stored = False
    if not stored:
        repeated = _repeated_answer(session, report, caller, mac)
        if repeated is None:
            if report_key == report_id and _new_key(session, report_id) != report_id:
                # Another source's report took this id as its key meanwhile: this one is stored
                # under a key of its own, as if it had come a moment later (once: that key is new).
                return accept_report(
                    session,
                    report=report,
                    caller=caller,
                    policy=policy,
                    secrets=secrets,
                    now=now,
                    promise_within=promise_within,
                )
            raise Conflict(f"report {report.report_id} could not be stored; send it again")
        return repeated[1]
    log.info(
        "report_accepted",
        report_id=report_key,
        source=caller.id,
        recipients=[r.recipient_id for r in routed],
        packet_ids=[d.packet_id for d in sealed],
    )
    for recipient_id in sorted(keyless):
        log.warning("copy_awaiting_key", report_id=report_key, recipient_id=recipient_id)
    return answer


def note_report(session: Session, report: Report, key: str) -> None:
    """Keep the coded facts the oversight needs from the content, and nothing else of it: whether
    the reporter consented to contact (S11, hub/oversight/feedback.py), and the incident's country
    and the report's category (the annual report, hub/oversight/annual.py). Intake is the only
    step that sees the report, so it keeps them (docs/threat-model.md, P58). `key` is the hub's
    key of the report."""
    connection = session.connection()
    connection.execute(
        _NEW_FEEDBACK,
        {"report_id": key, "contact_consent": report.reporter.kind == "contact"},
    )
    connection.execute(
        _NEW_FACTS,
        {
            "report_id": key,
            "incident_country": report.incident.country,
            "category": report.category.value,
        },
    )


def _without_key(directory: list[Recipient], routed: list[RoutedRecipient]) -> set[str]:
    """The routed recipients without a current sealing key.

    Raises RoutingFailed if that is every one of them: the hub does not acknowledge a report it
    can deliver to nobody.
    """
    with_key = {r.member.recipient_id for r in directory if r.sealing_key is not None}
    keyless = {t.recipient_id for t in routed} - with_key
    if keyless and len(keyless) == len({t.recipient_id for t in routed}):
        raise RoutingFailed(
            f"no routed recipient has a current sealing key: {', '.join(sorted(keyless))}"
        )
    return keyless


NO_CURRENT_KEY = "no current sealing key at intake"


def _held_row(key: str, target: RoutedRecipient, now: datetime) -> dict[str, object]:
    """A recipient's copy held until the source resends: nothing sealed, nothing to deliver."""
    return {
        "packet_id": str(uuid4()),
        "report_id": key,
        "recipient_id": target.recipient_id,
        "rules": ",".join(target.rules),
        "state": DeliveryState.awaiting_reseal.value,
        "packet": None,
        "sealed_sha256": "",
        "recipient_key_id": "",
        "created_at": now,
        "pulls": 0,
        "attempts": 0,
        "next_attempt_at": now,
        "window_start": now,
        "last_error": NO_CURRENT_KEY,
    }


def _source_country(session: Session, source_id: str) -> str | None:
    country: str | None = (
        session.connection().execute(_COUNTRY, {"source_id": source_id}).scalar_one()
    )
    return country


def _new_key(session: Session, report_id: str) -> str:
    """The hub's key for a new report: its own id, unless another source's report has that key.

    Keeping the id as the key leaves every report of a source whose ids nobody else used named
    the same way in every table, packet and audit entry as before ids were per source.
    """
    taken = session.connection().execute(_KEY_TAKEN, {"key": report_id}).first()
    return report_id if taken is None else str(uuid4())


def _repeated_answer(
    session: Session, report: Report, caller: Principal, mac: str
) -> tuple[str, IntakeAnswer] | None:
    """The key and the stored answer if `caller` sent this report before; None if it did not.

    Raises Conflict if the caller sent this id before with other content. Another source's
    report with the same id is not looked at.
    """
    stored = (
        session.connection()
        .execute(_STORED, {"source_id": caller.id, "report_id": str(report.report_id)})
        .first()
    )
    if stored is None:
        return None
    if stored.content_mac != mac:
        log.warning("report_id_conflict", report_id=str(stored.id), source=caller.id)
        raise Conflict(f"report {report.report_id} was already submitted with other content")
    log.info("report_repeated", report_id=str(stored.id), source=caller.id)
    return str(stored.id), IntakeAnswer.model_validate_json(stored.answer)


def reseal_held(
    session: Session,
    *,
    report: Report,
    report_key: str,
    canonical: bytes,
    secrets: HubSecrets,
    now: datetime,
) -> list[str]:
    """Seal again, to each recipient's current key, the packets held after a key revocation.

    Called only with content the source sent again and that matched the stored keyed digest, so
    the new packets carry exactly what was acknowledged. A recipient still without a valid key
    keeps its packet held. `report_key` is the hub's key of the report. Returns the packet ids
    sealed again.
    """
    held = session.exec(
        select(DeliveryRow)
        .where(DeliveryRow.report_id == report_key)
        .where(DeliveryRow.state == DeliveryState.awaiting_reseal)
    ).all()
    if not held:
        return []
    directory = recipients(session, now)
    resealed = []
    # The salt of intake was forgotten: the copies sealed again carry a new commitment, signed
    # now, to the same content (the keyed digest matched); the acknowledgement names the first.
    salt = commitment.new_salt()
    signed_commitment = commitment.sign_commitment(
        commitment.commit(report, salt, now), secrets.signing_key
    )
    for row in held:
        try:
            key = sealing_key_of(directory, row.recipient_id)
        except ConfigurationError:
            continue
        packet = crypto.seal_packet(
            report_id=report.report_id,
            canonical=canonical,
            recipient_id=row.recipient_id,
            recipient_key=key,
            hub_key=secrets.signing_key,
            now=now,
            commitment=signed_commitment,
            salt=salt,
        )
        # The held row stays as history; its bytes, sealed to a revoked key, are of no use.
        row.state = DeliveryState.superseded
        row.packet = None
        row.purged_at = now
        session.add(row)
        session.add(
            DeliveryRow(
                packet_id=str(packet.packet_id),
                report_id=row.report_id,
                recipient_id=row.recipient_id,
                rules=row.rules,
                state=DeliveryState.pending,
                packet=packet.envelope.model_dump_json(),
                sealed_sha256=packet.sealed_sha256,
                recipient_key_id=crypto.fingerprint_x25519(key),
                created_at=row.created_at,
                next_attempt_at=now,
                window_start=now,
            )
        )
        resealed.append(str(packet.packet_id))
        record_resealed(
            session,
            row,
            SealedDelivery(
                packet_id=str(packet.packet_id),
                recipient_id=row.recipient_id,
                recipient_key_id=crypto.fingerprint_x25519(key),
                sealed_sha256=packet.sealed_sha256,
                hub_key_id=packet.envelope.signatures[0].keyid,
            ),
            now,
        )
    session.commit()
    log.info("packets_resealed", report_id=report_key, packet_ids=resealed)
    return resealed
