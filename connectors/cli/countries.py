"""The `connector` commands of the country profiles: submit a portal's form, set up a new member,
render stored reports in the reader's languages. `connectors.cli.main` registers them on its app.

Failures end in one line on stderr and exit status 1, as for every `connector` command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from connectors.config import load_config, read_token
from connectors.countries.profiles import Profiles, load_profiles, profile_dirs_from_env
from connectors.errors import ConnectorError
from connectors.portal.mapping import map_form, mapping_for
from connectors.portal.promise import keep_acknowledgement
from connectors.portal.submit import submit_report
from connectors.recipient.onboard import init_member
from connectors.recipient.readable import Reading, reading_for, render_stored
from connectors.recipient.trust import HubKeyNotTrusted
from hub.errors import PacketInvalid
from keys import KeyFileError, load_public_keyset

__all__ = ["ProfilesOption", "register_country_commands", "selected_profiles"]

ProfilesOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--profiles",
        help="A folder of extra profiles (<folder>/<code>/profile.toml); may be repeated. "
        "CONNECTOR_PROFILES adds more.",
        file_okay=False,
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def selected_profiles(extra: list[Path] | None) -> Profiles:
    """The shipped profiles, those under CONNECTOR_PROFILES and those given with --profiles."""
    return load_profiles([*profile_dirs_from_env(), *(extra or [])])


def _read_form(path: Path) -> dict[str, Any]:
    try:
        form = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"connector: {path}: not a readable JSON form ({type(exc).__name__})") from exc
    if not isinstance(form, dict):
        raise _fail(f"connector: {path}: a form is a JSON object")
    return form


CaFileOption = Annotated[
    Path | None,
    typer.Option(
        "--ca-file",
        help="PEM certificates to trust for the hub's TLS instead of the system's (a private CA, "
        "or the hub's self-signed certificate); init writes a copy into each connector config.",
        dir_okay=False,
    ),
]


def submit(
    form_file: Annotated[Path, typer.Argument(help="The portal's form, as JSON.", dir_okay=False)],
    portal: Annotated[str, typer.Option("--portal", help="The portal's id, e.g. portal-at.")],
    hub_url: Annotated[str, typer.Option("--hub-url", help="The hub's base URL.")] = (
        "http://127.0.0.1:8000"
    ),
    credential: Annotated[
        Path | None,
        typer.Option("--credential", help="The portal's source token file.", dir_okay=False),
    ] = None,
    hub_key: Annotated[
        Path | None,
        typer.Option("--hub-key", help="Verify the acknowledgement with this key.", dir_okay=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the mapped report; send nothing.")
    ] = False,
    profiles: ProfilesOption = None,
    ca_file: CaFileOption = None,
    keep_ack: Annotated[
        Path | None,
        typer.Option(
            "--keep-ack",
            help="Keep the signed acknowledgement in this folder (<report_id>.ack.json, no "
            "content), to check the hub's promise of inclusion later: connector verify-promise.",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Map a portal's form to the common schema with the portal's mapping, and submit it."""
    form = _read_form(form_file)
    try:
        mapping, profile = mapping_for(portal, selected_profiles(profiles))
        report = map_form(form, mapping, now=datetime.now(UTC), timezone=profile.timezone)
        if dry_run:
            typer.echo(report.model_dump_json(indent=2, exclude_none=True))
            return
        if credential is None:
            raise _fail("connector: --credential is needed to submit (or use --dry-run)")
        trusted = None
        if hub_key is not None:
            public = load_public_keyset(hub_key)
            trusted = {public.signing_key_id: public.signing}
        answer = submit_report(
            report, hub_url=hub_url, token=read_token(credential), hub_keys=trusted, ca_file=ca_file
        )
    except KeyFileError as exc:
        raise _fail(f"connector: {exc}") from None
    except PacketInvalid:
        raise _fail("connector: the hub's acknowledgement does not verify with --hub-key") from None
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(f"report {answer.report_id} accepted at {answer.accepted_at.isoformat()}")
    for routed in answer.recipients:
        held = (
            " (held: no current key; resend when asked)"
            if (routed.recipient_id in answer.awaiting_key)
            else ""
        )
        typer.echo(f"  -> {routed.recipient_id} ({', '.join(routed.rules)}){held}")
    if hub_key is not None:
        typer.echo("acknowledgement verified with the hub's key")
    if keep_ack is not None:
        try:
            kept = keep_acknowledgement(keep_ack, answer.report_id, answer.acknowledgement)
        except ConnectorError as exc:
            raise _fail(f"connector: {exc}") from None
        typer.echo(f"acknowledgement kept in {kept}")


def init(
    country: Annotated[str, typer.Option("--country", help="The profile's code, e.g. FR.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for keys and configs.")],
    hub_url: Annotated[str, typer.Option("--hub-url", help="The hub's base URL.")],
    hub_key: Annotated[
        Path,
        typer.Option("--hub-key", help="The hub's public key file, as received.", dir_okay=False),
    ],
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help="The key files' passphrase (mode 0600); made at random if missing. "
            "Default: OUT/passphrase.txt.",
            dir_okay=False,
        ),
    ] = None,
    profiles: ProfilesOption = None,
    ca_file: CaFileOption = None,
) -> None:
    """Set up a new member: encrypted keys, connector configs and a registration folder."""
    try:
        profile = selected_profiles(profiles).get(country)
        setup = init_member(
            profile,
            out=out,
            hub_url=hub_url,
            hub_key_file=hub_key,
            passphrase_file=passphrase_file,
            ca_file=ca_file,
        )
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(
        f"hub key id (read it to the hub operator by phone, and compare): {setup.hub_key_id}"
    )
    typer.echo(
        f"private keys encrypted with the passphrase in {setup.passphrase_file}: keep it apart "
        "from backups of the keys (a systemd credential, see deploy/README.md)"
    )
    for made in setup.recipients:
        typer.echo(f"{made.recipient_id}:")
        typer.echo(f"  sealing key id: {made.sealing_key_id}")
        typer.echo(f"  receipt key id: {made.receipt_key_id}")
        typer.echo(f"  connector config: {made.config_file}")
        typer.echo(f"  put the token the hub sends you in: {made.credential_file}")
    typer.echo(f"send this folder to the hub operator (public keys only): {setup.registration_dir}")


def render(
    config: Annotated[
        Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
    ],
    locale: Annotated[
        list[str] | None,
        typer.Option("--locale", help="Render in this language (repeatable); default: profile."),
    ] = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Also write PDFs.")] = True,
    profiles: ProfilesOption = None,
) -> None:
    """Render every stored report as HTML and PDF in the recipient's languages."""
    try:
        settings = load_config(config)
        reading = reading_for(settings.recipient_id, selected_profiles(profiles), settings)
        if locale:
            reading = Reading(locales=locale, timezone=reading.timezone)
        written = render_stored(settings, reading, pdf=pdf)
    except HubKeyNotTrusted as exc:
        raise _fail(f"connector: a stored packet no longer verifies: {exc}") from None
    except PacketInvalid:
        raise _fail("connector: a stored packet no longer verifies") from None
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(f"{len(written)} file(s) written in {', '.join(reading.locales)}")


def register_country_commands(app: typer.Typer) -> None:
    """Add `submit`, `init` and `render` to the `connector` command."""
    app.command()(submit)
    app.command()(init)
    app.command()(render)
