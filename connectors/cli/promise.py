"""`connector verify-promise`: a portal checks, later, the hub's promise of inclusion signed in a
report's acknowledgement (kept by `connector submit --keep-ack`). docs/audit.md says how.

Exit codes (connectors.portal.promise.EXIT_CODES): 0 kept, 1 broken (evidence against the hub),
2 could not check, 3 not yet due.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from connectors.config import read_token
from connectors.errors import ConnectorError
from connectors.portal.promise import (
    CANNOT_CHECK,
    EXIT_CODES,
    check_promise,
    fetch_hub_keys,
    read_acknowledgement,
    verdict_line,
)
from connectors.recipient.trust import extend_trust
from hub.errors import HubError
from keys import KeyFileError, load_public_keyset

__all__ = ["register_promise_command"]


def verify_promise(
    acknowledgement_file: Annotated[
        Path,
        typer.Argument(
            help="An acknowledgement kept by `connector submit --keep-ack`.", dir_okay=False
        ),
    ],
    hub_url: Annotated[str, typer.Option("--hub-url", help="The hub's base URL.")],
    credential: Annotated[
        Path, typer.Option("--credential", help="The portal's source token file.", dir_okay=False)
    ],
    hub_key: Annotated[
        Path,
        typer.Option("--hub-key", help="The hub's public key file, as received.", dir_okay=False),
    ],
    ca_file: Annotated[
        Path | None,
        typer.Option(
            "--ca-file",
            help="PEM certificates to trust for the hub's TLS instead of the system's.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check that the hub kept its promise: the report's audit entry is in a tree head signed
    by the deadline its acknowledgement names. Exit 0 kept, 1 broken, 2 could not check, 3 not
    yet due."""
    try:
        acknowledgement = read_acknowledgement(acknowledgement_file)
        public = load_public_keyset(hub_key)
        # The pinned key, and every later hub key endorsed in a chain from it (a rotation).
        trusted = extend_trust(
            {public.signing_key_id: public.signing}, fetch_hub_keys(hub_url, ca_file=ca_file)
        )
        verdict = check_promise(
            acknowledgement,
            hub_url=hub_url,
            token=read_token(credential),
            trusted=trusted,
            now=datetime.now(UTC),
            ca_file=ca_file,
        )
    except (ConnectorError, HubError, KeyFileError) as exc:
        message = " ".join((str(exc) or type(exc).__name__).split())
        typer.echo(f"connector: cannot check the promise: {message}", err=True)
        raise typer.Exit(CANNOT_CHECK) from None
    typer.echo(verdict_line(verdict))
    raise typer.Exit(EXIT_CODES[verdict.state.value])


def register_promise_command(app: typer.Typer) -> None:
    """Add `verify-promise` to the `connector` command."""
    app.command("verify-promise")(verify_promise)
