"""Who may call which endpoint, on whose data: the hub's one authorisation table.

`TABLE` names every route of the hub's app, by method and path exactly as FastAPI lists it (the
full path, with any router prefix and its `{parameters}`), and says either that it is public or
which parties may call it and whose data each of them reaches there. The API enforces it in one
dependency that every route passes through (`hub.http.deps`), and `tests/hub/http/test_authz.py` is
generated from it: it calls every endpoint as every party, and with no, malformed, unknown,
expired and revoked credentials, and checks the exact status and that nothing leaked or changed.

Adding a route (for instance in an APIRouter registered with `include_router`):

1. add an `Endpoint(...)` line below, with `public=True` or the grants, and `writes=True` if an
   allowed call may change stored data;
2. add a request for it to `REQUESTS` in `tests/hub/http/test_authz.py` (a valid call for a party
   the table allows), so the matrix can call it as everybody;
3. run `python -m hub.http.authz docs/threat-model.md` to bring the document's copy up to date.

A route missing from the table is refused to everybody (403, logged as
`route_not_in_authorization_table`), and the matrix test fails naming it: the hub fails closed.
`python -m hub.http.authz` prints the table as Markdown; `python -m hub.http.authz
docs/threat-model.md` writes it into that document, whose copy a test compares with this one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from hub.errors import Forbidden
from hub.logs import get_logger
from hub.network.credentials import Principal, Role
from hub.network.routing import RecipientKind

log = get_logger(__name__)

__all__ = [
    "TABLE",
    "Endpoint",
    "NotInTable",
    "Party",
    "Scope",
    "authorize",
    "endpoint_for",
    "party_of",
    "render_markdown",
    "route_keys",
    "unlisted_routes",
    "update_document",
]


class Party(StrEnum):
    """Who calls: the roles of the network, with recipients told apart by their kind."""

    source = "source"
    section = "section"
    police = "police"
    coordinator = "coordinator"
    administrator = "administrator"


class Scope(StrEnum):
    """Whose data a party reaches through an endpoint."""

    own = "own"  # only what belongs to the caller: its reports, its packets, its receipts
    network = "network"  # delivery metadata of every report (ids, states, times); never content
    directory = "directory"  # credentials and recipients (ids, roles, key ids); never secrets


_SCOPE_MEANING = {
    Scope.own: "its own data only",
    Scope.network: "every report's delivery metadata, never content",
    Scope.directory: "credentials and recipients, never tokens, secrets or content",
}


@dataclass(frozen=True)
class Endpoint:
    """One route: public, or the parties that may call it and whose data each reaches."""

    method: str
    path: str
    grants: Mapping[Party, Scope] = field(default_factory=lambda: MappingProxyType({}))
    public: bool = False
    writes: bool = False  # an allowed call may change stored data

    def __post_init__(self) -> None:
        if self.public == bool(self.grants):
            raise ValueError(f"{self.method} {self.path}: public, or grants; exactly one")
        object.__setattr__(self, "grants", MappingProxyType(dict(self.grants)))

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def _each(parties: Iterable[Party], scope: Scope) -> dict[Party, Scope]:
    return dict.fromkeys(parties, scope)


_RECIPIENTS = (Party.section, Party.police, Party.coordinator)
_OWN_INBOX = _each(_RECIPIENTS, Scope.own)
_FORWARDERS = _each((Party.section, Party.police), Scope.own)
_SOURCE = {Party.source: Scope.own}
_COORDINATOR = {Party.coordinator: Scope.network}
_ADMINISTRATOR = {Party.administrator: Scope.directory}

TABLE: tuple[Endpoint, ...] = (
    # Sources: submit their reports, and learn which of their own reports to send again.
    Endpoint("POST", "/v1/reports", _SOURCE, writes=True),
    Endpoint("GET", "/v1/reseal-requests", _SOURCE),
    # Recipients (the coordinator receives the reports no member can act on): their own packets.
    Endpoint("GET", "/v1/inbox", _OWN_INBOX, writes=True),  # a pull leases the packets
    Endpoint("POST", "/v1/receipts", _OWN_INBOX, writes=True),
    # Sections and police desks pass on a report they received, to a section or police desk of
    # any member country, and record that they deleted their copy (the coordinator does neither).
    Endpoint("GET", "/v1/forward-targets", _FORWARDERS),
    Endpoint("POST", "/v1/forwards", _FORWARDERS, writes=True),
    Endpoint("POST", "/v1/reports/{report_id}/deletion", _FORWARDERS, writes=True),
    # Coordinators: delivery metadata of the whole network, never content.
    Endpoint("GET", "/v1/reports/{report_id}/deliveries", _COORDINATOR),
    Endpoint("GET", "/v1/deliveries", _COORDINATOR),
    Endpoint("POST", "/v1/deliveries/{packet_id}/retry", _COORDINATOR, writes=True),
    Endpoint("GET", "/v1/deliveries/summary", _COORDINATOR),
    Endpoint("GET", "/v1/deliveries/open", _COORDINATOR),
    Endpoint("GET", "/v1/deliveries/latency", _COORDINATOR),
    Endpoint("GET", "/v1/reports/annual", _COORDINATOR),  # counts per line and year (S4)
    # A report's evidence bundle: its packets sealed as stored, receipts, proofs; never content.
    # Exporting signs a tree head and records the export, in the audit log only.
    Endpoint("GET", "/v1/reports/{report_id}/evidence", _COORDINATOR),
    # Coordinators: the audit log (ids, kinds, times, states, key ids, receipts) and its proofs,
    # and the quality criteria judged per country. Sections declare their own country's criteria.
    Endpoint("GET", "/v1/audit/tree-head", _COORDINATOR),
    Endpoint("GET", "/v1/audit/tree-heads", _COORDINATOR),
    Endpoint("GET", "/v1/audit/entries", _COORDINATOR),
    Endpoint("GET", "/v1/audit/proof/inclusion", _COORDINATOR),
    Endpoint("GET", "/v1/audit/proof/consistency", _COORDINATOR),
    Endpoint("GET", "/v1/audit/verification", _COORDINATOR),
    Endpoint("GET", "/v1/compliance", _COORDINATOR),
    Endpoint("POST", "/v1/declarations", {Party.section: Scope.own}, writes=True),
    # Feedback: a source reads the status of its own reports (seeing it is recorded, for S11);
    # a recipient attaches a coded outcome to a report it holds a verified receipt for.
    Endpoint("GET", "/v1/reports/{report_id}/status", _SOURCE, writes=True),
    # A promise of inclusion: its report's source, and coordinators, read the signed tree head
    # that covers the promised audit entry and the entry's audit path (ids and hashes only).
    Endpoint("GET", "/v1/reports/{report_id}/inclusion", {**_SOURCE, **_COORDINATOR}),
    Endpoint("POST", "/v1/reports/{report_id}/outcome", _OWN_INBOX, writes=True),
    # Triage: a recipient records its decision and classification on a report it holds a
    # verified receipt for; coordinators read the processing times per country (S2).
    Endpoint("POST", "/v1/reports/{report_id}/triage", _OWN_INBOX, writes=True),
    Endpoint("GET", "/v1/processing-times", _COORDINATOR),
    # The coordinators' dashboard (server-rendered pages; a browser logs in once with the
    # coordinator's token and then shows a session cookie, taken on these pages only).
    Endpoint("GET", "/dashboard/login", public=True),
    Endpoint("POST", "/dashboard/login", public=True, writes=True),  # opens a session
    Endpoint("GET", "/dashboard/static/dashboard.css", public=True),
    Endpoint("POST", "/dashboard/logout", _COORDINATOR, writes=True),
    Endpoint("GET", "/dashboard", _COORDINATOR),
    Endpoint("GET", "/dashboard/", _COORDINATOR),
    Endpoint("GET", "/dashboard/deliveries", _COORDINATOR),
    Endpoint("POST", "/dashboard/deliveries/{packet_id}/retry", _COORDINATOR, writes=True),
    Endpoint("GET", "/dashboard/latency", _COORDINATOR),
    Endpoint("GET", "/dashboard/quality", _COORDINATOR),
    Endpoint("GET", "/dashboard/audit", _COORDINATOR),
    Endpoint("GET", "/dashboard/annual", _COORDINATOR),
    # Administrators: credentials and the recipient directory, never content.
    Endpoint("GET", "/v1/admin/credentials", _ADMINISTRATOR),
    Endpoint("POST", "/v1/admin/credentials", _ADMINISTRATOR, writes=True),
    Endpoint("POST", "/v1/admin/credentials/{credential_id}/revoke", _ADMINISTRATOR, writes=True),
    Endpoint("POST", "/v1/admin/credentials/{credential_id}/rotate", _ADMINISTRATOR, writes=True),
    Endpoint("GET", "/v1/admin/recipients", _ADMINISTRATOR),
    Endpoint("POST", "/v1/admin/sources", _ADMINISTRATOR, writes=True),
    # Anyone: the hub's public keys, liveness, readiness, metrics (counts by state and
    # recipient id; restrict at the proxy if those counts are sensitive) and the API's docs.
    Endpoint("GET", "/v1/hub/keys", public=True),
    Endpoint("GET", "/.well-known/ctt-hub-keys.json", public=True),
    Endpoint("GET", "/healthz", public=True),
    Endpoint("GET", "/readyz", public=True),
    Endpoint("GET", "/metrics", public=True),
    Endpoint("GET", "/openapi.json", public=True),
    Endpoint("GET", "/docs", public=True),
    Endpoint("GET", "/docs/oauth2-redirect", public=True),
    Endpoint("GET", "/redoc", public=True),
)

_BY_KEY = {endpoint.key: endpoint for endpoint in TABLE}
if len(_BY_KEY) != len(TABLE):
    raise ValueError("an endpoint is listed twice in the authorization table")


class NotInTable(LookupError):
    """A route the authorization table does not list."""


def endpoint_for(method: str, path: str) -> Endpoint:
    """The table's entry for a route. Raises NotInTable."""
    try:
        return _BY_KEY[(method, path)]
    except KeyError:
        raise NotInTable(f"{method} {path}") from None


