"""The `hub` command: set up a hub, make keys, serve, and run the demo."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, func, select

from hub.audit.records import record_hub_key
from hub.audit.verify import audit_round
from hub.backup import backup_sqlite, restore_sqlite
from hub.cli.credentials import credentials_app
from hub.cli.demo import format_outcomes, format_procedures, play_demo, provision_demo
from hub.cli.demo_triage import format_triage, triage_demo
from hub.cli.evidence import evidence_app
from hub.cli.onboarding import recipients_app
from hub.cli.oversight import audit_app, compliance_app
from hub.cli.report import report_app
from hub.cli.sources import sources_app
from hub.delivery.rotation import revoke
from hub.delivery.state import DeliveryState, deliveries_in_state, redrive
from hub.errors import ConfigurationError, HubError, InvalidInput
from hub.files import private_file
from hub.http.app import create_app
from hub.http.server import serve, serving
from hub.logs import configure_logging
from hub.network.directory import KeyPurpose, KeyStatus, add_key, has_current_key, key_statuses
from hub.network.keyring import (
    create_hub_keys,
    load_hub_secrets,
    load_webhook_key,
    published_keys,
    replace_stolen_hub_key,
    rotate_hub_key,
)
from hub.network.routing import load_policy
from hub.network.webhook_secrets import protect_stored
from hub.oversight.quality import declare_demo
from hub.settings import Settings
from hub.store import RecipientRow, ReportRow, SourceRow, TreeHeadRow, make_engine, upgrade
from keys import (
    KeyFileError,
    create_passphrase_file,
    generate_keyset,
    load_public_keyset,
    write_keyset,
    write_public_keyset,
)

app = typer.Typer(help="The report-routing hub.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The hub's database.", no_args_is_help=True)
keys_app = typer.Typer(help="Keys for recipients.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
deliveries_app = typer.Typer(help="Deliveries: dead letters and re-drives.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(recipients_app, name="recipients")
app.add_typer(sources_app, name="sources")
app.add_typer(credentials_app, name="credentials")
app.add_typer(audit_app, name="audit")
app.add_typer(compliance_app, name="compliance")
app.add_typer(report_app, name="report")
app.add_typer(evidence_app, name="evidence")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _init(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)
    _refuse_new_keys_for_a_used_database(settings)
    if create_hub_keys(settings):
        typer.echo(f"hub keys written under {settings.hub_key_file.parent}")
    _protect_secrets(settings)


def _refuse_new_keys_for_a_used_database(settings: Settings) -> None:
    """Refuse to make hub keys when the database already holds what older keys signed.

    A restored database without its key files would otherwise get new keys that no member
    and no coordinator trusts. Raises ConfigurationError.
    """
    if settings.hub_key_file.exists() or settings.legacy_hub_key_file.exists():
        return
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            # Members pin the hub's key when they register; heads and acknowledgements carry it.
            signed = sum(
                session.exec(select(func.count()).select_from(table)).one()
                for table in (TreeHeadRow, ReportRow, RecipientRow, SourceRow)
            )
    finally:
        engine.dispose()
    if signed:
        raise ConfigurationError(
            "the database already has members, tree heads or acknowledgements that trust "
            f"the hub's keys, but "
            f"{settings.hub_key_file} is missing: restore the hub's key folder "
            f"({settings.hub_key_file.parent}) from its backup before `hub init`; "
            "no new keys were made"
        )


def _protect_secrets(settings: Settings) -> None:
    """Encrypt webhook secrets a hub from before stored in plain."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            count = protect_stored(session, load_webhook_key(settings))
            session.commit()
    finally:
        engine.dispose()
    if count:
        typer.echo(f"{count} webhook secret(s) encrypted in the database")


def _demo_dir(settings: Settings) -> Path:
    return settings.data_dir / "demo"


