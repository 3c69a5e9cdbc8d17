"""Members' country profiles as the hub knows them: the shipped ones, and those members registered.

A member's registration folder carries its `profile.toml` (the format of
connectors/countries/<cc>/profile.toml); `hub recipients add` stores its text in the
`country_profiles` table, in the audit log as `profile_registered` with its SHA-256. From then on
the hub judges the member's standards by it (its national languages, S12) and counts working days
in its calendar and time zone (late deliveries, the dashboard) with no restart and no file on the
hub's machine: every hub process reads the same table.

A registered profile replaces a shipped one of the same code. The files a profile names (portal
mappings, sample forms) stay with the member: the hub reads only the profile itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, select

from connectors.countries.profiles import Profile, Profiles, default_profiles, parse_profile
from connectors.errors import ConnectorError
from hub.audit.events import ProfileRegistered
from hub.audit.log import record
from hub.errors import ConfigurationError, InvalidInput
from hub.store import CountryProfileRow

__all__ = [
    "REGISTERED_FOLDER",
    "MemberProfile",
    "calendar_name",
    "hub_profiles",
    "read_member_profile",
    "register_profile",
]

# Where a registered profile's own files would be: nowhere on the hub (they stay with the member).
REGISTERED_FOLDER = Path("registered-profiles")
MAX_PROFILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class MemberProfile:
    """A member's profile: its text, exactly as sent, and what it says."""

    text: str
    profile: Profile

    @property
    def sha256(self) -> str:
        """SHA-256 of the profile's UTF-8 bytes, as the audit log records it."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _parsed(text: str, where: str, code_hint: str) -> Profile:
    return parse_profile(text, folder=REGISTERED_FOLDER / code_hint.lower(), where=where)


def read_member_profile(path: Path, *, field: str = "profile_file") -> MemberProfile:
    """Read and check a profile file sent by a member. Raises InvalidInput at `field`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput.at(field, f"cannot read {path.name}") from exc
    if len(raw) > MAX_PROFILE_BYTES:
        raise InvalidInput.at(field, f"{path.name} is larger than {MAX_PROFILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        return MemberProfile(text=text, profile=_parsed(text, path.name, "member"))
    except UnicodeDecodeError as exc:
        raise InvalidInput.at(field, f"{path.name} is not UTF-8") from exc
    except ConnectorError as exc:
        raise InvalidInput.at(field, str(exc)) from exc


def calendar_name(profile: Profile) -> str | None:
    """The profile's holidays calendar as one name (FR, DE-HE), or None for weekends only."""
    spec = profile.calendar
    if spec.holidays is None:
        return None
    return spec.holidays + (f"-{spec.subdivision}" if spec.subdivision else "")


def register_profile(session: Session, member: MemberProfile, *, now: datetime) -> bool:
    """Store a member's profile (replacing its earlier one) and audit it, in `session`.

    Returns False, and records nothing, if the same text is registered already.
    """
    profile = member.profile
    row = session.get(CountryProfileRow, profile.code)
    if row is not None and row.profile_sha256 == member.sha256:
        return False
    if row is None:
        row = CountryProfileRow(
            code=profile.code,
            country=profile.country,
            profile=member.text,
            profile_sha256=member.sha256,
            registered_at=now,
        )
    else:
        row.country, row.profile = profile.country, member.text
        row.profile_sha256, row.registered_at = member.sha256, now
    session.add(row)
    record(
        session,
        ProfileRegistered(
            profile_code=profile.code,
            country=profile.country,
            profile_sha256=member.sha256,
            languages=list(profile.languages),
            timezone=profile.timezone,
            calendar=calendar_name(profile),
        ),
        at=now,
    )
    return True


def hub_profiles(session: Session) -> Profiles:
    """The shipped profiles with every registered one added (a registered one wins).

    Raises ConfigurationError if a stored profile no longer reads (a newer format, or the
    holidays package lost its calendar): the operator must see it, not a silent "unknown".
    """
    registered = []
    for row in session.exec(select(CountryProfileRow)).all():
        try:
            registered.append(_parsed(row.profile, f"registered profile {row.code}", row.code))
        except ConnectorError as exc:
            raise ConfigurationError(str(exc)) from exc
    return default_profiles().with_profiles(registered)