def party_of(principal: Principal) -> Party:
    """The party a principal acts as: its role, and for a recipient its kind."""
    if principal.role is Role.source:
        return Party.source
    if principal.role is Role.administrator:
        return Party.administrator
    return {
        RecipientKind.section: Party.section,
        RecipientKind.police: Party.police,
        RecipientKind.coordinator: Party.coordinator,
    }[RecipientKind(str(principal.recipient_kind))]


def authorize(endpoint: Endpoint, principal: Principal) -> Scope:
    """The scope of data `principal` reaches at `endpoint`.

    Raises Forbidden if its party is not granted the endpoint (logged, with the caller's ids).
    """
    party = party_of(principal)
    scope = endpoint.grants.get(party)
    if scope is None:
        # pragma: no mutate start
        log.warning(
            "access_denied",
            method=endpoint.method,
            path=endpoint.path,
            party=party.value,
            principal=principal.id,
            credential_id=principal.credential_id,
        )
        # pragma: no mutate end
        raise Forbidden(f"a {party.value} may not call {endpoint.method} {endpoint.path}")
    return scope


def route_keys(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route, included routers flattened; HEAD goes with GET."""
    keys = set()
    for context in iter_route_contexts(list(routes)):
        path = context.path
        for method in context.methods or ():
            if path is not None and method != "HEAD":
                keys.add((method, path))
    return sorted(keys, key=lambda key: (key[1], key[0]))


def unlisted_routes(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """The routes the table does not list: each one is refused until it is added."""
    return [key for key in route_keys(routes) if key not in _BY_KEY]


def render_markdown() -> str:
    """The table as Markdown: one row per endpoint, one column per party."""
    parties = list(Party)
    lines = [
        "| endpoint | " + " | ".join(p.value for p in parties) + " |",
        "|---|" + "---|" * len(parties),
    ]
    for endpoint in TABLE:
        if endpoint.public:
            cells = ["anyone"] * len(parties)
        else:
            cells = [endpoint.grants[p].value if p in endpoint.grants else "—" for p in parties]
        lines.append(f"| `{endpoint.method} {endpoint.path}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"- **{scope.value}**: {meaning}" for scope, meaning in _SCOPE_MEANING.items()]
    lines.append("- **anyone**: no credential needed; a credential sent along is ignored")
    return "\n".join(lines) + "\n"


_BEGIN, _END = "<!-- authz-table -->\n", "<!-- /authz-table -->\n"


def update_document(path: Path) -> None:  # pragma: no mutate block
    """Write the table into `path` between its `<!-- authz-table -->` markers."""
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(_BEGIN, 1)
    _, tail = rest.split(_END, 1)
    path.write_text(head + _BEGIN + render_markdown() + _END + tail, encoding="utf-8")


if __name__ == "__main__":
    # python -m hub.http.authz                          print the table
    # python -m hub.http.authz docs/threat-model.md     write it into that document
    if len(sys.argv) > 1:
        update_document(Path(sys.argv[1]))
    else:
        print(render_markdown(), end="")