@app.command()
def init(
    demo: Annotated[bool, typer.Option(help="Also register the demo network.")] = False,
    hub_url: Annotated[str, typer.Option(help="URL the demo connectors use.")] = (
        f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    ),
) -> None:
    """Create the database and the hub's keys (and with --demo, the demo network)."""
    settings = Settings()
    _init(settings)
    typer.echo(f"database ready at {settings.shown_database_url}")
    if demo:
        listing = provision_demo(settings, _demo_dir(settings), hub_url=hub_url)
        _declare_demo_criteria()
        typer.echo(f"demo network registered; credentials and keys listed in {listing}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every database migration that is not applied yet."""
    settings = Settings()
    upgrade(settings.resolved_database_url)
    typer.echo(f"database at newest schema: {settings.shown_database_url}")


@db_app.command("backup")
def db_backup(
    out: Annotated[Path, typer.Option(help="The new backup file (SQLite; mode 0600).")],
) -> None:
    """Back up the embedded SQLite database while the hub runs (SQLite's online backup)."""
    backup_sqlite(Settings().resolved_database_url, out)
    typer.echo(f"database backed up to {out}; back up the hub's key folder apart from it")


@db_app.command("restore")
def db_restore(
    backup: Annotated[Path, typer.Argument(help="A file written by `hub db backup`.")],
) -> None:
    """Replace the SQLite database by a backup (stop every hub process first)."""
    restore_sqlite(Settings().resolved_database_url, backup)
    typer.echo(f"database restored from {backup}; run `hub db upgrade`, then start the hub")


@db_app.command("protect-secrets")
def db_protect_secrets() -> None:
    """Encrypt the webhook secrets still stored in plain (`hub init` does it too)."""
    settings = Settings()
    _protect_secrets(settings)
    typer.echo("every webhook secret in the database is encrypted")


@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="Whose keys, e.g. at-police.")],
    out: Annotated[Path, typer.Option(help="Folder for the key files.")] = Path("."),
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help="The passphrase (mode 0600), made at random if missing "
            "(default OUT/NAME.passphrase).",
        ),
    ] = None,
) -> None:
    """Make a sealing and a receipt keypair; the private file is encrypted and owner-only."""
    keys = generate_keyset()
    private, public = out / f"{name}.keys.pem", out / f"{name}.pub.json"
    passphrase_path = passphrase_file or out / f"{name}.passphrase"
    try:
        passphrase = create_passphrase_file(passphrase_path)
    except KeyFileError as exc:
        raise typer.BadParameter(str(exc)) from None
    write_keyset(keys, private, name=name, passphrase=passphrase)
    write_public_keyset(keys.public, public, name=name)
    typer.echo(f"private keys: {private} (encrypted PKCS#8, mode 0600; never leaves this machine)")
    typer.echo(f"passphrase:   {passphrase_path} (mode 0600; keep it apart from key backups)")
    typer.echo(f"public keys:  {public} (register these at the hub)")
    typer.echo(f"sealing key id: {keys.public.sealing_key_id}")
    typer.echo(f"receipt key id: {keys.public.signing_key_id}")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time; with an offset it is converted to UTC, without one it is taken as UTC.

    Raises InvalidInput if it is not such a time.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput.at("valid_from", f"not an ISO 8601 time: {text!r}") from exc
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _echo_key_table(statuses: list[KeyStatus]) -> None:
    for key in statuses:
        until = key.valid_to.isoformat() if key.valid_to else "-"
        typer.echo(
            f"  {key.recipient_id:22} {key.purpose.value:8} {key.key_id:26} {key.state.value:10} "
            f"from {key.valid_from.isoformat()}  to {until}"
        )


@keys_app.command("list")
def keys_list(
    recipient: Annotated[
        str | None, typer.Argument(help="Only this recipient's keys; default all.")
    ] = None,
) -> None:
    """List recipient keys: recipient, kind, key id, state now, valid from and to."""
    with _session() as session:
        statuses = key_statuses(session, now=datetime.now(UTC), recipient_id=recipient)
    if not statuses:
        typer.echo("no recipient keys")
    _echo_key_table(statuses)


