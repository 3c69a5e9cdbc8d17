"""A portal's side of the hub's promise of inclusion: keep the acknowledgement, check it later.

`connector submit --keep-ack FOLDER` writes the signed acknowledgement of each accepted report to
`FOLDER/<report_id>.ack.json` (the hub's signed envelope only: ids, routing, hashes and times, no
report content). `connector verify-promise FILE` (and `hub audit verify-promise FILE`, for
coordinators and auditors) reads it back, asks the hub for the signed tree head covering the
promised entry (`GET /v1/reports/{report_id}/inclusion`) and checks the promise with
hub/audit/promise.py. Exit codes: docs/audit.md, "Verifying a promise of inclusion".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from uuid import UUID

import httpx
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.client import tls_context, transport_reason
from connectors.errors import ConfigInvalid, HubAnswerInvalid, HubRefused, HubUnreachable
from hub.audit.promise import PromisedInclusion, PromiseVerdict, promised, verify_promise
from schemas.envelope import Envelope, PublishedHubKeys

__all__ = [
    "CANNOT_CHECK",
    "EXIT_CODES",
    "check_promise",
    "fetch_hub_keys",
    "fetch_inclusion",
    "keep_acknowledgement",
    "read_acknowledgement",
    "verdict_line",
]

TIMEOUT_SECONDS = 10.0
# What `verify-promise` exits with, for each state of the promise; 2 is "could not check" (a
# usage error, an acknowledgement or tree head that does not verify, an unreachable hub).
EXIT_CODES = {"kept": 0, "broken": 1, "pending": 3}
CANNOT_CHECK = 2


class _WithAcknowledgement(BaseModel):
    """A whole intake answer, as `POST /v1/reports` sent it: only its acknowledgement is read."""

    model_config = ConfigDict(extra="ignore")

    acknowledgement: Envelope


def keep_acknowledgement(folder: Path, report_id: str, acknowledgement: Envelope) -> Path:
    """Write the signed acknowledgement to `folder/<report_id>.ack.json` and return the path.

    Raises ConfigInvalid if the folder cannot be written.
    """
    path = folder / f"{UUID(report_id)}.ack.json"  # a UUID: never a path of its own
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(acknowledgement.model_dump_json(indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigInvalid(f"cannot keep the acknowledgement in {folder}: {exc}") from exc
    return path


def read_acknowledgement(path: Path) -> Envelope:
    """An acknowledgement kept by `keep_acknowledgement`, or a whole intake answer holding one.

    Raises ConfigInvalid if the file is neither.
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return Envelope.model_validate_json(text)
    except ValidationError:
        pass
    try:
        return _WithAcknowledgement.model_validate_json(text).acknowledgement
    except ValidationError as exc:
        raise ConfigInvalid(f"{path}: not an acknowledgement nor an intake answer") from exc


def _client(hub_url: str, token: str | None, ca_file: Path | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=hub_url,
        headers=headers,
        timeout=TIMEOUT_SECONDS,
        follow_redirects=False,
        verify=tls_context(ca_file),
    )


def _get(hub_url: str, token: str | None, path: str, ca_file: Path | None) -> httpx.Response:
    try:
        with _client(hub_url, token, ca_file) as client:
            return client.get(path)
    except httpx.HTTPError as exc:
        raise HubUnreachable(
            f"cannot reach the hub at {hub_url} (GET {path}): {transport_reason(exc)}"
        ) from exc


def _refused(response: httpx.Response) -> HubRefused:
    try:
        detail = str(response.json().get("detail") or response.reason_phrase)
    except (ValueError, AttributeError):
        detail = response.reason_phrase
    return HubRefused(status=response.status_code, title=response.reason_phrase, detail=detail)


def fetch_hub_keys(hub_url: str, *, ca_file: Path | None = None) -> PublishedHubKeys:
    """The hub's published keys (`GET /v1/hub/keys`). Raises HubUnreachable, HubRefused or
    HubAnswerInvalid."""
    response = _get(hub_url, None, "/v1/hub/keys", ca_file)
    if not response.is_success:
        raise _refused(response)
    try:
        return PublishedHubKeys.model_validate_json(response.content)
    except ValidationError as exc:
        raise HubAnswerInvalid("GET /v1/hub/keys: not the hub's published keys") from exc


def fetch_inclusion(
    hub_url: str, *, token: str, report_id: str, ca_file: Path | None = None
) -> PromisedInclusion | None:
    """The hub's signed tree head covering the report's promised entry, with its audit path;
    None while the hub answers 404 (no head covers it yet, or the hub does not show it).

    Raises HubUnreachable, HubRefused for any other refusal, HubAnswerInvalid.
    """
    path = f"/v1/reports/{report_id}/inclusion"
    response = _get(hub_url, token, path, ca_file)
    if response.status_code == 404:
        return None
    if not response.is_success:
        raise _refused(response)
    try:
        return PromisedInclusion.model_validate_json(response.content)
    except ValidationError as exc:
        raise HubAnswerInvalid(f"GET {path}: not the documented inclusion answer") from exc


def check_promise(
    acknowledgement: Envelope,
    *,
    hub_url: str,
    token: str,
    trusted: Mapping[str, VerifyKey],
    now: datetime,
    ca_file: Path | None = None,
) -> PromiseVerdict:
    """Ask the hub for the inclusion of the acknowledged report's entry and check the promise.

    Raises like hub.audit.promise.verify_promise (PacketInvalid first, before asking the hub
    anything, for an acknowledgement no trusted key signed) and `fetch_inclusion`.
    """
    body = promised(acknowledgement, trusted)
    inclusion = fetch_inclusion(
        hub_url, token=token, report_id=str(body.report_id), ca_file=ca_file
    )
    return verify_promise(acknowledgement, trusted, inclusion, now=now)


def verdict_line(verdict: PromiseVerdict) -> str:
    """The one line `verify-promise` prints: the promise's state, then why."""
    return f"promise {verdict.state.value}: {verdict.reason}"
