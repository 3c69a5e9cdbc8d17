"""The hub's recipient API as seen from a connector: pull the inbox, send receipts, forward.

Every httpx error is translated here, once, into HubUnreachable (saying in one line what failed
underneath, such as "certificate verify failed: self-signed certificate"); every non-2xx answer
into HubRefused with the hub's problem detail. Redirects are not followed, so the bearer token is
only ever sent to the configured hub. A hub with a private or self-signed certificate is trusted
through `ca_file`: the certificates in that file, and only those (`tls_context`).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.errors import ConfigInvalid, HubAnswerInvalid, HubRefused, HubUnreachable
from schemas.commitment import (
    CopyDeletion,
    CopyDeletionAnswer,
    ForwardAnswer,
    ForwardRequest,
    ForwardTargets,
)
from schemas.envelope import Envelope, PublishedHubKeys
from schemas.triage import TriageAnswer, TriageRequest

__all__ = ["HubClient", "ReceiptOutcome", "tls_context", "transport_reason"]

_M = TypeVar("_M", bound=BaseModel)

TIMEOUT_SECONDS = 10.0
# The hub takes at most 1000 receipts per POST and, by default, 256 KiB of body; a receipt
# envelope is about 0.5 KB, so 200 keeps one request well inside both. A default inbox (100
# packets) is receipted in a single request.
MAX_RECEIPTS_PER_BATCH = 200


class ReceiptOutcome(BaseModel):
    """The hub's answer to a receipt batch: which receipts were new, which it already held."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recorded: list[str]
    already_recorded: list[str]


class _Inbox(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_until: AwareDatetime
    packets: list[Envelope]


class _ProblemError(BaseModel):
    field: str = ""
    reason: str = ""


class _Problem(BaseModel):
    # Lenient on purpose: a proxy in front of the hub may answer with less than RFC 9457.
    title: str = ""
    detail: str = ""
    errors: list[_ProblemError] = []


@functools.cache
def _context(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        return httpx.create_ssl_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigInvalid(f"{ca_file}: not a readable file of PEM certificates") from exc


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """How the hub's certificate is checked: against the system's trust store, or against the
    certificates in `ca_file` only (a private CA, or the hub's self-signed certificate). One
    context per file and process: building one reads the whole bundle again.

    Raises ConfigInvalid if `ca_file` cannot be read as PEM certificates.
    """
    return _context(None if ca_file is None else ca_file.resolve())


def transport_reason(exc: httpx.HTTPError) -> str:
    """Why no answer came, in one line: the TLS error underneath httpx's, else httpx's own."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class HubClient:
    """A recipient's session with the hub, authenticated by its bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        ca_file: Path | None = None,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Raises ConfigInvalid if `ca_file` is given and unusable."""
        self._http = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=tls_context(ca_file),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def pull(self, limit: int | None = None) -> list[Envelope]:
        """Lease and return up to `limit` packets.

        Raises HubUnreachable, HubRefused, or HubAnswerInvalid for a malformed answer.
        """
        params = {"limit": str(limit)} if limit is not None else None
        answer = self._request("GET", "/v1/inbox", params=params)
        return _parse(_Inbox, answer).packets

    def send_receipts(self, receipts: list[Envelope]) -> ReceiptOutcome:
        """Send signed receipts, in requests the hub accepts. Raises like `pull`."""
        outcome = ReceiptOutcome(recorded=[], already_recorded=[])
        for start in range(0, len(receipts), MAX_RECEIPTS_PER_BATCH):
            batch = receipts[start : start + MAX_RECEIPTS_PER_BATCH]
            body = {"receipts": [r.model_dump(mode="json", by_alias=True) for r in batch]}
            part = _parse(ReceiptOutcome, self._request("POST", "/v1/receipts", json=body))
            outcome = ReceiptOutcome(
                recorded=[*outcome.recorded, *part.recorded],
                already_recorded=[*outcome.already_recorded, *part.already_recorded],
            )
        return outcome

    def forward_targets(self) -> ForwardTargets:
        """The sections and police desks a report can be forwarded to. Raises like `pull`."""
        return _parse(ForwardTargets, self._request("GET", "/v1/forward-targets"))

    def send_forward(self, request: ForwardRequest) -> ForwardAnswer:
        """Send a signed, sealed forward. Raises like `pull`."""
        body = request.model_dump(mode="json", by_alias=True)
        return _parse(ForwardAnswer, self._request("POST", "/v1/forwards", json=body))

    def record_deletion(self, report_id: str, deletion: CopyDeletion) -> CopyDeletionAnswer:
        """Tell the hub this recipient deleted its copy of a report. Raises like `pull`."""
        answer = self._request(
            "POST", f"/v1/reports/{report_id}/deletion", json=deletion.model_dump(mode="json")
        )
        return _parse(CopyDeletionAnswer, answer)

    def record_triage(self, report_id: str, request: TriageRequest) -> TriageAnswer:
        """Record this recipient's triage decision on a report. Raises like `pull`."""
        answer = self._request(
            "POST", f"/v1/reports/{report_id}/triage", json=request.model_dump(mode="json")
        )
        return _parse(TriageAnswer, answer)

    def published_hub_keys(self) -> PublishedHubKeys:
        """The hub's published signing keys (unverified: see connectors.recipient.trust).

        Raises like pull."""
        return _parse(PublishedHubKeys, self._request("GET", "/.well-known/ctt-hub-keys.json"))

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubUnreachable(
                f"cannot reach the hub at {self._http.base_url} ({method} {path}): "
                f"{transport_reason(exc)}"
            ) from exc
        if not response.is_success:
            raise _refused(response)
        return response


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise HubAnswerInvalid(
            f"{response.request.method} {response.request.url.path}: "
            f"answer is not a valid {model.__name__.lstrip('_')}"
        ) from exc


def _refused(response: httpx.Response) -> HubRefused:
    try:
        problem = _Problem.model_validate_json(response.content)
    except ValidationError:
        problem = _Problem()
    return HubRefused(
        status=response.status_code,
        title=problem.title or response.reason_phrase,
        detail=problem.detail or "no problem detail in the answer",
        errors=[(e.field, e.reason) for e in problem.errors],
    )