@keys_app.command("register")
def keys_register(
    recipient: Annotated[str, typer.Argument(help="The recipient, e.g. at-police.")],
    public_file: Annotated[Path, typer.Argument(help="Its public key file (KEY.pub.json).")],
    valid_from: Annotated[
        str | None,
        typer.Option(
            help="When the keys take effect, ISO 8601 (an offset is converted to UTC; none "
            "means UTC); default now. Must be after the start of the current keys."
        ),
    ] = None,
) -> None:
    """Register a recipient's new keys (rotation): packets sealed from `valid_from` use them."""
    try:
        public = load_public_keyset(public_file)
    except KeyFileError as exc:
        raise HubError(str(exc)) from exc
    now = datetime.now(UTC)
    start = parse_instant(valid_from) if valid_from is not None else now
    with _session() as session:
        if public.sealing is not None:
            add_key(
                session,
                recipient,
                KeyPurpose.sealing,
                bytes(public.sealing),
                valid_from=start,
                now=now,
            )
        add_key(
            session, recipient, KeyPurpose.receipt, bytes(public.signing), valid_from=start, now=now
        )
        session.commit()
        statuses = key_statuses(session, now=now, recipient_id=recipient)
    typer.echo(f"registered for {recipient} from {start.isoformat()}; its keys now:")
    _echo_key_table(statuses)


@keys_app.command("rotate-hub")
def keys_rotate_hub() -> None:
    """Replace the hub's signing key, endorsed by the old one; restart the hub to use it."""
    previous = published_keys(Settings()).keys[-1].key_id
    entry = rotate_hub_key(Settings(), datetime.now(UTC))
    with _session() as session:
        record_hub_key(session, entry, previous)
        session.commit()
    typer.echo(f"new hub signing key {entry.key_id}, valid from {entry.valid_from.isoformat()}")
    typer.echo("restart the hub to sign with it; connectors trust it through its endorsement")


@keys_app.command("replace-stolen-hub")
def keys_replace_stolen_hub() -> None:
    """After the hub's signing key was stolen: a new key NOT endorsed by it; every member and
    coordinator must pin the new key again (docs/hub-key-rotation.md, "Stolen hub key")."""
    previous = published_keys(Settings()).keys[-1].key_id
    entry = replace_stolen_hub_key(Settings(), datetime.now(UTC))
    with _session() as session:
        record_hub_key(session, entry, previous)
        session.commit()
    typer.echo(f"new hub signing key {entry.key_id}, valid from {entry.valid_from.isoformat()}")
    typer.echo(f"it is NOT endorsed by {previous}: no connector trusts it until its member pins it")
    typer.echo(
        f"read {entry.key_id} to every member and coordinator out of band and send them "
        f"{Settings().hub_public_key_file.name}; then restart the hub"
    )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id to revoke.")]) -> None:
    """Revoke a recipient key; undelivered packets sealed to it wait for their source's resend."""
    now = datetime.now(UTC)
    with _session() as session:
        held = revoke(session, key_id, now)
        [revoked] = [k for k in key_statuses(session, now=now) if k.key_id == key_id]
        statuses = key_statuses(session, now=now, recipient_id=revoked.recipient_id)
        without = not has_current_key(session, revoked.recipient_id, revoked.purpose, now)
    typer.echo(f"revoked {key_id}; {len(held)} undelivered packet(s) held for resealing")
    for packet_id in held:
        typer.echo(f"  {packet_id}")
    typer.echo(f"keys of {revoked.recipient_id} now:")
    _echo_key_table(statuses)
    if without:
        typer.echo(
            f"warning: {revoked.recipient_id} has no current {revoked.purpose.value} key"
            + (
                ": its copies of new reports are held until it registers one"
                if revoked.purpose is KeyPurpose.sealing
                else ""
            )
            + " (docs/delivery.md, 'Lost or stolen key')",
            err=True,
        )


@deliveries_app.command("dead")
def deliveries_dead(
    limit: Annotated[int, typer.Option(help="Most rows to show.")] = 100,
) -> None:
    """List dead deliveries: recipient, attempts, last error."""
    with _session() as session:
        dead = deliveries_in_state(
            session, state=DeliveryState.dead, now=datetime.now(UTC), limit=limit
        )
    if not dead:
        typer.echo("no dead deliveries")
    for row in dead:
        died = row.dead_at.isoformat() if row.dead_at else "?"
        typer.echo(
            f"{row.packet_id}  {row.recipient_id:22} attempts={row.attempts:<3} "
            f"dead_at={died}  {row.last_error or ''}"
        )


