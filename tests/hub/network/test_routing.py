"""Routing rules: who receives a report, and which rule chose each recipient."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.cli.demo import demo_parties
from hub.errors import ConfigurationError, RoutingFailed
from hub.network.routing import Member, RecipientKind, RoutingPolicy, load_policy, parse_policy
from schemas.report import Report
from tests.conftest import ROOT
from tests.factories import report_body

POLICY = load_policy(ROOT / "deploy" / "routing.toml")
# The rules alone, before each country's procedure keeps only its first receiver (issue 14).
RULES_ONLY = dataclasses.replace(POLICY, procedures={})
FIRST = {"AT": "police", "BE": "section", "DE": "police", "NL": "section"}
MEMBERS = ("AT", "BE", "DE", "NL")
DIRECTORY = [
    Member(f"{c.lower()}-{kind}", c, RecipientKind(kind))
    for c in MEMBERS
    for kind in ("section", "police")
] + [Member("network-coordinator", None, RecipientKind.coordinator)]
SOURCE_COUNTRY = {"portal-at": "AT", "portal-be": "BE", "portal-de": "DE", "portal-nl": "NL"}


def route(policy: RoutingPolicy = RULES_ONLY, **kwargs: Any) -> dict[str, list[str]]:
    report = Report.model_validate(report_body(**kwargs))
    source_country = SOURCE_COUNTRY.get(report.source)
    return {r.recipient_id: r.rules for r in policy.route(report, source_country, DIRECTORY)}


def test_suspect_nationality_reaches_that_countrys_police_and_section() -> None:
    routed = route(source="platform-int", country="TH", nationalities=("AT",))
    assert routed == {
        "at-police": ["suspect-nationality"],
        "at-section": ["suspect-nationality"],
    }


def test_suspect_residence_reaches_that_countrys_police_and_section() -> None:
    routed = route(source="platform-int", country="KH", nationalities=("FR",), residence="BE")
    assert routed == {"be-police": ["suspect-residence"], "be-section": ["suspect-residence"]}


def test_incident_in_a_member_country_reaches_its_police_and_section() -> None:
    routed = route(source="platform-int", country="DE", nationalities=(None,))
    assert routed == {"de-police": ["incident-country"], "de-section": ["incident-country"]}


def test_source_portal_section_follows_up_with_the_reporter() -> None:
    routed = route(source="portal-nl", country="TH", nationalities=("BE",))
    assert routed["nl-section"] == ["source-section"]
    assert "nl-police" not in routed


def test_two_nationalities_reach_both_countries() -> None:
    routed = route(source="platform-int", country="TH", nationalities=("DE", "NL"))
    assert set(routed) == {"de-police", "de-section", "nl-police", "nl-section"}


def test_a_recipient_chosen_by_several_rules_is_named_once_with_every_rule() -> None:
    routed = route(source="portal-de", country="DE", nationalities=("DE",), residence="DE")
    assert routed["de-section"] == [
        "suspect-nationality",
        "suspect-residence",
        "incident-country",
        "source-section",
    ]
    assert routed["de-police"] == ["suspect-nationality", "suspect-residence", "incident-country"]


def test_report_with_no_member_country_to_act_goes_to_the_coordinator() -> None:
    routed = route(source="platform-int", country="PH", nationalities=("US",))
    assert routed == {"network-coordinator": ["coordinator-fallback"]}


def test_coordinator_also_gets_a_report_only_the_source_section_follows() -> None:
    routed = route(source="portal-at", country="PH", nationalities=(None,))
    assert routed == {
        "at-section": ["source-section"],
        "network-coordinator": ["coordinator-fallback"],
    }


def test_routing_with_nobody_to_receive_fails_closed() -> None:
    body = report_body(source="platform-int", country="PH", nationalities=(None,))
    report = Report.model_validate(body)
    with pytest.raises(RoutingFailed):
        POLICY.route(report, None, [m for m in DIRECTORY if m.kind != "coordinator"])


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ('selects = "suspect_nationality"', "selects"),
        ('kinds = ["police", "section"]', "kinds"),
        (
            'unless_matched = ["suspect-nationality", "suspect-residence", "incident-country"]',
            "unknown",
        ),
    ],
)
def test_an_invalid_policy_file_is_refused_naming_the_problem(change: str, complaint: str) -> None:
    text = (ROOT / "deploy" / "routing.toml").read_text(encoding="utf-8")
    broken = {
        "selects": text.replace(change, 'selects = "suspect_shoe_size"', 1),
        "kinds": text.replace(change, 'kinds = ["priest"]', 1),
        "unknown": text.replace(change, 'unless_matched = ["no-such-rule"]', 1),
    }[complaint]
    assert broken != text
    with pytest.raises(
        ConfigurationError, match=complaint if complaint != "unknown" else "unknown"
    ):
        parse_policy(broken)


def test_a_policy_file_change_changes_routing_without_code() -> None:
    text = (ROOT / "deploy" / "routing.toml").read_text(encoding="utf-8")
    police_only = text.replace('kinds = ["police", "section"]', 'kinds = ["police"]')
    routed = route(parse_policy(police_only), source="platform-int", nationalities=("AT",))
    assert routed == {"at-police": ["suspect-nationality"]}


countries = st.sampled_from(["AT", "BE", "DE", "NL", "FR", "TH", "PH", "US", None])


@given(
    source=st.sampled_from([*SOURCE_COUNTRY, "platform-int"]),
    incident=st.sampled_from(["AT", "BE", "DE", "NL", "TH", "KH", "PH"]),
    nationalities=st.lists(countries, min_size=1, max_size=4),
    residence=countries,
)
def test_routing_is_deterministic_and_never_empty(
    source: str, incident: str, nationalities: list[str | None], residence: str | None
) -> None:
    kwargs: dict[str, Any] = {
        "source": source,
        "country": incident,
        "nationalities": tuple(nationalities),
        "residence": residence,
    }
    body = report_body(**kwargs)
    report = Report.model_validate(body)
    first = POLICY.route(report, SOURCE_COUNTRY.get(source), DIRECTORY)
    again = POLICY.route(report, SOURCE_COUNTRY.get(source), list(reversed(DIRECTORY)))
    assert first == again
    assert first
    ids = [r.recipient_id for r in first]
    assert ids == sorted(set(ids))
    members_named = {c for c in [*nationalities, residence] if c is not None and c in MEMBERS}
    for country in members_named:
        assert f"{country.lower()}-{FIRST[country]}" in ids


_EXAMPLE = re.compile(r"```routing-example\n(.*?)```", re.DOTALL)


def _demo_directory() -> tuple[list[Member], dict[str, str | None]]:
    """The demo network's recipients, and each source's registered country."""
    parties = demo_parties()
    members = [Member(p.id, p.country, p.kind) for p in parties if p.kind is not None]
    return members, {p.id: p.country for p in parties if p.kind is None}


def test_the_worked_routing_examples_of_the_protocol_route_as_written() -> None:
    examples = _EXAMPLE.findall((ROOT / "docs" / "protocol.md").read_text(encoding="utf-8"))
    assert len(examples) >= 4
    policy = load_policy(ROOT / "deploy" / "routing.toml")
    directory, countries = _demo_directory()
    for text in examples:
        example = json.loads(text)
        body = report_body(example["source"], country=example["incident_country"])
        body["suspects"] = [
            {"approximate_age": 50, **{k: v for k, v in s.items() if v is not None}}
            for s in example["suspects"]
        ]
        routed = policy.route(Report.model_validate(body), countries[example["source"]], directory)
        assert {r.recipient_id: r.rules for r in routed} == example["recipients"], text
        assert [r.recipient_id for r in routed] == sorted(example["recipients"])


@pytest.mark.parametrize(
    ("country", "first", "other"),
    [
        ("BE", "section", "police"),
        ("NL", "section", "police"),
        ("DE", "police", "section"),
        ("AT", "police", "section"),
    ],
)
def test_a_countrys_procedure_sends_the_report_to_its_first_receiver_only(
    country: str, first: str, other: str
) -> None:
    routed = route(POLICY, source="platform-int", country="TH", nationalities=(country,))
    assert routed == {f"{country.lower()}-{first}": ["suspect-nationality"]}
    assert f"{country.lower()}-{other}" not in routed


def test_a_country_that_wants_a_copy_at_once_still_gets_both() -> None:
    text = (ROOT / "deploy" / "routing.toml").read_text(encoding="utf-8")
    text = text.replace("[procedures.AT]", "[procedures.AT]\ncopy_other = true", 1)
    text = text.replace("directly\ncopy_other = false", "directly")
    policy = parse_policy(text)
    routed = route(policy, source="platform-int", country="TH", nationalities=("AT",))
    assert set(routed) == {"at-police", "at-section"}


def test_a_country_whose_first_receiver_is_not_chosen_still_reaches_the_other() -> None:
    routed = route(POLICY, source="portal-de", country="TH", nationalities=(None,))
    assert "de-section" in routed


@pytest.mark.parametrize(
    ("country", "first", "other"), [("BE", "section", "police"), ("DE", "police", "section")]
)
def test_a_country_whose_first_receiver_is_not_registered_reaches_the_other(
    country: str, first: str, other: str
) -> None:
    # Routing fails towards delivery: a procedure never leaves a country without a receiver.
    directory = [m for m in DIRECTORY if m.recipient_id != f"{country.lower()}-{first}"]
    report = Report.model_validate(
        report_body(source="platform-int", country="TH", nationalities=(country,))
    )
    routed = POLICY.route(report, None, directory)
    assert [(r.recipient_id, r.rules) for r in routed] == [
        (f"{country.lower()}-{other}", ["suspect-nationality"])
    ]
