"""The common report schema exchanged between sources and the hub."""

from schemas.report import (
    SCHEMA_FILE,
    SCHEMA_VERSION,
    AnonymousReporter,
    Category,
    Children,
    ContactReporter,
    CountryCode,
    Gender,
    Incident,
    LanguageCode,
    PlaceKind,
    Report,
    Reporter,
    SourceId,
    Suspect,
    report_json_schema,
)

__all__ = [
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "AnonymousReporter",
    "Category",
    "Children",
    "ContactReporter",
    "CountryCode",
    "Gender",
    "Incident",
    "LanguageCode",
    "PlaceKind",
    "Report",
    "Reporter",
    "SourceId",
    "Suspect",
    "report_json_schema",
]
