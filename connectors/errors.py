"""The connector's errors. The CLI turns each into one line on stderr, never a traceback.

ConnectorError
├── ConfigInvalid       the config, credential or key files are missing or unusable
├── HubUnreachable      no HTTP answer: connection, TLS, timeout or protocol failure
├── HubRefused          the hub answered with an error (status and problem detail)
├── HubAnswerInvalid    the hub answered 2xx with something that is not the documented shape
├── StoreFailed         the local store cannot be written or read
├── ForwardRefused      a forward the connector will not make (copy not held, no commitment)
├── EvidenceInvalid     an evidence bundle that does not verify: says which check failed
└── TriageRefused       a triage decision the connector will not send (no consent to contact)

Crypto failures reuse `hub.errors.PacketInvalid`, which says nothing about which part failed.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error the connector raises on purpose."""


class ConfigInvalid(ConnectorError):
    """The config file, the credential or a key file is missing or unusable."""


class HubUnreachable(ConnectorError):
    """The hub could not be reached, or the exchange broke off before an answer."""


class HubRefused(ConnectorError):
    """The hub answered with a non-2xx status; `detail` and `errors` come from its problem JSON."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[tuple[str, str]] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors or []
        fields = "; ".join(f"{field}: {reason}" for field, reason in self.errors)
        super().__init__(
            f"hub refused ({status} {title}): {detail}" + (f" [{fields}]" if fields else "")
        )


class HubAnswerInvalid(ConnectorError):
    """The hub answered 2xx with a body that does not match the documented shape."""


class StoreFailed(ConnectorError):
    """The local store could not be written or read."""


class ForwardRefused(ConnectorError):
    """The connector will not forward: a copy it does not hold, or one without a commitment."""


class EvidenceInvalid(ConnectorError):
    """An evidence bundle fails a check; the message is the one-line reason (never content)."""


class TriageRefused(ConnectorError):
    """The connector will not record a decision: contact without consent, a forward to nobody."""
