"""Builders of valid inputs that each test then bends to its purpose."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from hub.network.routing import parse_policy


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


DEPLOYED_POLICY = Path(__file__).resolve().parent.parent / "deploy" / "routing.toml"


def copies_at_once_policy(folder: Path) -> Path:
    """deploy/routing.toml with every country's procedure sending the other a copy at once.

    The rules stay the deployed ones; only `copy_other` changes, so a test about delivery sees
    every chosen section and police receive at intake, as before procedures (issue 14). Tests of
    the procedures themselves, and the demo, use DEPLOYED_POLICY.
    """
    text = DEPLOYED_POLICY.read_text(encoding="utf-8")
    text = re.sub(r"^copy_other\s*=\s*false", "copy_other = true", text, flags=re.MULTILINE)
    policy = parse_policy(text)
    if not all(p.copy_other for p in policy.procedures.values()):
        raise AssertionError("every procedure of deploy/routing.toml must state copy_other")
    path = folder / "routing-copies-at-once.toml"
    path.write_text(text, encoding="utf-8")
    return path
