"""The reports a connector holds, as the reading room lists and opens them: in memory only.

`holdings` lists the stored packets, newest first: ids, when this recipient received each (its
own signed receipt), where it came from (the source, or the line that forwarded it) and what the
room recorded on it. `open_report` opens one packet, verified again with the hub's key, in the
reader's language: a copy from intake as the readings render it (`build_view`), a forward as
what the forwarder disclosed, withheld and added, each field opened against the hub's
commitment. Nothing here writes a file.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from connectors.config import ConnectorConfig
from connectors.readings.render import ReportView, build_view, visible
from connectors.readings.translations import catalogue
from connectors.recipient.forwarded import OpenedForward, open_forward
from connectors.recipient.ledger import Ledger, Recorded
from connectors.recipient.outcome import stored_body
from connectors.recipient.pull import ConnectorKeys, open_with
from connectors.recipient.store import LocalStore
from connectors.recipient.triage import may_contact
from hub.crypto import OpenedPacket
from hub.errors import PacketInvalid
from schemas.envelope import Envelope, PacketBody, ReceiptBody

__all__ = ["ForwardView", "Holding", "OpenedReport", "holdings", "open_report"]


@dataclass(frozen=True)
class Holding:
    """One stored packet as the list shows it."""

    packet_id: str
    report_id: str
    received_at: datetime
    origin: str  # the source's id, or "forward from <recipient>"
    forwarded: bool
    recorded: Recorded


@dataclass(frozen=True)
class ForwardView:
    """A verified forward in the reader's language: who sent it, what it holds and withholds."""

    forwarder_id: str
    forwarded_at: str
    commitment_root: str
    rows: list[tuple[str, str]]
    withheld: list[str]
    classification: str | None
    note: str | None


@dataclass(frozen=True)
class OpenedReport:
    """One packet opened for the page: the copy's view, or the forward's."""

    holding: Holding
    view: ReportView | None
    forward: ForwardView | None
    may_contact: bool


def _receipt_time(store: LocalStore, body: PacketBody) -> datetime:
    receipt = store.receipt_for(body.packet_id)
    if receipt is None:
        return body.sealed_at
    try:
        signed = ReceiptBody.model_validate_json(base64.b64decode(receipt.payload, validate=True))
    except (binascii.Error, ValueError, ValidationError):
        return body.sealed_at
    return signed.received_at


def _holding(
    config: ConnectorConfig, keys: ConnectorKeys, ledger: Ledger, packet_id: str
) -> tuple[Holding, Envelope, PacketBody, OpenedPacket | None]:
    """The packet as listed; a copy from intake opened (its source is inside), a forward not."""
    envelope, body = stored_body(config, keys, packet_id)
    opened = None
    if body.forwarded:
        assert body.forwarder_key is not None
        origin = f"forward from {body.forwarder_key.recipient_id}"
    else:
        opened = open_with(envelope, keys, config.recipient_id)
        origin = opened.report.source
    holding = Holding(
        packet_id=str(body.packet_id),
        report_id=str(body.report_id),
        received_at=_receipt_time(LocalStore(config.store_dir), body),
        origin=origin,
        forwarded=body.forwarded,
        recorded=ledger.get(str(body.report_id)),
    )
    return holding, envelope, body, opened


def holdings(config: ConnectorConfig, keys: ConnectorKeys, ledger: Ledger) -> list[Holding]:
    """Every stored packet, newest received first.

    Raises PacketInvalid for a stored packet that no longer verifies, StoreFailed.
    """
    folder = LocalStore(config.store_dir).packets
    ids = sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []
    found = [_holding(config, keys, ledger, packet_id)[0] for packet_id in ids]
    return sorted(found, key=lambda h: (h.received_at, h.packet_id), reverse=True)


def _forward_view(opened: OpenedForward, locale: str) -> ForwardView:
    words = catalogue(locale)

    def label(name: str) -> str:
        return " · ".join(words.field(part) for part in name.split("."))

    def shown(value: Any) -> str:
        return visible(value if isinstance(value, str) else str(value))

    additions = opened.opening.additions
    return ForwardView(
        forwarder_id=opened.forwarder_id,
        forwarded_at=opened.forward.forwarded_at.isoformat(),
        commitment_root=opened.commitment.root,
        rows=[(label(name), shown(value)) for name, value in opened.fields.items()],
        withheld=[label(name) for name in opened.opening.withheld],
        classification=additions.classification,
        note=visible(additions.note) if additions.note else None,
    )


def open_report(
    config: ConnectorConfig,
    keys: ConnectorKeys,
    ledger: Ledger,
    packet_id: str,
    *,
    locale: str,
    timezone: str,
) -> OpenedReport:
    """One stored packet opened in memory and rendered in `locale`.

    Raises TriageRefused for a packet not stored here, PacketInvalid for one that does not
    verify or open, LocaleUnsupported, StoreFailed.
    """
    holding, envelope, body, opened = _holding(config, keys, ledger, packet_id)
    if opened is None:
        forward = open_forward(
            envelope, hub_keys=keys.hub, sealing=keys.sealing, recipient_id=config.recipient_id
        )
        if str(forward.forward.report_id) != holding.report_id:
            raise PacketInvalid("the forward is about another report")
        return OpenedReport(holding, None, _forward_view(forward, locale), may_contact=False)
    view = build_view(
        opened.report,
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        locale=locale,
        timezone=timezone,
        envelope=envelope,
        receipt=LocalStore(config.store_dir).receipt_for(body.packet_id),
    )
    return OpenedReport(holding, view, None, may_contact=may_contact(opened.report))
