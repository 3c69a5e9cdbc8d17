"""Country profiles: a member's languages, recipients, portals, time zone and working-day calendar.

A profile is a data file, `<folder>/<code>/profile.toml`. The network's are shipped in this package
(`connectors/countries/at/`, `be/`, `de/`, `nl/` and `int/` for the international platform); a new
member adds its own folder and passes it with `--profiles DIR` (or the CONNECTOR_PROFILES variable,
folders separated by the OS path separator), with no change to code. Every file a profile names
(portal mappings, sample forms) is relative to the profile's own folder.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connectors.errors import ConnectorError
from schemas.report import CountryCode, LanguageCode, SourceId

__all__ = [
    "PROFILES_ENV",
    "PROFILE_FILE",
    "SHIPPED_DIR",
    "CalendarSpec",
    "PortalSpec",
    "ProcedureSpec",
    "Profile",
    "ProfileInvalid",
    "ProfileNotFound",
    "Profiles",
    "RecipientSpec",
    "default_profiles",
    "load_profile",
    "load_profiles",
    "parse_profile",
    "profile_dirs_from_env",
]

SHIPPED_DIR = Path(__file__).parent
PROFILES_ENV = "CONNECTOR_PROFILES"
PROFILE_FILE = "profile.toml"  # in its folder, and in a member's registration folder

RecipientIdText = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]


class ProfileInvalid(ConnectorError):
    """A profile file is missing, unreadable or inconsistent."""


class ProfileNotFound(ConnectorError):
    """No profile has the code, recipient or portal asked for."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarSpec(_Strict):
    """Which public holidays are days off, on top of Saturdays and Sundays."""

    holidays: CountryCode | None = Field(
        default=None, description="Country of the `holidays` calendar; none: weekends only."
    )
    subdivision: str | None = Field(
        default=None, description="The `holidays` subdivision (a state, a province), if any."
    )
    why: str = Field(default="", description="Why this calendar: who counts working days by it.")

    @model_validator(mode="after")
    def _known_to_holidays(self) -> CalendarSpec:
        if self.holidays is None:
            if self.subdivision is not None:
                raise ValueError("a subdivision needs a holidays country")
            return self
        if not _calendar_exists(self.holidays, self.subdivision):
            raise ValueError(
                f"the holidays package has no calendar {self.holidays}"
                + (f" subdivision {self.subdivision}" if self.subdivision else "")
            )
        return self


@functools.cache
def _calendar_exists(country: str, subdivision: str | None) -> bool:
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        return False
    return True


class RecipientSpec(_Strict):
    """A section, police liaison or coordinator of this profile, as registered at the hub."""

    id: RecipientIdText
    kind: Literal["section", "police", "coordinator"]
    name: str = Field(min_length=1, max_length=200)
    delivery_mode: Literal["pull", "push"] = "pull"
    languages: list[LanguageCode] = Field(
        min_length=1, description="The languages its renderings are made in, first is primary."
    )


class ProcedureSpec(_Strict):
    """Who receives a report first and triages it; the other gets what the first forwards."""

    first: Literal["section", "police"]
    copy_other: bool = Field(
        default=False, description="Whether the other also receives a copy at once, as before."
    )
    why: str = Field(default="", description="The line's published procedure, in a sentence.")


class PortalSpec(_Strict):
    """A portal that submits reports: its mapping file and a sample form per language."""

    id: SourceId
    name: str = Field(min_length=1, max_length=200)
    mapping: str = Field(description="The portal's mapping file, relative to the profile.")
    forms: dict[LanguageCode, str] = Field(
        default_factory=dict, description="Sample form per language, relative to the profile."
    )


