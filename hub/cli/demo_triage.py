"""The demo's triage: the Belgian section triages three reports as its first receiver.

After the sample reports of `hub.cli.demo.play_demo`, three Belgian reports arrive at the
Belgian section, which records one decision on each with the network's classification codes:
the first it forwards to its police (and deletes its copy, as the Belgian procedure says), the
second needs more information (its reporter consented to be contacted), the third it closes with
a reason code. The police pull the forward, check it offline against the hub's commitment, and
receipt it; the demo prints the decisions and the verified receipt of the forward.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx

from connectors.config import ConnectorConfig, load_config
from connectors.recipient.forwarded import open_forward
from connectors.recipient.pull import load_keys, pull_until_empty
from connectors.recipient.triage import TriageResult, triage_report
from hub.crypto import verify_envelope, verify_receipt
from keys import load_public_keyset
from schemas.classification import Decision
from schemas.envelope import PACKET_TYPE, Envelope, PacketBody

__all__ = ["DemoTriage", "format_triage", "triage_demo"]

SECTION, POLICE, PORTAL = "be-section", "be-police", "portal-be"
COORDINATOR = "network-coordinator"


@dataclass(frozen=True)
class ForwardReceipt:
    """The verified receipt of the forward, as the hub holds it and the demo checked it."""

    packet_id: str
    recipient_id: str
    state: str
    received_at: str
    key_id: str
    offline: str  # what the receiver's offline check of the forward said


@dataclass(frozen=True)
class DemoTriage:
    """The three decisions, and the receipt of the forward."""

    decisions: list[tuple[str, TriageResult]]  # (description for people, what was done)
    receipt: ForwardReceipt


def _report(today: datetime, *, contact: bool) -> dict[str, Any]:
    reporter: dict[str, Any] = {"kind": "anonymous"}
    if contact:
        reporter = {
            "kind": "contact",
            "email": "reporter@example.be",
            "consent_to_contact": True,
            "preferred_language": "nl",
        }
    return {
        "schema_version": 1,
        "report_id": str(uuid4()),
        "source": PORTAL,
        "submitted_at": today.isoformat(),
        "reporter": reporter,
        "incident": {
            "country": "TH",
            "place": "Pattaya",
            "place_kind": "bar",
            "date_from": (today.date() - timedelta(days=5)).isoformat(),
            "description": "Demo report: a man offered a child to tourists in a bar.",
        },
        "suspects": [{"nationality": "BE"}],
        "children": {"count": 1, "approximate_ages": [13], "gender": "female"},
        "category": "travel_and_tourism",
    }


def _copy_of(config: ConnectorConfig, report_id: str, *, forwarded: bool) -> Envelope:
    """The stored packet of a report at a connector: its copy from intake, or a forward."""
    keys = load_keys(config)
    for path in sorted((config.store_dir / "packets").glob("*.json")):
        envelope = Envelope.model_validate_json(path.read_bytes())
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
        if str(body.report_id) == report_id and body.forwarded == forwarded:
            return envelope
    raise LookupError(f"{config.recipient_id} holds no packet of report {report_id}")


def _packet_id(envelope: Envelope) -> str:
    return str(PacketBody.model_validate_json(base64.b64decode(envelope.payload)).packet_id)


def triage_demo(hub_url: str, listing_path: Path) -> DemoTriage:
    """Submit three Belgian reports, triage them at the Belgian section, let the police receive
    the forward, and return the decisions with the forward's verified receipt."""
    listing = json.loads(listing_path.read_text(encoding="utf-8"))
    entries = {e["id"]: e for e in listing["sources"] + listing["recipients"]}

    def token(party: str) -> str:
        return Path(entries[party]["credential_file"]).read_text(encoding="utf-8").strip()

    section = load_config(Path(entries[SECTION]["connector_config"]))
    police = load_config(Path(entries[POLICE]["connector_config"]))
    now = datetime.now(UTC)
    reports = [_report(now, contact=False), _report(now, contact=True), _report(now, contact=False)]
    with httpx.Client(base_url=hub_url, timeout=10) as client:
        for body in reports:
            answer = client.post(
                "/v1/reports", json=body, headers={"Authorization": f"Bearer {token(PORTAL)}"}
            )
            answer.raise_for_status()
        pull_until_empty(section)
        forward, ask, close = (
            _packet_id(_copy_of(section, r["report_id"], forwarded=False)) for r in reports
        )
        decisions = [
            (
                "forwarded to the police, copy deleted",
                triage_report(
                    section,
                    forward,
                    decision=Decision.forward,
                    classification="sexual_exploitation_travel_tourism",
                    to_recipient_id=POLICE,
                    note="Enough usable information: passed on under our agreement.",
                    delete_copy=True,
                ),
            ),
            (
                "needs information (reporter consented)",
                triage_report(
                    section,
                    ask,
                    decision=Decision.needs_information,
                    classification="insufficient_information",
                    reason_code="suspect_description_missing",
                ),
            ),
            (
                "closed",
                triage_report(
                    section,
                    close,
                    decision=Decision.close,
                    classification="not_within_scope",
                    reason_code="not_within_scope",
                ),
            ),
        ]
        pull_until_empty(police)
        forwarded_id = reports[0]["report_id"]
        keys = load_keys(police)
        opened = open_forward(
            _copy_of(police, forwarded_id, forwarded=True),
            hub_keys=keys.hub,
            sealing=keys.sealing,
            recipient_id=POLICE,
        )
        status = client.get(
            f"/v1/reports/{forwarded_id}/deliveries",
            headers={"Authorization": f"Bearer {token(COORDINATOR)}"},
        )
        status.raise_for_status()
    delivery = next(d for d in status.json()["deliveries"] if d["rules"] == ["forward"])
    receipt = Envelope.model_validate(delivery["receipt"])
    public = load_public_keyset(Path(entries[POLICE]["public_keys_file"]))
    signed = verify_receipt(receipt, {public.signing_key_id: public.signing})
    return DemoTriage(
        decisions=decisions,
        receipt=ForwardReceipt(
            packet_id=delivery["packet_id"],
            recipient_id=str(signed.recipient_id),
            state=delivery["state"],
            received_at=signed.received_at.isoformat(),
            key_id=public.signing_key_id,
            offline=f"VERIFIED against the hub's commitment {opened.commitment.root[:16]}…, "
            f"forwarded by {opened.forwarder_id}, classified "
            f"{opened.opening.additions.classification}",
        ),
    )


def format_triage(result: DemoTriage) -> str:
    """The decisions and the forward's verified receipt, for people."""
    lines = [f"Triage at {SECTION} (the Belgian section receives first and decides):"]
    for label, done in result.decisions:
        d = done.decision
        reason = f", reason {d.reason_code}" if d.reason_code else ""
        lines.append(
            f"  report {d.report_id}: {d.decision.value}, {d.classification}{reason}  ({label})"
        )
    r = result.receipt
    lines += [
        f"Forward to {r.recipient_id}: packet {r.packet_id}, {r.state}",
        f"  receipt signed by {r.recipient_id} ({r.key_id}) at {r.received_at}: signature verified",
        f"  {r.recipient_id}'s offline check: {r.offline}",
    ]
    return "\n".join(lines)
