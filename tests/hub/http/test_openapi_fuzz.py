"""schemathesis against the hub's own OpenAPI document, over real HTTP on loopback.

Every operation the document lists is called with requests schemathesis generates from it, valid
ones (positive) and, where the operation takes input, invalid ones (negative), each with the
credential of a party the authorisation table allows. No answer may be a server error, and every
answer must be one the document promises: its status, content type, headers and body schema. A
request the document declares invalid must be refused, and a secured operation must refuse the
same request without its credential. Every other valid request names things that exist (a
report, a dead packet, a credential, the calling source), so that the success answers are
checked too, not only the refusals. The run is bounded and derandomized: the same cases each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session, select

from hub.http import authz
from hub.http.app import create_app
from hub.http.authz import Party
from hub.http.server import serving
from hub.network.credentials import Role, issue, register_administrator
from hub.settings import Settings
from hub.store import DeliveryRow, make_engine
from tests.conftest import LiveHub, provision
from tests.factories import report_body

POSITIVE_CASES = 9  # per operation
NEGATIVE_CASES = 5  # per operation that takes input
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,
]
PARTY_ID = {
    Party.source: "portal-nl",
    Party.section: "nl-section",
    Party.police: "nl-police",
    Party.coordinator: "network-coordinator",
    Party.administrator: "fuzz-admin",
}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # routes, not operations
PAGES = "/dashboard"  # the coordinators' server-rendered pages: routes, not API operations


@dataclass
class Known:
    """Things that exist at the hub, for valid requests to name, and the tally of the run."""

    tokens: dict[Party, str]
    path_values: dict[str, list[str]]
    principals: dict[str, str] = field(
        default_factory=lambda: {"source": "portal-be", "recipient": "be-section"}
    )
    counts: dict[str, int] = field(
        default_factory=lambda: {"cases": 0, "server errors": 0, "operations": 0}
    )


@pytest.fixture
def fuzzed_hub(settings: Settings, tmp_path: Path) -> Iterator[LiveHub]:
    """The hub on loopback, without background jobs and with a rate no fuzz run reaches."""
    quiet = settings.model_copy(
        update={
            "scheduler": False,
            "intake_rate_limit": "100000/minute",
            "receipts_rate_limit": "100000/minute",
            "inbox_rate_limit": "100000/minute",
        }
    )
    with serving(create_app(quiet)) as url:
        yield LiveHub(url=url, settings=quiet, network=provision(quiet, tmp_path / "parties", url))


def _seed(hub: LiveHub) -> Known:
    """An administrator, a report, a dead delivery and a spare credential."""
    body = report_body("portal-nl")
    answer = httpx.post(f"{hub.url}/v1/reports", json=body, headers=hub.network.auth("portal-nl"))
    assert answer.status_code == 202, answer.text
    engine = make_engine(hub.settings.resolved_database_url)
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        register_administrator(session, PARTY_ID[Party.administrator], "Fuzz admin", now)
        session.commit()
        admin = issue(session, Role.administrator, PARTY_ID[Party.administrator], now).token
        spare = issue(session, Role.source, "portal-be", now).credential.credential_id
        dead = session.exec(select(DeliveryRow)).first()
        assert dead is not None
        dead.state, dead.dead_at, dead.last_error = "dead", now, "HTTP 410"
        session.add(dead)
        session.commit()
    engine.dispose()
    tokens: dict[Party, str] = {Party.administrator: admin}
    for party in (Party.source, Party.section, Party.police, Party.coordinator):
        tokens[party] = hub.network.token(PARTY_ID[party])
    return Known(
        tokens=tokens,
        path_values={
            "report_id": [body["report_id"]],
            "packet_id": [dead.packet_id],
            "credential_id": [spare],
        },
    )


def _headers(known: Known, endpoint: authz.Endpoint) -> dict[str, str]:
    if endpoint.public:
        return {}
    return {"Authorization": f"Bearer {known.tokens[next(iter(endpoint.grants))]}"}


def _takes_input(operation: Any) -> bool:
    return bool(operation.body) or any(
        len(group) for group in (operation.path_parameters, operation.query, operation.headers)
    )


def _name_what_exists(case: Case[Any], known: Known) -> None:
    """Point every other valid request at things that exist, so that success is checked too."""
    if known.counts["cases"] % 2:
        return
    for name, values in known.path_values.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = values[0]
    if isinstance(case.body, dict):
        if case.operation.path == "/v1/reports":
            case.body["source"] = PARTY_ID[Party.source]
        role = str(case.body.get("role"))
        if case.operation.path == "/v1/admin/credentials" and role in known.principals:
            case.body["principal_id"] = known.principals[role]


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    checks: list[Any],
    base_url: str,
    known: Known,
    headers: dict[str, str],
) -> None:
    """Call one operation with `examples` generated requests and validate every answer."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case[Any]) -> None:
        if mode is GenerationMode.POSITIVE:
            _name_what_exists(case, known)
        response = case.call(base_url=base_url, headers=headers)
        known.counts["cases"] += 1
        if response.status_code >= 500:
            known.counts["server errors"] += 1
        case.validate_response(response, checks=checks, headers=headers)

    run()


def test_generated_requests_get_no_server_error_and_only_documented_answers(
    fuzzed_hub: LiveHub, security_figures: dict[str, int]
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_hub.url}/openapi.json")
    known = _seed(fuzzed_hub)
    failures: list[str] = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document is invalid: {result}"
        operation = result.ok()
        known.counts["operations"] += 1
        endpoint = authz.endpoint_for(operation.method.upper(), operation.path)
        headers = _headers(known, endpoint)
        runs = [(GenerationMode.POSITIVE, POSITIVE_CASES, CHECKS)]
        if _takes_input(operation):
            checks = [*CHECKS, negative_data_rejection]
            runs.append((GenerationMode.NEGATIVE, NEGATIVE_CASES, checks))
        for mode, examples, checks in runs:
            try:
                _fuzz(operation, mode, examples, checks, fuzzed_hub.url, known, headers)
            except (Exception, BaseExceptionGroup) as exc:  # every operation is fuzzed first
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}): {exc}"
                )
    assert not failures, "\n\n".join(failures)
    assert known.counts["server errors"] == 0
    operations = [e for e in authz.TABLE if e.path not in DOCS and not e.path.startswith(PAGES)]
    assert known.counts["operations"] == len(operations)
    for name, value in known.counts.items():
        key = f"schemathesis {name}"
        security_figures[key] = security_figures.get(key, 0) + value
