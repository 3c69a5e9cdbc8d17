"""`connector room`: serve the local reading room on 127.0.0.1 (docs/reading-room.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connectors.cli.countries import ProfilesOption, selected_profiles
from connectors.config import load_config
from connectors.errors import ConnectorError
from connectors.recipient.pull import load_keys
from connectors.recipient.readable import reading_for
from connectors.room import check_loopback, create_room
from connectors.room.app import serve_room

__all__ = ["register_room_command"]


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def room(
    config: Annotated[
        Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
    ],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.", min=1, max=65535)] = 8765,
    host: Annotated[str, typer.Option(help="Only 127.0.0.1 is accepted.")] = "127.0.0.1",
    profiles: ProfilesOption = None,
) -> None:
    """Serve the reading room on 127.0.0.1: read the received reports in your language and
    record triage decisions and outcomes. Prints a one-time login code for each login."""
    try:
        check_loopback(host)
        settings = load_config(config)
        load_keys(settings)  # the keys open now, or the room does not start

        def show(code: str) -> None:
            typer.echo(f"reading room login code (one use): {code}", err=True)

        typer.echo(f"reading room of {settings.recipient_id}: http://{host}:{port}/", err=True)
        reading = reading_for(settings.recipient_id, selected_profiles(profiles), settings)
        app = create_room(settings, on_code=show, reading=reading)
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    serve_room(app, host=host, port=port)


def register_room_command(app: typer.Typer) -> None:
    """Add `room` to the `connector` command."""
    app.command()(room)
