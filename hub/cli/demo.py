"""The demo network: four member countries, a coordinator, five portals, and a few sample reports.

`provision_demo` registers everybody at the hub and writes what each party needs to act (keys,
credentials, connector configuration) under one folder, listed in its recipients.json. `play_demo`
submits sample reports over HTTP, lets every demo connector pull and receipt its packets, and
returns where each report went.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from sqlmodel import Session

from connectors.config import load_config
from connectors.recipient.pull import pull_until_empty
from hub.files import private_folder
from hub.network.credentials import Role, issue_credential
from hub.network.directory import add_recipient, add_source
from hub.network.routing import RecipientKind, RoutingPolicy
from hub.settings import Settings
from hub.store import make_engine
from keys import create_passphrase_file, generate_keyset, write_keyset, write_public_keyset

MEMBERS = {"AT": "Austria", "BE": "Belgium", "DE": "Germany", "NL": "Netherlands"}
COORDINATOR = "network-coordinator"
INTERNATIONAL = "platform-int"


@dataclass(frozen=True)
class DemoParty:
    id: str
    name: str
    country: str | None
    kind: RecipientKind | None  # None for a source portal


def demo_parties() -> list[DemoParty]:
    """Every recipient and source of the demo network."""
    parties = []
    for code, country in MEMBERS.items():
        low = code.lower()
        parties += [
            DemoParty(
                f"{low}-section", f"{country} reporting line (demo)", code, RecipientKind.section
            ),
            DemoParty(
                f"{low}-police", f"{country} police liaison (demo)", code, RecipientKind.police
            ),
            DemoParty(f"portal-{low}", f"{country} reporting portal (demo)", code, None),
        ]
    parties += [
        DemoParty(COORDINATOR, "Network coordinator (demo)", None, RecipientKind.coordinator),
        DemoParty(INTERNATIONAL, "International reporting platform (demo)", None, None),
    ]
    return parties


def _write_secret(path: Path, text: str) -> None:
    private_folder(path.parent)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(text + "\n", encoding="utf-8")


def provision_demo(
    settings: Settings, demo_dir: Path, *, hub_url: str, now: datetime | None = None
) -> Path:
    """Register the demo network and write its keys and credentials; return recipients.json.

    The parties are registered, and their keys valid, from `now` (the present by default).

    Raises InvalidInput if a demo party is already registered.
    """
    private_folder(demo_dir)  # it holds every demo party's private keys and tokens
    shutil.copyfile(settings.hub_public_key_file, demo_dir / "hub.pub.json")
    now = now or datetime.now(UTC)
    listing: dict[str, list[dict[str, Any]]] = {"recipients": [], "sources": []}
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        for party in demo_parties():
            folder = demo_dir / ("recipients" if party.kind else "sources") / party.id
            credential_file = folder / "credential.txt"
            if party.kind is None:
                add_source(
                    session, source_id=party.id, name=party.name, country=party.country, now=now
                )
                _write_secret(
                    credential_file, issue_credential(session, Role.source, party.id, now)
                )
                listing["sources"].append(
                    {
                        "id": party.id,
                        "country": party.country,
                        "credential_file": str(credential_file),
                    }
                )
                continue
            keys = generate_keyset()
            # Written here, mode 0600, so that nobody types a passphrase in the demo; a real
            # member keeps it apart from its keys (a systemd credential, deploy/README.md).
            passphrase = create_passphrase_file(folder / "passphrase.txt")
            write_keyset(
                keys, folder / f"{party.id}.keys.pem", name=party.id, passphrase=passphrase
            )
            write_public_keyset(keys.public, folder / f"{party.id}.pub.json", name=party.id)
            add_recipient(
                session,
                recipient_id=party.id,
                name=party.name,
                country=party.country,
                kind=party.kind,
                keys=keys.public,
                now=now,
            )
            _write_secret(credential_file, issue_credential(session, Role.recipient, party.id, now))
            connector = {
                "hub_url": hub_url,
                "recipient_id": party.id,
                "credential_file": "credential.txt",
                "keys_file": f"{party.id}.keys.pem",
                "passphrase_file": "passphrase.txt",
                "hub_public_key_file": "../../hub.pub.json",
                "hub_trust_file": "hub-trust.json",
                "store_dir": "inbox",
            }
            (folder / "connector.json").write_text(json.dumps(connector, indent=2) + "\n")
            listing["recipients"].append(
                {
                    "id": party.id,
                    "country": party.country,
                    "kind": party.kind.value,
                    "mode": "pull",
                    "credential_file": str(credential_file),
                    "keys_file": str(folder / f"{party.id}.keys.pem"),
                    "passphrase_file": str(folder / "passphrase.txt"),
                    "public_keys_file": str(folder / f"{party.id}.pub.json"),
                    "connector_config": str(folder / "connector.json"),
                    "store_dir": str(folder / "inbox"),
                }
            )
        session.commit()
    engine.dispose()
    path = demo_dir / "recipients.json"
    path.write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    return path


def sample_reports(today: date) -> list[tuple[str, dict[str, Any]]]:
    """A few reports as portals would send them: (description for people, report JSON)."""

    def report(
        source: str, country: str, place: str, suspects: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "report_id": str(uuid4()),
            "source": source,
            "submitted_at": datetime.now(UTC).isoformat(),
            "reporter": {"kind": "anonymous"},
            "incident": {
                "country": country,
                "place": place,
                "place_kind": "hotel",
                "date_from": (today - timedelta(days=10)).isoformat(),
                "description": "Demo report: an adult tourist with a child at the hotel pool.",
            },
            "suspects": suspects,
            "children": {"count": 1, "approximate_ages": [11], "gender": "female"},
            "category": "travel_and_tourism",
        }

    return [
        (
            "Dutch suspect in Thailand, NL portal",
            report("portal-nl", "TH", "Pattaya", [{"nationality": "NL"}]),
        ),
        (
            "German suspect living in Austria, in Cambodia, AT portal",
            report(
                "portal-at", "KH", "Siem Reap", [{"nationality": "DE", "residence_country": "AT"}]
            ),
        ),
        (
            "Belgian suspect in Germany, international platform",
            report(INTERNATIONAL, "DE", "Cologne", [{"nationality": "BE"}]),
        ),
        (
            "Unknown suspect in the Philippines, international platform",
            report(INTERNATIONAL, "PH", "Angeles City", [{"approximate_age": 60}]),
        ),
    ]


@dataclass(frozen=True)
class DemoOutcome:
    label: str
    report_id: str
    deliveries: list[tuple[str, str]]  # (recipient id, state)


def play_demo(hub_url: str, listing_path: Path) -> list[DemoOutcome]:
    """Submit the sample reports, let every demo connector pull, and read back delivery status."""
    listing = json.loads(listing_path.read_text(encoding="utf-8"))
    tokens = {
        entry["id"]: Path(entry["credential_file"]).read_text(encoding="utf-8").strip()
        for entry in listing["sources"] + listing["recipients"]
    }
    submitted = []
    with httpx.Client(base_url=hub_url, timeout=10) as client:
        for label, body in sample_reports(datetime.now(UTC).date()):
            answer = client.post(
                "/v1/reports",
                json=body,
                headers={"Authorization": f"Bearer {tokens[body['source']]}"},
            )
            answer.raise_for_status()
            submitted.append((label, body["report_id"]))
        for entry in listing["recipients"]:
            pull_until_empty(load_config(Path(entry["connector_config"])))
        outcomes = []
        for label, report_id in submitted:
            status = client.get(
                f"/v1/reports/{report_id}/deliveries",
                headers={"Authorization": f"Bearer {tokens[COORDINATOR]}"},
            )
            status.raise_for_status()
            deliveries = [(d["recipient_id"], d["state"]) for d in status.json()["deliveries"]]
            outcomes.append(DemoOutcome(label=label, report_id=report_id, deliveries=deliveries))
    return outcomes


def format_outcomes(outcomes: list[DemoOutcome]) -> str:
    """A plain table of where each sample report went."""
    lines = [f"{'report':58} {'recipient':22} state", "-" * 92]
    for outcome in outcomes:
        for index, (recipient, state) in enumerate(outcome.deliveries):
            label = outcome.label if index == 0 else ""
            lines.append(f"{label:58} {recipient:22} {state}")
    return "\n".join(lines)


def format_procedures(policy: RoutingPolicy) -> str:
    """Who receives first in each country, as the hub routes (issue 14)."""
    lines = ["Who receives a report first and triages it (deploy/routing.toml [procedures]):"]
    for country, procedure in sorted(policy.procedures.items()):
        other = "police" if procedure.first is RecipientKind.section else "section"
        then = "also a copy at once" if procedure.copy_other else "what the first forwards"
        name = MEMBERS.get(country, country)
        lines.append(
            f"  {country} {name:12} the {procedure.first.value} first; the {other} gets {then}"
        )
    return "\n".join(lines)
