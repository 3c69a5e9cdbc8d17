"""`hub sources`: register a source portal, as `hub init --demo` does for the demo's portals.

    hub sources add ID --name NAME [--country CC]   register it (audited); then its token:
                                                    hub credentials issue source ID --out FILE

A member's registration folder may list its portals too; `hub recipients add` registers them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlmodel import Session

from hub.network.directory import add_source
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["sources_app"]

sources_app = typer.Typer(help="Source portals: register one.", no_args_is_help=True)


@sources_app.command("add")
def add(
    source_id: Annotated[str, typer.Argument(help="The portal's id, e.g. portal-fr.")],
    name: Annotated[str, typer.Option("--name", help="Its name, e.g. 'French reporting portal'.")],
    country: Annotated[
        str | None, typer.Option("--country", help="Its country (ISO code); none for a platform.")
    ] = None,
) -> None:
    """Register a source portal; the audit log records it. Its token comes next."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            add_source(
                session,
                source_id=source_id,
                name=name,
                country=country.upper() if country else None,
                now=datetime.now(UTC),
            )
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"{source_id}: registered")
    typer.echo(f"its token: hub credentials issue source {source_id} --out FILE")
