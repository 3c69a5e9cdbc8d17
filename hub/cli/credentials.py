"""`hub credentials`: issue, list, revoke and rotate API credentials on the hub's machine.

    hub credentials issue ROLE PRINCIPAL --out FILE [--expires-in-days N]
    hub credentials list [--principal ID]
    hub credentials revoke CREDENTIAL_ID
    hub credentials rotate CREDENTIAL_ID --out FILE [--overlap-hours H] [--expires-in-days N]

A token is written to its file only (mode 0600, never over an existing file) and is never
printed: commands show the credential's public id (`cred-…`). Administrator credentials are
issued here only, never over the API; issuing one registers the administrator if it is new.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from hub.errors import HubError
from hub.network.credentials import (
    CredentialInfo,
    IssuedCredential,
    Role,
    issue,
    list_credentials,
    register_administrator,
    revoke_credential,
    rotate_credential,
)
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["credentials_app"]

credentials_app = typer.Typer(
    help="API credentials: issue, list, revoke and rotate tokens.", no_args_is_help=True
)


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _write_token(path: Path, token: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        # A token is a secret: owner-only, and never written over an existing file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise HubError(f"{path} exists: choose another file for the new token") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")


def _line(info: CredentialInfo) -> str:
    expires = info.expires_at.isoformat() if info.expires_at else "never"
    revoked = info.revoked_at.isoformat() if info.revoked_at else "-"
    return (
        f"{info.credential_id}  {info.role.value:13} {info.principal_id:22} "
        f"created={info.created_at.isoformat()}  expires={expires}  revoked={revoked}"
    )


def _days(days: float | None) -> timedelta | None:
    return None if days is None else timedelta(days=days)


def _report(issued: IssuedCredential, out: Path) -> None:
    _write_token(out, issued.token)
    typer.echo(_line(issued.credential))
    typer.echo(
        f"token written to {out} (mode 0600): move it to its holder by a secure channel, "
        "then delete it from this server"
    )


@credentials_app.command("issue")
def issue_command(
    role: Annotated[Role, typer.Argument(help="source, recipient or administrator.")],
    principal: Annotated[str, typer.Argument(help="The source, recipient or administrator id.")],
    out: Annotated[Path, typer.Option(help="File for the token (mode 0600, must not exist).")],
    expires_in_days: Annotated[
        float | None, typer.Option(min=0.001, help="Lifetime; default: until revoked.")
    ] = None,
) -> None:
    """Issue a credential; for an administrator, register it first if it is new."""
    now = datetime.now(UTC)
    expiry = _days(expires_in_days)
    with _session() as session:
        if role is Role.administrator and register_administrator(
            session, principal, principal, now
        ):
            typer.echo(f"administrator {principal} registered")
        issued = issue(
            session, role, principal, now, expires_at=None if expiry is None else now + expiry
        )
    _report(issued, out)


@credentials_app.command("list")
def list_command(
    principal: Annotated[str | None, typer.Option(help="Only this principal's.")] = None,
) -> None:
    """List credentials: public id, role, principal, times. Never a token."""
    with _session() as session:
        found = list_credentials(session, principal_id=principal)
    if not found:
        typer.echo("no credentials")
    for info in found:
        typer.echo(_line(info))


@credentials_app.command("revoke")
def revoke_command(
    credential_id: Annotated[str, typer.Argument(help="The credential's id, cred-….")],
) -> None:
    """Revoke a credential at once."""
    with _session() as session:
        info = revoke_credential(session, credential_id, datetime.now(UTC))
    typer.echo(f"revoked: {_line(info)}")


@credentials_app.command("rotate")
def rotate_command(
    credential_id: Annotated[str, typer.Argument(help="The credential to replace, cred-….")],
    out: Annotated[Path, typer.Option(help="File for the new token (mode 0600, must not exist).")],
    overlap_hours: Annotated[
        float, typer.Option(min=0, help="How long the old token keeps working (0: not at all).")
    ] = 1.0,
    expires_in_days: Annotated[
        float | None, typer.Option(min=0.001, help="The new token's lifetime; default: none.")
    ] = None,
) -> None:
    """Issue a new token for the same principal; the old one ends after the overlap."""
    now = datetime.now(UTC)
    expiry = _days(expires_in_days)
    with _session() as session:
        issued = rotate_credential(
            session,
            credential_id,
            now,
            overlap=timedelta(hours=overlap_hours),
            expires_at=None if expiry is None else now + expiry,
        )
    _report(issued, out)
    if overlap_hours > 0:
        typer.echo(f"{credential_id} keeps working for {overlap_hours:g} h more")
    else:
        typer.echo(f"{credential_id} is revoked")
