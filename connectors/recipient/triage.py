"""Triage: the first receiver of a report records its decision, and forwards where it decides so.

For each report it receives, a section or police desk records one decision with a classification
in the network's common codes (docs/classification.md): *forward* (to its police or section, or
to a line of another member country), *needs information* (the reporter is contacted, only where
they consented), or *close* (with a reason code). The hub keeps codes and times, never content,
and measures from the first decision how long the line took (standard S2).

The steps of `triage_report`, in order:
1. Open the stored copy in memory: its report id, and whether the reporter consented to contact.
2. Refuse what the connector will not do: *needs information* without consent, a *forward* that
   names no recipient, names itself, or a recipient the hub does not list as a section or police
   desk; nothing is recorded then.
3. Record the decision at the hub, which checks the codes; a refusal there changes nothing.
4. For a forward, pass the report on with `forward_report`, the classification travelling in the
   forward's additions; if that fails the decision stays recorded and the error says how to send
   the forward again (`connector forward`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import uuid4

from nacl.public import PublicKey
from pydantic import ValidationError

from connectors.client import HubClient
from connectors.config import ConnectorConfig, read_token
from connectors.errors import ConnectorError, ForwardRefused, TriageRefused
from connectors.recipient.forward import ForwardResult, forward_report
from connectors.recipient.ledger import Ledger
from connectors.recipient.pull import load_keys, open_with
from connectors.recipient.store import LocalStore, packet_file
from hub.crypto import OpenedPacket, fingerprint_x25519
from hub.logs import get_logger
from schemas.classification import Decision
from schemas.envelope import Envelope
from schemas.report import Report
from schemas.triage import TriageAnswer, TriageRequest

__all__ = ["TriageResult", "may_contact", "triage_report"]

log = get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class TriageResult:
    """What a triage did: the decision the hub recorded, and the forward if there was one."""

    decision: TriageAnswer
    forward: ForwardResult | None = None


def may_contact(report: Report) -> bool:
    """Whether the reporter consented to be contacted (and left a way to do so)."""
    return report.reporter.kind == "contact" and report.reporter.consent_to_contact


def _opened(config: ConnectorConfig, packet_id: str) -> OpenedPacket:
    path = packet_file(LocalStore(config.store_dir), packet_id)
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise TriageRefused(f"packet {packet_id} is not stored here") from exc
    except (OSError, ValidationError) as exc:
        raise TriageRefused(f"{path}: unreadable packet") from exc
    return open_with(envelope, load_keys(config), config.recipient_id)


def triage_report(
    config: ConnectorConfig,
    packet_id: str,
    *,
    decision: Decision,
    classification: str,
    reason_code: str | None = None,
    to_recipient_id: str | None = None,
    note: str | None = None,
    share_contact: bool = False,
    delete_copy: bool = False,
    to_key: PublicKey | None = None,
    now: Clock | None = None,
    client: HubClient | None = None,
) -> TriageResult:
    """Record a triage decision on the stored copy `packet_id`, and forward it if so decided.

    Raises TriageRefused, ForwardRefused, PacketInvalid, ConfigInvalid, HubUnreachable,
    HubRefused (a code not in the network's list: 422 naming the field), HubAnswerInvalid or
    StoreFailed.
    """
    clock = now or (lambda: datetime.now(UTC))
    # 1.
    opened = _opened(config, packet_id)
    report_id = str(opened.report.report_id)
    # 2.
    if decision is Decision.needs_information and not may_contact(opened.report):
        raise TriageRefused(
            f"report {report_id}: the reporter did not consent to be contacted, so no more "
            "information can be asked for; forward the report or close it"
        )
    if decision is Decision.forward and to_recipient_id is None:
        raise TriageRefused("a forward names its recipient (--to RECIPIENT)")
    if decision is Decision.forward and to_recipient_id == config.recipient_id:
        raise TriageRefused("a forward goes to another section or police desk, not to itself")
    if decision is not Decision.forward and to_recipient_id is not None:
        raise TriageRefused(f"only a forward goes to a recipient, not a {decision.value}")
    own = client is None
    hub = client or HubClient(
        config.hub_url, read_token(config.credential_file), ca_file=config.ca_file
    )
    try:
        if decision is Decision.forward and to_key is None:
            targets = {t.recipient_id: t for t in hub.forward_targets().targets}
            target = targets.get(str(to_recipient_id))
            if target is None:
                raise ForwardRefused(f"{to_recipient_id} is not a section or police desk")
            to_key = PublicKey(base64.b64decode(target.public_key, validate=True))
            if fingerprint_x25519(to_key) != target.key_id:
                raise ForwardRefused(f"the hub's key for {to_recipient_id} does not match its id")
        # 3.
        recorded = hub.record_triage(
            report_id,
            TriageRequest(
                decision_id=uuid4(),
                decision=decision,
                classification=classification,
                reason_code=reason_code,
                decided_at=clock(),
            ),
        )
        Ledger(config.store_dir).decided(
            report_id,
            decision=recorded.decision.value,
            classification=recorded.classification,
            reason_code=recorded.reason_code,
            at=recorded.recorded_at,
        )
        log.info(
            "triage_recorded",
            report_id=report_id,
            packet_id=packet_id,
            decision_id=str(recorded.decision_id),
            decision=decision.value,
            classification=classification,
        )
        if decision is not Decision.forward:
            return TriageResult(decision=recorded)
        # 4.
        assert to_recipient_id is not None
        try:
            forwarded = forward_report(
                config,
                packet_id,
                to_recipient_id=to_recipient_id,
                classification=classification,
                note=note,
                share_contact=share_contact,
                delete_copy=delete_copy,
                to_key=to_key,
                now=clock,
                client=hub,
            )
        except ConnectorError as exc:
            raise ForwardRefused(
                f"decision {recorded.decision_id} recorded, but the forward failed ({exc}); "
                f"send it with: connector forward {packet_id} --to {to_recipient_id}"
            ) from exc
        return TriageResult(decision=recorded, forward=forwarded)
    finally:
        if own:
            hub.close()
