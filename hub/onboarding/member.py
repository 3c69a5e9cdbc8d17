"""Onboarding a member: register its recipients from their public keys, then prove the way works.

A new member makes its keys on its own machine (`connector init --country XX`) and sends the hub
operator a registration folder: `registration.json` and the public key files it names. Private
keys never leave the member. The hub operator then:

1. registers each recipient with its public keys and issues its API credential, its portals as
   sources, and its country profile (`register_recipients`, `hub recipients add`);
2. seals a test packet to one recipient only (`send_onboarding_packet`, `hub recipients test`),
   which the member's connector pulls, opens and receipts like any other;
3. reads the test packet's delivery and verified receipt (`onboarding_deliveries`,
   `hub recipients status`).

Test packets come from the hub's own source `hub-onboarding` and are sealed to exactly one
recipient, whatever the routing policy says; figures about real reports should leave that
source out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal
from uuid import uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select

from hub.delivery.state import DeliveryStatus, report_deliveries
from hub.errors import FieldError, InvalidInput, NotFound
from hub.intake.accept import accept_report
from hub.network.credentials import Principal, Role, issue_credential
from hub.network.directory import DeliveryMode, add_recipient, add_source
from hub.network.keyring import HubSecrets
from hub.network.profiles import MemberProfile, read_member_profile, register_profile
from hub.network.routing import FallbackRule, Member, RecipientKind, RoutingPolicy
from hub.store import DeliveryRow, RecipientRow, ReportRow, SourceRow
from keys import KeyFileError, PublicKeySet, load_public_keyset
from schemas.envelope import KeyId, RecipientId, RoutedRecipient
from schemas.report import CountryCode, Report, SourceId

__all__ = [
    "ONBOARDING_SOURCE",
    "REGISTRATION_FILE",
    "REGISTRATION_FORMAT",
    "TEST_RULE",
    "Issued",
    "OnboardingPacket",
    "RegisteredPortal",
    "RegisteredRecipient",
    "Registration",
    "onboarding_deliveries",
    "read_registration",
    "read_registration_profile",
    "register_recipients",
    "send_onboarding_packet",
]

REGISTRATION_FORMAT = "ctt-hub-registration/1"
REGISTRATION_FILE = "registration.json"
ONBOARDING_SOURCE = "hub-onboarding"
TEST_RULE = "onboarding-test"
# Where a test report says it happened when its recipient has no country (the coordinator).
_NO_COUNTRY = "AQ"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


BareFile = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*\.(json|toml)$")]


class RegisteredRecipient(_Strict):
    """One recipient a member asks to register, with its public key file and key ids."""

    id: RecipientId
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode | None
    kind: RecipientKind
    delivery_mode: DeliveryMode = DeliveryMode.pull
    public_keys_file: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*\.json$")] = Field(
        description="A file next to registration.json (a bare name: no folders)."
    )
    sealing_key_id: KeyId
    receipt_key_id: KeyId


class RegisteredPortal(_Strict):
    """A source portal a member asks to register: it submits reports with a source token."""

    id: SourceId
    name: str = Field(min_length=1, max_length=200)


class Registration(_Strict):
    """What `connector init` writes for the hub operator: public material only."""

    format: Literal["ctt-hub-registration/1"]
    profile: str = Field(pattern=r"^[A-Z]{2,3}$")
    country: CountryCode | None
    recipients: list[RegisteredRecipient] = Field(min_length=1, max_length=20)
    portals: list[RegisteredPortal] = Field(default_factory=list, max_length=20)
    profile_file: BareFile | None = Field(
        default=None,
        description="The member's profile.toml, next to registration.json: the hub judges the "
        "member's standards and counts its working days by it.",
    )


@dataclass(frozen=True)
class Issued:
    """A registered recipient and its new API token (shown once, stored only as a hash)."""

    recipient_id: str
    token: str
    sealing_key_id: str
    receipt_key_id: str


@dataclass(frozen=True)
class OnboardingPacket:
    """The ids of a test packet sealed for one recipient."""

    recipient_id: str
    report_id: str
    packet_id: str


def read_registration(path: Path) -> tuple[Registration, dict[str, PublicKeySet]]:
    """Read a registration file (or the folder holding one) and the public keys it names.

    Each key file must hold exactly the key ids the registration states, so that the ids the
    operator confirms with the member are the keys registered. Raises InvalidInput.
    """
    file = path / REGISTRATION_FILE if path.is_dir() else path
    try:
        registration = Registration.model_validate_json(file.read_bytes())
    except OSError as exc:
        raise InvalidInput.at("registration", f"cannot read {file}") from exc
    except ValidationError as exc:
        raise InvalidInput(
            [FieldError(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
        ) from exc
    keys: dict[str, PublicKeySet] = {}
    for index, entry in enumerate(registration.recipients):
        where = f"recipients.{index}"
        try:
            public = load_public_keyset(file.parent / entry.public_keys_file)
        except KeyFileError as exc:
            raise InvalidInput.at(f"{where}.public_keys_file", str(exc)) from exc
        if public.sealing is None or public.sealing_key_id != entry.sealing_key_id:
            raise InvalidInput.at(f"{where}.sealing_key_id", "does not match the key file")
        if public.signing_key_id != entry.receipt_key_id:
            raise InvalidInput.at(f"{where}.receipt_key_id", "does not match the key file")
        keys[entry.id] = public
    return registration, keys


def read_registration_profile(path: Path, registration: Registration) -> MemberProfile | None:
    """The country profile a registration folder carries, checked against the registration.

    None for a registration without one (written before profiles were sent). The profile must
    have the registration's code and country and list exactly its recipients and portals, so
    the hub judges the member by the profile its recipients came with. Raises InvalidInput.
    """
    if registration.profile_file is None:
        return None
    folder = path if path.is_dir() else path.parent
    member = read_member_profile(folder / registration.profile_file)
    profile = member.profile
    mismatches = {
        "profile": (profile.code, registration.profile),
        "country": (profile.country, registration.country),
        "recipients": (
            sorted(r.id for r in profile.recipients),
            sorted(r.id for r in registration.recipients),
        ),
        "portals": (
            sorted(p.id for p in profile.portals),
            sorted(p.id for p in registration.portals),
        ),
    }
    for name, (in_profile, registered) in mismatches.items():
        if in_profile != registered:
            raise InvalidInput.at(
                "profile_file",
                f"{name} in the profile ({in_profile}) and in the registration ({registered}) "
                "differ",
            )
    return member


def register_recipients(
    session: Session,
    registration: Registration,
    keys: dict[str, PublicKeySet],
    *,
    now: datetime,
    profile: MemberProfile | None = None,
) -> list[Issued]:
    """Register every recipient with its public keys and issue its credential, register the
    member's portals as sources (their tokens: `hub credentials issue source ID`) and store its
    country profile (`read_registration_profile`); all or none.

    Raises InvalidInput if an id is taken or a key is already registered.
    """
    if profile is not None:
        register_profile(session, profile, now=now)
    issued = []
    for entry in registration.recipients:
        add_recipient(
            session,
            recipient_id=entry.id,
            name=entry.name,
            country=entry.country,
            kind=entry.kind,
            keys=keys[entry.id],
            now=now,
            mode=entry.delivery_mode,
        )
        token = issue_credential(session, Role.recipient, entry.id, now)
        issued.append(Issued(entry.id, token, entry.sealing_key_id, entry.receipt_key_id))
    for portal in registration.portals:
        add_source(
            session, source_id=portal.id, name=portal.name, country=registration.country, now=now
        )
    session.commit()
    return issued


@dataclass(frozen=True)
class _OnlyTo(RoutingPolicy):
    """Routing for a test packet: the one recipient being tested, nobody else."""

    recipient_id: str = ""

    def route(
        self, report: Report, source_country: str | None, directory: Sequence[Member]
    ) -> list[RoutedRecipient]:
        if not any(m.recipient_id == self.recipient_id for m in directory):
            raise NotFound(f"no recipient {self.recipient_id}")
        return [RoutedRecipient(recipient_id=self.recipient_id, rules=[TEST_RULE])]


def _test_report(recipient: RecipientRow, now: datetime) -> Report:
    return Report.model_validate(
        {
            "schema_version": 1,
            "report_id": str(uuid4()),
            "source": ONBOARDING_SOURCE,
            "submitted_at": now.isoformat(),
            "reporter": {"kind": "anonymous"},
            "incident": {
                "country": recipient.country or _NO_COUNTRY,
                "place": "Onboarding test",
                "place_kind": "other",
                "date_from": now.date().isoformat(),
                "description": (
                    f"TEST PACKET for {recipient.id}, sent by the hub to check the way from the "
                    "hub to this recipient. It is not a report and needs no action."
                ),
            },
            "children": {"count": 1},
            "category": "other",
            "text_language": "en",
        }
    )


def send_onboarding_packet(
    session: Session, recipient_id: str, *, secrets: HubSecrets, now: datetime
) -> OnboardingPacket:
    """Seal a test report to one recipient through the normal intake, and return its ids.

    Raises NotFound for an unknown recipient, ConfigurationError if it has no valid key.
    """
    recipient = session.get(RecipientRow, recipient_id)
    if recipient is None:
        raise NotFound(f"no recipient {recipient_id}")
    if session.get(SourceRow, ONBOARDING_SOURCE) is None:
        add_source(
            session, source_id=ONBOARDING_SOURCE, name="Hub onboarding tests", country=None, now=now
        )
        session.commit()
    policy = _OnlyTo(
        rules=(),
        fallback=FallbackRule(id=TEST_RULE, kinds=frozenset(), unless_matched=frozenset()),
        recipient_id=recipient_id,
    )
    answer = accept_report(
        session,
        report=_test_report(recipient, now),
        caller=Principal(role=Role.source, id=ONBOARDING_SOURCE),
        policy=policy,
        secrets=secrets,
        now=now,
    )
    delivery = session.exec(
        select(DeliveryRow).where(DeliveryRow.report_id == answer.report_id)
    ).one()
    return OnboardingPacket(recipient_id, answer.report_id, delivery.packet_id)


def onboarding_deliveries(
    session: Session, recipient_id: str, *, now: datetime
) -> list[DeliveryStatus]:
    """The recipient's test packets, oldest first, each with its state and verified receipt."""
    report_ids = session.exec(
        select(ReportRow.id)
        .join(DeliveryRow, col(DeliveryRow.report_id) == col(ReportRow.id))
        .where(ReportRow.source_id == ONBOARDING_SOURCE)
        .where(DeliveryRow.recipient_id == recipient_id)
        .order_by(col(ReportRow.accepted_at))
    ).all()
    return [
        status
        for report_id in report_ids
        for status in report_deliveries(session, report_id=report_id, now=now).deliveries
    ]
