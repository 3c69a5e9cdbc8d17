"""The common report schema, version 1, that every source sends to the hub."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import pycountry
from pydantic import (
    UUID4,
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

# A version 4 UUID in its canonical (RFC 9562) form: the version nibble 4, the variant 8 to b.
# Lowercase only, as RFC 9562 writes UUIDs and the hub answers them: an id in another spelling
# (uppercase, braces, no hyphens) is refused rather than rewritten, so the id a source sent is
# the id it gets back, byte for byte.
_UUID4_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"

SCHEMA_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name(f"report.v{SCHEMA_VERSION}.schema.json")

# Incident dates may be one day ahead of UTC: the reporter's calendar day can be ahead.
INCIDENT_DATE_SLACK = timedelta(days=1)
# submitted_at may be slightly ahead of the hub's clock: the source's clock can drift.
SUBMITTED_AT_SLACK = timedelta(minutes=5)


def _check_country(value: str) -> str:
    if pycountry.countries.get(alpha_2=value) is None:
        raise PydanticCustomError("country_code", "not an ISO 3166-1 alpha-2 country code")
    return value


def _check_language(value: str) -> str:
    if pycountry.languages.get(alpha_2=value) is None:
        raise PydanticCustomError("language_code", "not an ISO 639-1 language code")
    return value


def _check_not_future_date(value: date) -> date:
    if value > datetime.now(UTC).date() + INCIDENT_DATE_SLACK:
        raise PydanticCustomError("future_date", "date is in the future")
    return value


CountryCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$"),
    AfterValidator(_check_country),
    Field(description="ISO 3166-1 alpha-2 country code, uppercase, e.g. 'AT'."),
]
LanguageCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[a-z]{2}$"),
    AfterValidator(_check_language),
    Field(description="ISO 639-1 language code, lowercase, e.g. 'de'."),
]
SourceId = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{1,62}$"),
    Field(description="Identifier of the sending source, e.g. 'portal-at'."),
]
PastDate = Annotated[date, AfterValidator(_check_not_future_date)]


class PlaceKind(StrEnum):
    """Kind of place where the incident happened."""

    hotel = "hotel"
    bar = "bar"
    beach = "beach"
    orphanage = "orphanage"
    street = "street"
    private_home = "private_home"
    school = "school"
    vehicle = "vehicle"
    online = "online"
    other = "other"


class Category(StrEnum):
    """Category of the report."""

    travel_and_tourism = "travel_and_tourism"
    online = "online"
    trafficking = "trafficking"
    other = "other"


class Gender(StrEnum):
    """Gender of the children concerned."""

    female = "female"
    male = "male"
    mixed = "mixed"
    unknown = "unknown"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnonymousReporter(_Strict):
    """A reporter who left no contact details."""

    kind: Literal["anonymous"] = Field(description="Discriminator: an anonymous reporter.")


class ContactReporter(_Strict):
    """A reporter who consented to be contacted and gave an email address or phone number."""

    # The rule the email validator enforces, written into the JSON Schema for other clients.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["email"], "properties": {"email": {"type": "string"}}},
                {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
            ]
        },
    )

    kind: Literal["contact"] = Field(description="Discriminator: a reporter who may be contacted.")
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Name the reporter gave."
    )
    phone: str | None = Field(
        default=None,
        min_length=3,
        max_length=40,
        pattern=r"^[0-9 +()-]*[0-9][0-9 +()-]*$",
        description="Phone number: digits, spaces, '+', '-' and parentheses.",
    )
    email: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        validate_default=True,
        description="Email address. Email or phone is required.",
    )
    consent_to_contact: Literal[True] = Field(
        description="The reporter consented to be contacted; without consent, report anonymously."
    )
    preferred_language: LanguageCode = Field(description="Language in which to contact them.")

    @field_validator("email")
    @classmethod
    def _email_or_phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        # A phone that failed its own validation is absent from info.data: no second error.
        if value is None and "phone" in info.data and info.data["phone"] is None:
            raise PydanticCustomError("contact_missing", "email or phone is required")
        return value


Reporter = Annotated[AnonymousReporter | ContactReporter, Field(discriminator="kind")]
REPORTER_KINDS = frozenset({"anonymous", "contact"})  # pydantic puts the tag in an error's path


class Incident(_Strict):
    """Where, when and what happened."""

    country: CountryCode = Field(description="Country where the incident happened.")
    place: str = Field(
        min_length=1, max_length=200, description="Town or place name where it happened."
    )
    place_kind: PlaceKind = Field(description="Kind of place where it happened.")
    date_from: PastDate = Field(description="Date of the incident, or the first day of it.")
    date_to: PastDate | None = Field(
        default=None, description="Last day of the incident, if it lasted more than one day."
    )
    description: str = Field(
        min_length=1, max_length=10_000, description="What happened, in the reporter's words."
    )

    @field_validator("date_to")
    @classmethod
    def _not_before_date_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        date_from = info.data.get("date_from")
        if value is not None and date_from is not None and value < date_from:
            raise PydanticCustomError("date_order", "date_to is before date_from")
        return value


class Suspect(_Strict):
    """What the reporter knows about one suspect; every field is optional."""

    nationality: CountryCode | None = Field(default=None, description="Suspect's nationality.")
    residence_country: CountryCode | None = Field(
        default=None, description="Country where the suspect lives."
    )
    description: str | None = Field(
        default=None, min_length=1, max_length=2000, description="Appearance and behaviour."
    )
    approximate_age: int | None = Field(
        default=None, ge=10, le=110, description="Approximate age in years."
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Name or alias."
    )
    vehicle_or_travel: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="Vehicle, travel route, tour operator or similar details.",
    )


class Children(_Strict):
    """The children concerned."""

    count: int = Field(ge=1, le=100, description="Number of children concerned.")
    approximate_ages: list[Annotated[int, Field(ge=0, le=17)]] = Field(
        default_factory=list,
        max_length=100,
        description="Approximate age in years of each child whose age is known.",
    )
    gender: Gender = Field(default=Gender.unknown, description="Gender of the children.")

    @field_validator("approximate_ages")
    @classmethod
    def _not_more_ages_than_children(cls, value: list[int], info: ValidationInfo) -> list[int]:
        count = info.data.get("count")
        if count is not None and len(value) > count:
            raise PydanticCustomError("too_many_ages", "more ages than children")
        return value


class Report(_Strict):
    """A report of child sexual exploitation, as exchanged between sources and the hub."""

    schema_version: Literal[1] = Field(description="Version of this schema.")
    report_id: UUID4 = Field(
        description="Identifier chosen by the source, a random (version 4) UUID in lowercase: "
        "the idempotency key of the report among the source's own. The nil UUID, other versions "
        "and other spellings (uppercase, braces, no hyphens) are refused. Ids are per source: "
        "another source's report with the same id is another report.",
        json_schema_extra={"pattern": _UUID4_PATTERN},
    )
    source: SourceId = Field(description="Source that sent the report.")
    submitted_at: AwareDatetime = Field(
        description="When the reporter submitted the report, with a UTC offset."
    )
    reporter: Reporter = Field(description="Who reported, and whether they may be contacted.")
    incident: Incident = Field(description="What happened.")
    suspects: list[Suspect] = Field(
        default_factory=list, max_length=20, description="Suspects, if any are known."
    )
    children: Children = Field(description="The children concerned.")
    category: Category = Field(description="Category of the report.")
    text_language: LanguageCode | None = Field(
        default=None, description="Language the reporter wrote in."
    )
    free_text: str | None = Field(
        default=None, max_length=20_000, description="Anything else the reporter wrote."
    )

    @field_validator("report_id", mode="before")
    @classmethod
    def _random_uuid_in_lowercase(cls, value: object) -> object:
        # The value is never quoted back: the reason says what is expected, not what came.
        if isinstance(value, str) and not re.fullmatch(_UUID4_PATTERN, value):
            raise PydanticCustomError(
                "report_id_form",
                "must be a random (version 4) UUID, lowercase, as 8-4-4-4-12 hex digits",
            )
        return value

    @field_validator("submitted_at")
    @classmethod
    def _not_future(cls, value: datetime) -> datetime:
        if value > datetime.now(UTC) + SUBMITTED_AT_SLACK:
            raise PydanticCustomError("future_datetime", "submitted_at is in the future")
        return value


def report_json_schema() -> str:
    """Return the JSON Schema of `Report` as stable, committed text."""
    return json.dumps(Report.model_json_schema(), indent=2, sort_keys=True) + "\n"
