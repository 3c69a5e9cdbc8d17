"""`hub recipients`: register a new member's recipients and test the way to them.

    hub recipients add REGISTRATION --credentials-out DIR   register public keys, issue tokens
    hub recipients test RECIPIENT                           seal a test packet to it alone
    hub recipients status RECIPIENT                         its test packets and their receipts

The steps are in `hub.onboarding.member`; docs/onboarding.md walks a section through them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import load_hub_secrets, load_webhook_key
from hub.network.profiles import calendar_name
from hub.onboarding.member import (
    onboarding_deliveries,
    read_registration,
    read_registration_profile,
    register_recipients,
    send_onboarding_packet,
)
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["recipients_app"]

recipients_app = typer.Typer(
    help="Recipients: register a new member's recipients, and test the way to them.",
    no_args_is_help=True,
)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _write_token(folder: Path, recipient_id: str, token: str) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{recipient_id}.credential.txt"
    # A token is a secret: owner-only, and never written over an existing file.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    return path


@recipients_app.command("add")
def add(
    registration: Annotated[
        Path, typer.Argument(help="The member's registration folder (or its registration.json).")
    ],
    credentials_out: Annotated[
        Path,
        typer.Option(
            "--credentials-out", help="Folder for the new tokens, to send to the member securely."
        ),
    ],
) -> None:
    """Register a member's recipients from their public keys and issue their API tokens."""
    settings = Settings()
    document, keys = read_registration(registration)
    profile = read_registration_profile(registration, document)
    with _session(settings) as session:
        issued = register_recipients(
            session, document, keys, now=datetime.now(UTC), profile=profile
        )
    for entry in issued:
        path = _write_token(credentials_out, entry.recipient_id, entry.token)
        typer.echo(f"{entry.recipient_id}: registered")
        typer.echo(f"  sealing key id: {entry.sealing_key_id}")
        typer.echo(f"  receipt key id: {entry.receipt_key_id}")
        typer.echo(f"  token: {path} (mode 0600; its credential.txt on the member's side)")
    for portal in document.portals:
        typer.echo(f"{portal.id}: source portal registered")
        typer.echo(f"  its token: hub credentials issue source {portal.id} --out FILE")
    if profile is None:
        typer.echo(f"{document.profile}: no country profile in the registration (an old one?)")
    else:
        found = profile.profile
        typer.echo(
            f"{found.code}: country profile registered: languages {', '.join(found.languages)}, "
            f"calendar {calendar_name(found) or 'weekends only'}, time zone {found.timezone}"
        )
    typer.echo("confirm the key ids with the member by another channel before sending tokens")
    typer.echo(
        f"the tokens are on this server in {credentials_out}: move each to the member's "
        "credential.txt by a secure channel, then delete them here"
    )


@recipients_app.command("test")
def test(
    recipient_id: Annotated[str, typer.Argument(help="The recipient to send a test packet to.")],
) -> None:
    """Seal a test packet to one recipient only; it pulls, opens and receipts it as any other."""
    settings = Settings()
    secrets, _ = load_hub_secrets(settings)
    with _session(settings) as session:
        packet = send_onboarding_packet(
            session, recipient_id, secrets=secrets, now=datetime.now(UTC)
        )
    typer.echo(f"test packet {packet.packet_id} (report {packet.report_id}) for {recipient_id}")
    typer.echo(f"once it has pulled: hub recipients status {recipient_id}")


@recipients_app.command("status")
def status(
    recipient_id: Annotated[str, typer.Argument(help="The recipient whose test packets to show.")],
) -> None:
    """Show a recipient's test packets: state, times, and whether its receipt verified."""
    settings = Settings()
    with _session(settings) as session:
        deliveries = onboarding_deliveries(session, recipient_id, now=datetime.now(UTC))
    if not deliveries:
        typer.echo(f"{recipient_id}: no test packet sent yet (hub recipients test {recipient_id})")
        return
    for delivery in deliveries:
        receipted = (
            f"receipt verified, delivered {delivery.delivered_at.isoformat()}"
            if delivery.delivered_at is not None and delivery.receipt is not None
            else "no receipt yet"
        )
        typer.echo(f"{delivery.packet_id}: {delivery.state.value}, {receipted}")


@recipients_app.command("mode")
def mode(
    recipient_id: Annotated[str, typer.Argument(help="The recipient, e.g. nl-police.")],
    delivery_mode: Annotated[DeliveryMode, typer.Argument(help="push or pull.")],
    push_url: Annotated[
        str | None, typer.Option(help="For push: the recipient's endpoint, e.g. https://…/packets.")
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(help="For push: a file holding the Standard Webhooks secret (whsec_…)."),
    ] = None,
) -> None:
    """Switch a recipient between push and pull; its pending packets follow the new mode."""
    secret = secret_file.read_text(encoding="utf-8").strip() if secret_file is not None else None
    settings = Settings()
    with _session(settings) as session:
        set_delivery_mode(
            session,
            recipient_id,
            delivery_mode,
            push_url=push_url,
            webhook_secret=secret,
            webhook_key=load_webhook_key(settings) if secret is not None else None,
        )
        session.commit()
    where = f" to {push_url}" if delivery_mode is DeliveryMode.push else ""
    typer.echo(f"{recipient_id}: {delivery_mode.value}{where}")
