"""A portal's side of intake: map its form to the common schema and submit it to the hub.

`submit_form` runs the portal's mapping (`connectors.portal.mapping`) and POSTs the report to the
hub's `POST /v1/reports` with the portal's source credential; the hub answers with its routing and a
signed acknowledgement, which is verified here when the hub's public key is given. The portal may
keep that acknowledgement (no content) and check the hub's promise of inclusion in it later:
connectors.portal.promise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from connectors.client import tls_context, transport_reason
from connectors.countries.profiles import Profiles
from connectors.errors import HubAnswerInvalid, HubRefused, HubUnreachable
from connectors.portal.mapping import map_form, mapping_for
from hub.crypto import verify_acknowledgement
from schemas.envelope import Envelope, RoutedRecipient
from schemas.report import Report

__all__ = ["Submitted", "submit_form", "submit_report"]

TIMEOUT_SECONDS = 10.0


class Submitted(BaseModel):
    """The hub's answer to a submitted report: where it goes, and the signed acknowledgement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    report_id: str
    accepted_at: AwareDatetime
    recipients: list[RoutedRecipient]
    acknowledgement: Envelope
    awaiting_key: list[str] = Field(
        default_factory=list,
        description="Routed recipients without a current key: their copy is held until a resend.",
    )


class _ProblemError(BaseModel):
    field: str = ""
    reason: str = ""


class _Problem(BaseModel):
    title: str = ""
    detail: str = ""
    errors: list[_ProblemError] = []


def submit_report(
    report: Report,
    *,
    hub_url: str,
    token: str,
    hub_keys: Mapping[str, VerifyKey] | None = None,
    ca_file: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Submitted:
    """POST one report to the hub as its source.

    With `hub_keys`, the acknowledgement must verify with one of them; with `ca_file`, the hub's
    certificate must be one its certificates vouch for. Raises HubUnreachable (saying what failed
    underneath, in one line), HubRefused (with the hub's problem detail), HubAnswerInvalid,
    ConfigInvalid for an unusable `ca_file`, or PacketInvalid for an acknowledgement that does
    not verify.
    """
    body: dict[str, Any] = report.model_dump(mode="json", exclude_none=True)
    try:
        with httpx.Client(
            base_url=hub_url,
            timeout=TIMEOUT_SECONDS,
            transport=transport,
            follow_redirects=False,
            verify=tls_context(ca_file),
        ) as client:
            response = client.post(
                "/v1/reports", json=body, headers={"Authorization": f"Bearer {token}"}
            )
    except httpx.HTTPError as exc:
        raise HubUnreachable(
            f"cannot reach the hub at {hub_url} (POST /v1/reports): {transport_reason(exc)}"
        ) from exc
    if not response.is_success:
        try:
            problem = _Problem.model_validate_json(response.content)
        except ValidationError:
            problem = _Problem()
        raise HubRefused(
            status=response.status_code,
            title=problem.title or response.reason_phrase,
            detail=problem.detail or "no problem detail in the answer",
            errors=[(e.field, e.reason) for e in problem.errors],
        )
    try:
        answer = Submitted.model_validate_json(response.content)
    except ValidationError as exc:
        raise HubAnswerInvalid("POST /v1/reports: answer is not a valid intake answer") from exc
    if hub_keys is not None:
        acknowledged = verify_acknowledgement(answer.acknowledgement, hub_keys)
        if str(acknowledged.report_id) != str(report.report_id):
            raise HubAnswerInvalid("the acknowledgement is for another report")
    return answer


def submit_form(
    form: dict[str, Any],
    *,
    portal: str,
    profiles: Profiles,
    hub_url: str,
    token: str,
    now: datetime,
    hub_keys: Mapping[str, VerifyKey] | None = None,
    ca_file: Path | None = None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[Report, Submitted]:
    """Map a portal's form with its mapping and submit the report. Raises like both steps."""
    mapping, profile = mapping_for(portal, profiles)
    report = map_form(form, mapping, now=now, timezone=profile.timezone)
    return report, submit_report(
        report,
        hub_url=hub_url,
        token=token,
        hub_keys=hub_keys,
        ca_file=ca_file,
        transport=transport,
    )