class Profile(_Strict):
    """One member country (or the international platform) as data."""

    code: str = Field(pattern=r"^[A-Z]{2,3}$", description="'AT', or 'INT' for the platform.")
    name: str = Field(min_length=1, max_length=200)
    country: CountryCode | None = Field(
        default=None, description="The member's country; none for the international platform."
    )
    languages: list[LanguageCode] = Field(
        min_length=1, description="National languages first, then English."
    )
    timezone: str = Field(description="IANA time zone of the member's working days.")
    calendar: CalendarSpec = CalendarSpec()
    readable_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="How long a readable report file (write_readable_reports) is kept.",
    )
    procedure: ProcedureSpec | None = Field(
        default=None, description="Who triages first; none: section and police at once."
    )
    recipients: list[RecipientSpec] = Field(default_factory=list)
    portals: list[PortalSpec] = Field(default_factory=list)
    folder: Path = Field(description="Where the profile file is; set when it is loaded.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("not an IANA time zone") from exc
        return value

    @model_validator(mode="after")
    def _english_everywhere(self) -> Profile:
        if "en" not in self.languages:
            raise ValueError("languages must include en: every form is offered in English")
        return self

    def portal(self, portal_id: str) -> PortalSpec:
        """The portal with this id. Raises ProfileNotFound."""
        for portal in self.portals:
            if portal.id == portal_id:
                return portal
        raise ProfileNotFound(f"profile {self.code} has no portal {portal_id}")

    def path(self, relative: str) -> Path:
        """A file the profile names, resolved against its folder."""
        return self.folder / relative


def load_profile(path: Path) -> Profile:
    """Read one profile file. Raises ProfileInvalid naming the file and the fields at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileInvalid(f"{path}: cannot read profile ({exc})") from exc
    return parse_profile(text, folder=path.resolve().parent, where=str(path))


def parse_profile(text: str, *, folder: Path, where: str) -> Profile:
    """A profile from the text of a profile file, its files relative to `folder`.

    `where` names the text in errors (a path, or "the registration's profile.toml").
    Raises ProfileInvalid naming the fields at fault.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileInvalid(f"{where}: cannot read profile ({exc})") from exc
    data.pop("folder", None)
    try:
        return Profile.model_validate({**data, "folder": folder})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ProfileInvalid(f"{where}: invalid profile ({problems})") from exc


@dataclass(frozen=True)
class Profiles:
    """Every loaded profile by code, with look-ups by recipient and by portal."""

    by_code: Mapping[str, Profile]

    def get(self, code: str) -> Profile:
        """The profile with this code ('AT', 'int', ...). Raises ProfileNotFound."""
        found = self.by_code.get(code.upper())
        if found is None:
            raise ProfileNotFound(
                f"no profile {code.upper()} (known: {', '.join(sorted(self.by_code))})"
            )
        return found

    def recipient(self, recipient_id: str) -> tuple[Profile, RecipientSpec] | None:
        """The profile and entry of a recipient, or None if no profile lists it."""
        for profile in self.by_code.values():
            for recipient in profile.recipients:
                if recipient.id == recipient_id:
                    return profile, recipient
        return None

    def with_profiles(self, others: Iterable[Profile]) -> Profiles:
        """These profiles with `others` added, each replacing one of the same code."""
        return Profiles(by_code={**self.by_code, **{p.code: p for p in others}})

    def portal(self, portal_id: str) -> tuple[Profile, PortalSpec]:
        """The profile and entry of a portal. Raises ProfileNotFound."""
        for profile in self.by_code.values():
            for portal in profile.portals:
                if portal.id == portal_id:
                    return profile, portal
        known = sorted(p.id for profile in self.by_code.values() for p in profile.portals)
        raise ProfileNotFound(f"no profile has portal {portal_id} (known: {', '.join(known)})")


def _profile_files(folders: Iterable[Path]) -> list[Path]:
    return [file for folder in folders for file in sorted(folder.glob(f"*/{PROFILE_FILE}"))]


def load_profiles(extra: Sequence[Path] = (), *, shipped: bool = True) -> Profiles:
    """The shipped profiles and those under each folder in `extra` (`<folder>/<code>/profile.toml`).

    Raises ProfileInvalid for an unreadable profile, or a code, recipient or portal twice.
    """
    folders = ([SHIPPED_DIR] if shipped else []) + [Path(folder) for folder in extra]
    by_code: dict[str, Profile] = {}
    seen: dict[str, str] = {}
    for file in _profile_files(folders):
        profile = load_profile(file)
        if profile.code in by_code:
            raise ProfileInvalid(f"{file}: profile {profile.code} is defined twice")
        for entry in [r.id for r in profile.recipients] + [p.id for p in profile.portals]:
            if entry in seen:
                raise ProfileInvalid(f"{file}: {entry} is also in profile {seen[entry]}")
            seen[entry] = profile.code
        by_code[profile.code] = profile
    return Profiles(by_code=by_code)


def profile_dirs_from_env() -> list[Path]:
    """The extra profile folders named by CONNECTOR_PROFILES, if it is set."""
    value = os.environ.get(PROFILES_ENV, "")
    return [Path(part) for part in value.split(os.pathsep) if part]


@functools.cache
def _cached(extra: tuple[Path, ...]) -> Profiles:
    return load_profiles(extra)


def default_profiles() -> Profiles:
    """The shipped profiles plus CONNECTOR_PROFILES folders, read once per set of folders."""
    return _cached(tuple(profile_dirs_from_env()))
