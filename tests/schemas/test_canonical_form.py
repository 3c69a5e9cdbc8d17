"""The canonical report of docs/protocol.md §3.1, reproduced from the document alone.

The rules are applied here without the hub's schema models or normalising code: the defaults
are read from the document's table, the times and numbers rewritten as its rules say, and the
result written by the `rfc8785` package. The bytes must equal those the hub sealed, opened with a
recipient's key from a packet pulled over HTTP after a real intake.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import rfc8785
from fastapi.testclient import TestClient
from nacl.public import SealedBox

from hub.crypto import verify_envelope
from schemas.envelope import PACKET_TYPE, Envelope
from tests.conftest import Network

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


@cache
def _rules() -> str:
    """Section 3.1 of docs/protocol.md, its rules and its example."""
    section = re.search(
        r"^### 3\.1 The canonical report.*?(?=^### )",
        PROTOCOL.read_text(encoding="utf-8"),
        re.DOTALL | re.MULTILINE,
    )
    assert section is not None, "docs/protocol.md has no section 3.1 on the canonical report"
    return section.group(0)


def _example(kind: str) -> str:
    found = re.search(rf"```canonical-example-{kind}\n(.*?)```", _rules(), re.DOTALL)
    assert found is not None, f"section 3.1 has no canonical-example-{kind} block"
    return found.group(1)


def _defaults() -> dict[str, Any]:
    """The table of rule 2: member path -> default, e.g. 'suspects[].name' -> None."""
    rows = re.findall(r"^\s*\| `([a-z_.\[\]]+)`[^|]*\| `([^`]+)` *\|$", _rules(), re.MULTILINE)
    assert len(rows) >= 10, "rule 2's table of defaults is missing"
    return {path: json.loads(value) for path, value in rows}


# Rule 4: the schema's RFC 3339 form, and the spellings the document accepts for compatibility.
_TIME = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<hm>\d{2}:\d{2})(?P<s>:\d{2})?(?P<frac>\.\d+)?"
    r"(?P<offset>[Zz]|[+-]\d{2}:?\d{2})$"
)


def _time(text: str) -> str:
    match = _TIME.match(text)
    assert match is not None, f"not a time the document describes: {text!r}"
    seconds = match["s"] or ":00"
    digits = (match["frac"] or ".")[1:][:6].ljust(6, "0")
    fraction = "" if digits == "000000" else f".{digits}"
    offset = match["offset"].upper().replace(":", "")
    offset = "Z" if offset in {"Z", "+0000", "-0000"} else f"{offset[:3]}:{offset[3:]}"
    return f"{match['date']}T{match['hm']}{seconds}{fraction}{offset}"


def _integer(value: Any) -> Any:
    if isinstance(value, float):
        assert value.is_integer()
        return int(value)
    return value


def canonical_by_the_document(submitted: str) -> bytes:
    """The bytes docs/protocol.md §3.1 says the hub seals for `submitted`."""
    # 1. Parse.
    report: dict[str, Any] = json.loads(submitted)
    # 2. Defaults, by the document's table.
    defaults = _defaults()
    for path, value in defaults.items():
        parts = path.split(".")
        if parts[0] == "reporter" and report["reporter"]["kind"] != "contact":
            continue
        if parts[0] == "suspects[]":
            for suspect in report.get("suspects", []):
                suspect.setdefault(parts[1], copy.deepcopy(value))
            continue
        holder = report
        for part in parts[:-1]:
            holder = holder[part]
        holder.setdefault(parts[-1], copy.deepcopy(value))
    # 3. The id stays as sent (only the schema's spelling is accepted); 4. the time.
    report["submitted_at"] = _time(report["submitted_at"])
    # 6. Numbers.
    report["schema_version"] = _integer(report["schema_version"])
    children = report["children"]
    children["count"] = _integer(children["count"])
    children["approximate_ages"] = [_integer(age) for age in children["approximate_ages"]]
    for suspect in report["suspects"]:
        suspect["approximate_age"] = _integer(suspect["approximate_age"])
    # 5. Dates and 7. strings are kept; 8. RFC 8785.
    return bytes(rfc8785.dumps(report))


def sealed_bytes(client: TestClient, network: Network, submitted: str) -> bytes:
    """Submit `submitted` as it is, pull nl-section's packet and open it with its key."""
    answer = client.post(
        "/v1/reports",
        content=submitted.encode("utf-8"),
        headers={**network.auth("portal-nl"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text
    inbox = client.get("/v1/inbox", headers=network.auth("nl-section"))
    assert inbox.status_code == 200, inbox.text
    (packet,) = inbox.json()["packets"]
    body = json.loads(
        verify_envelope(Envelope.model_validate(packet), PACKET_TYPE, network.hub_trust())
    )
    keys = network.keys("nl-section")
    assert keys.sealing is not None
    return SealedBox(keys.sealing).decrypt(base64.b64decode(body["sealed"]))


def _report(**changes: Any) -> str:
    """A submitted report as JSON text: only required members, then `changes` merged in."""
    report: dict[str, Any] = {
        "schema_version": 1,
        "report_id": str(uuid4()),
        "source": "portal-nl",
        "submitted_at": "2026-11-20T09:30:00+00:00",
        "reporter": {"kind": "anonymous"},
        "incident": {
            "country": "TH",
            "place": "Pattaya",
            "place_kind": "hotel",
            "date_from": "2026-11-14",
            "description": "An adult tourist with a child at the hotel pool.",
        },
        "children": {"count": 1},
        "category": "travel_and_tourism",
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(report.get(key), dict):
            report[key] = {**report[key], **value}
        else:
            report[key] = value
    return json.dumps(report, ensure_ascii=False, indent=1)


SUBMITTED = {
    "utc as +00:00, only the required members": _report(),
    "utc as -00:00 with a zero fraction": _report(submitted_at="2026-11-20T09:30:00.000-00:00"),
    "an offset of +01:00 with 9 fraction digits": _report(
        submitted_at="2026-11-20T10:30:00.123456789+01:00"
    ),
    "an offset of +05:45, its colon left out, no seconds": _report(
        submitted_at="2026-11-20 15:15+0545"
    ),
    "Khmer, Devanagari and Arabic text, a contact reporter with a phone": _report(
        reporter={
            "kind": "contact",
            "phone": "+855 12 345 678",
            "consent_to_contact": True,
            "preferred_language": "km",
        },
        incident={"country": "KH", "place": "ភ្នំពេញ", "place_kind": "street"},
        suspects=[{"description": 'बोला: "चलो"', "approximate_age": 4.5e1}, {"name": "علي"}],
        children={"count": 2, "approximate_ages": [9, 11.0], "gender": "mixed"},
        text_language="km",
        free_text="Décomposé (NFD): de\u0301tail, control: \u0007 tab:\t",
    ),
}


def test_the_documented_example_follows_the_documented_rules() -> None:
    assert canonical_by_the_document(_example("submitted")) == _example("sealed").rstrip(
        "\n"
    ).encode("utf-8")


def test_the_hub_seals_the_documented_example_exactly(client: TestClient, network: Network) -> None:
    sealed = sealed_bytes(client, network, _example("submitted"))
    assert sealed == _example("sealed").rstrip("\n").encode("utf-8")


@pytest.mark.parametrize("case", list(SUBMITTED))
def test_a_third_party_reproduces_the_sealed_bytes_from_what_was_submitted(
    client: TestClient, network: Network, case: str
) -> None:
    submitted = SUBMITTED[case]
    assert sealed_bytes(client, network, submitted) == canonical_by_the_document(submitted)


def test_every_default_the_hub_fills_in_is_in_the_documents_table() -> None:
    # The members the table names are exactly the optional members of the published schema.
    schema = json.loads((PROTOCOL.parents[1] / "schemas" / "report.v1.schema.json").read_text())
    optional: set[str] = set()

    def walk(node: dict[str, Any], prefix: str) -> None:
        for name, member in node.get("properties", {}).items():
            if name not in node.get("required", []) and name != "kind":
                optional.add(prefix + name)
            target = member
            if "$ref" in member:
                target = schema["$defs"][member["$ref"].rsplit("/", 1)[1]]
            if target.get("type") == "array" and "$ref" in target.get("items", {}):
                walk(
                    schema["$defs"][target["items"]["$ref"].rsplit("/", 1)[1]], f"{prefix}{name}[]."
                )
            elif "properties" in target:
                walk(target, f"{prefix}{name}.")
            for choice in target.get("oneOf", []) + target.get("anyOf", []):
                if "$ref" in choice:
                    walk(schema["$defs"][choice["$ref"].rsplit("/", 1)[1]], f"{prefix}{name}.")

    walk(schema, "")
    assert set(_defaults()) == optional


@pytest.mark.parametrize(
    "submitted",
    [
        _report(incident={"place": "\ud800"}).replace("\ud800", "\\ud800"),
        _report(children={"count": 1.5}),
    ],
    ids=["a lone surrogate", "a fraction in an integer"],
)
def test_what_has_no_canonical_form_is_refused(
    client: TestClient, network: Network, submitted: str
) -> None:
    answer = client.post(
        "/v1/reports",
        content=submitted.encode("utf-8"),
        headers={**network.auth("portal-nl"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
