"""`connector evidence verify`: check a report's evidence bundle offline, with no call to the hub.

It prints a short summary and exits 0, or prints one line saying which check failed and exits 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from nacl.signing import VerifyKey

from connectors.config import ConnectorConfig, load_config
from connectors.errors import ConnectorError, EvidenceInvalid
from connectors.recipient.evidence import format_summary, read_bundle, verify_bundle
from keys import KeyFileError, load_public_keyset

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Evidence bundles of reports (hub evidence export), checked offline.",
    no_args_is_help=True,
)


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def _pinned(hub_key: Path | None, config: ConnectorConfig | None) -> dict[str, VerifyKey] | None:
    path = hub_key or (config.hub_public_key_file if config is not None else None)
    if path is None:
        return None
    try:
        public = load_public_keyset(path)
    except KeyFileError as exc:
        raise _fail(f"evidence not checked: {exc}") from None
    return {public.signing_key_id: public.signing}


@evidence_app.command("verify")
def verify(
    bundle_file: Annotated[
        Path, typer.Argument(help="The bundle, as hub evidence export wrote it.", dir_okay=False)
    ],
    hub_key: Annotated[
        Path | None,
        typer.Option(
            "--hub-key",
            help="The hub's public key file pinned out of band (default: the config's).",
            dir_okay=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A recipient's connector config: also open its packets with its keys and show "
            "the report opened is the one acknowledged.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check every signature against the hub's keys chained from the pinned one, each within its
    validity; every receipt against its packet; every inclusion proof against the signed tree
    head; and, with --config, that the report the recipient opens is the one acknowledged."""
    try:
        settings = None if config is None else load_config(config)
        pinned = _pinned(hub_key, settings)
        summary = verify_bundle(read_bundle(bundle_file), pinned, config=settings)
    except EvidenceInvalid as exc:
        raise _fail(f"EVIDENCE REJECTED: {exc}") from None
    except ConnectorError as exc:  # the config or its key files: nothing was judged
        raise _fail(f"evidence not checked: {exc}") from None
    typer.echo(format_summary(summary, None if settings is None else settings.recipient_id))
