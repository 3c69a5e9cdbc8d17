"""Coded outcomes: what a recipient did with a report it received, told to the hub as a code.

The hub keeps the code with its time (`POST /v1/reports/{id}/outcome`), for the report's source
to see in its status and for the annual report to count. Codes only, never free text: a text
could carry content. `OUTCOMES` are the hub's codes (hub/oversight/feedback.py's `Outcome`, which
the connectors may not import; a test keeps the two lists equal).
"""

from __future__ import annotations

from pydantic import ValidationError

from connectors.client import HubClient, RecordedOutcome
from connectors.config import ConnectorConfig, read_token
from connectors.errors import StoreFailed, TriageRefused
from connectors.recipient.ledger import Ledger
from connectors.recipient.pull import ConnectorKeys, load_keys
from connectors.recipient.store import LocalStore, packet_file
from hub.crypto import verify_envelope
from hub.errors import PacketInvalid
from hub.logs import get_logger
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody

__all__ = ["OUTCOMES", "record_outcome", "stored_body"]

log = get_logger(__name__)

OUTCOMES = (
    "under_assessment",
    "forwarded_to_investigators",
    "more_information_needed",
    "no_jurisdiction",
    "closed",
    "investigation_opened",
    "conviction",
    "no_action",
)


def stored_body(
    config: ConnectorConfig, keys: ConnectorKeys, packet_id: str
) -> tuple[Envelope, PacketBody]:
    """A stored packet's envelope and its hub-signed body, verified but not opened.

    Raises TriageRefused for a packet not stored here, StoreFailed for an unreadable one,
    PacketInvalid for one no trusted hub key signed or addressed to another recipient.
    """
    path = packet_file(LocalStore(config.store_dir), packet_id)
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except FileNotFoundError as exc:
        raise TriageRefused(f"packet {packet_id} is not stored here") from exc
    except (OSError, ValidationError) as exc:
        raise StoreFailed(f"{path}: unreadable packet") from exc
    try:
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
    except (PacketInvalid, ValidationError) as exc:
        raise PacketInvalid("not a packet signed by a hub key this connector trusts") from exc
    if body.recipient_id != config.recipient_id:
        raise PacketInvalid(f"addressed to {body.recipient_id}, not to {config.recipient_id}")
    return envelope, body


def record_outcome(
    config: ConnectorConfig, packet_id: str, outcome: str, *, client: HubClient | None = None
) -> RecordedOutcome:
    """Tell the hub the coded outcome of the report in the stored packet `packet_id`.

    Raises TriageRefused for a code not in `OUTCOMES` or a packet not stored here, PacketInvalid,
    StoreFailed, ConfigInvalid, HubUnreachable, HubRefused or HubAnswerInvalid.
    """
    if outcome not in OUTCOMES:
        raise TriageRefused(f"{outcome!r} is not an outcome code: one of {', '.join(OUTCOMES)}")
    _, body = stored_body(config, load_keys(config), packet_id)
    own = client is None
    hub = client or HubClient(
        config.hub_url, read_token(config.credential_file), ca_file=config.ca_file
    )
    try:
        recorded = hub.record_outcome(str(body.report_id), outcome)
    finally:
        if own:
            hub.close()
    Ledger(config.store_dir).outcome(
        str(body.report_id), outcome=recorded.outcome, at=recorded.recorded_at
    )
    log.info(
        "outcome_recorded", report_id=str(body.report_id), packet_id=packet_id, outcome=outcome
    )
    return recorded
