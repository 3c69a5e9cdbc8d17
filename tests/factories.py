"""Builders of valid inputs that each test then bends to its purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4


def report_body(
    source: str = "portal-nl",
    *,
    country: str = "TH",
    nationalities: tuple[str | None, ...] = ("NL",),
    residence: str | None = None,
    free_text: str | None = None,
) -> dict[str, Any]:
    """A valid report as JSON, from `source`, with one suspect per nationality given."""
    today = datetime.now(UTC).date()
    body: dict[str, Any] = {
        "schema_version": 1,
        "report_id": str(uuid4()),
        "source": source,
        "submitted_at": datetime.now(UTC).isoformat(),
        "reporter": {"kind": "anonymous"},
        "incident": {
            "country": country,
            "place": "Pattaya",
            "place_kind": "hotel",
            "date_from": (today - timedelta(days=3)).isoformat(),
            "description": "An adult tourist with a child at the hotel pool.",
        },
        "suspects": [_suspect(n, residence) for n in nationalities],
        "children": {"count": 1, "approximate_ages": [12], "gender": "female"},
        "category": "travel_and_tourism",
    }
    if free_text is not None:
        body["free_text"] = free_text
        body["text_language"] = "en"
    return body


def _suspect(nationality: str | None, residence: str | None) -> dict[str, Any]:
    suspect: dict[str, Any] = {"approximate_age": 50}
    if nationality is not None:
        suspect["nationality"] = nationality
    if residence is not None:
        suspect["residence_country"] = residence
    return suspect