@deliveries_app.command("retry")
def deliveries_retry(
    packet_ids: Annotated[
        list[str] | None, typer.Argument(help="Dead packets to re-drive.")
    ] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="Re-drive every dead one.")] = False,
) -> None:
    """Re-drive dead deliveries: each gets a new retry window from now."""
    if not packet_ids and not all_dead:
        raise HubError("name packet ids, or pass --all-dead")
    with _session() as session:
        redriven = redrive(
            session, packet_ids=None if all_dead else packet_ids, now=datetime.now(UTC)
        )
    typer.echo(f"re-driven: {len(redriven)}")


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(Settings().resolved_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option()] = DEFAULT_HOST,
    port: Annotated[int, typer.Option()] = DEFAULT_PORT,
) -> None:
    """Serve the hub's API until interrupted."""
    configure_logging()
    serve(create_app(Settings()), host=host, port=port)


@app.command("demo")
def demo_command(
    host: Annotated[str, typer.Option()] = DEFAULT_HOST,
    port: Annotated[int, typer.Option()] = DEFAULT_PORT,
) -> None:
    """Set up the demo network if needed, serve, play sample reports, and keep serving."""
    settings = Settings()
    _init(settings)
    listing = _demo_dir(settings) / "recipients.json"
    if not listing.exists():
        provision_demo(settings, _demo_dir(settings), hub_url=f"http://{host}:{port}")
        _declare_demo_criteria()
    log_file = private_file(settings.data_dir / "hub.log")
    with log_file.open("a", encoding="utf-8") as log_stream:
        configure_logging(stream=log_stream)
        _serve_demo(settings, listing, log_file, host=host, port=port)


def api_docs_note(settings: Settings, base_url: str) -> str:
    """Where the API is described: the /docs page only while HUB_API_DOCS serves it."""
    if settings.api_docs:
        return f"API docs at {base_url}/docs"
    return f"OpenAPI at {base_url}/openapi.json; HUB_API_DOCS=true serves {base_url}/docs"


def _serve_demo(settings: Settings, listing: Path, log_file: Path, *, host: str, port: int) -> None:
    with serving(create_app(settings), host=host, port=port) as base_url:
        outcomes = play_demo(base_url, listing)
        triaged = triage_demo(base_url, listing)
        _sign_audit_log(settings)
        typer.echo("")
        typer.echo(format_procedures(load_policy(settings.routing_policy)))
        typer.echo("")
        typer.echo(format_outcomes(outcomes))
        typer.echo("")
        typer.echo(format_triage(triaged))
        typer.echo("")
        typer.echo(f"Hub:         {base_url}  ({api_docs_note(settings, base_url)})")
        typer.echo(
            f"Dashboard:   {base_url}/dashboard  (log in with the coordinator's token: "
            f"{_demo_dir(settings) / 'recipients' / 'network-coordinator' / 'credential.txt'})"
        )
        typer.echo("Audit log:   .venv/bin/hub audit verify   (quality: hub compliance report)")
        typer.echo(f"Credentials: {listing}  (every party's token, key files, connector config)")
        typer.echo(
            "Reports each demo recipient holds, sealed: <its folder>/inbox/packets/ "
            "(read one: connector open --config <its folder>/connector.json PACKET_ID)"
        )
        typer.echo(f"Logs:        {log_file}  (JSON lines: ids and outcomes, never content)")
        typer.echo("Press Ctrl+C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            typer.echo("stopping")


def _declare_demo_criteria() -> None:
    """The demo sections' declarations of the quality criteria (docs/quality.md)."""
    with _session() as session:
        declare_demo(session, now=datetime.now(UTC))


def _sign_audit_log(settings: Settings) -> None:
    """Sign a tree head over what the demo just did, and verify the log, as the audit job does."""
    secrets, published = load_hub_secrets(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        audit_round(engine, key=secrets.signing_key, published=published, now=datetime.now(UTC))
    finally:
        engine.dispose()


def main() -> None:
    try:
        app()
    except HubError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from exc
    except OperationalError as exc:
        # One line, never the traceback: it would name the URL with its password.
        tried = _shown_database()
        typer.echo(
            f"error: cannot use the database at {tried}: point the hub at the right one with "
            "HUB_DATABASE_URL or HUB_DATABASE_URL_FILE (or HUB_DATA_DIR for the SQLite default)",
            err=True,
        )
        raise SystemExit(1) from exc


def _shown_database() -> str:
    try:
        return Settings().shown_database_url
    except (ValueError, OSError):
        return "(unreadable database settings)"
