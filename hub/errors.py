"""The hub's errors. Domain code raises these; `hub.http.problems` alone makes them HTTP answers.

HubError
├── InvalidInput            a request is malformed: names the field and the reason
│   └── PayloadTooLarge     the body is over the configured limit
├── NotAuthenticated        no credential, or one the hub does not know or has revoked
├── Forbidden               a known caller asks for what its role may not do
├── RateLimited             a source sent more requests than its rate allows
├── NotFound                no such thing, or not the caller's to see
│   └── NotYetCovered       an entry no signed tree head covers yet: ask again later
├── Conflict                a report id reused for different content
├── PacketInvalid           a packet, receipt or acknowledgement fails verification
│   ├── BodyInvalid         its signature verifies, but its body does not match its schema
│   └── ReceiptRejected     a receipt that verifies but does not match its delivery
├── RoutingFailed           no recipient could be found for a report (fail closed)
├── ConfigurationError      settings, policy or keys are unusable
└── ProofInvalid            a Merkle proof or signed tree head of the audit log fails to verify
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One reason a request was refused, located at a dotted field path."""

    field: str
    reason: str


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class InvalidInput(HubError):
    """The request is malformed; `errors` says where and why."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, field: str, reason: str) -> InvalidInput:
        return cls([FieldError(field, reason)])


class PayloadTooLarge(InvalidInput):
    """The request body is larger than the hub accepts."""

    def __init__(self, limit: int) -> None:
        super().__init__([FieldError("body", f"larger than {limit} bytes")])
        self.limit = limit


class NotAuthenticated(HubError):
    """The caller presented no credential, or one that is unknown or revoked."""


class Forbidden(HubError):
    """The caller's role may not do this."""


class RateLimited(HubError):
    """The caller sent more requests than its rate allows; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests: try again in {retry_after} s")
        self.retry_after = retry_after


class NotFound(HubError):
    """No such resource visible to the caller."""


class NotYetCovered(NotFound):
    """A promised audit entry no signed tree head covers yet; `retry_after` is in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Conflict(HubError):
    """The request contradicts stored data, such as a report id reused for other content."""


class PacketInvalid(HubError):
    """A signed object failed verification.

    Deliberately says nothing about which part failed (encoding, key, signature, decryption).
    """

    def __init__(self, message: str = "signed object failed verification") -> None:
        super().__init__(message)


class BodyInvalid(PacketInvalid):
    """A signed object whose signature verifies but whose body does not match its schema.

    The signer made the body, so naming its faults (`errors`, in fixed wordings that never
    quote it) tells nobody anything they do not know, and tells the signer what to fix.
    """

    def __init__(self, errors: list[FieldError]) -> None:
        faults = "; ".join(
            e.reason if e.field == "body" else f"{e.field}: {e.reason}" for e in errors
        )
        super().__init__(f"signature verified, but the body does not match its schema: {faults}")
        self.errors = errors


class ReceiptRejected(PacketInvalid):
    """A receipt verified but does not match the delivery it names."""


class RoutingFailed(HubError):
    """No recipient can be found for a report; the hub refuses rather than drop it."""


class ConfigurationError(HubError):
    """Settings, routing policy or key material cannot be used."""


class NotReady(HubError):
    """The hub cannot serve now: its database does not answer."""


class ProofInvalid(HubError):
    """A Merkle inclusion or consistency proof, or a signed tree head, does not verify."""
