"""The `connector` command: pull reports from the hub, or open one packet by hand; and, for the
country profiles (connectors.cli.countries), submit a portal's form, set up a member, render.

Failures end in one line on stderr and exit status 1, never a traceback: a traceback could show
a report being handled. Logs are JSON lines on stderr; the report itself goes to stdout only when
asked for with `connector open`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from connectors.cli.countries import ProfilesOption, register_country_commands, selected_profiles
from connectors.cli.evidence import evidence_app
from connectors.cli.forward import register_forward_commands
from connectors.cli.promise import register_promise_command
from connectors.cli.room import register_room_command
from connectors.cli.triage import register_triage_command
from connectors.config import ConnectorConfig, key_passphrase, load_config
from connectors.countries.profiles import Profile, RecipientSpec
from connectors.errors import ConfigInvalid, ConnectorError, FontMissing
from connectors.readings.pdf import render_pdf
from connectors.readings.render import render_html, render_text
from connectors.readings.translations import LocaleUnsupported
from connectors.recipient.pull import (
    PullResult,
    load_keys,
    open_with,
    primary_locale,
    pull_until_empty,
)
from connectors.recipient.readable import reading_for, render_stored
from connectors.recipient.receiver import create_receiver
from connectors.recipient.store import LocalStore, packet_file, write_atomic
from connectors.recipient.trust import (
    Chain,
    HubKeyNotTrusted,
    follow_chain,
    load_published_keys,
    untrusted_signer,
)
from hub.crypto import OpenedPacket, open_packet
from hub.errors import PacketInvalid
from hub.logs import configure_logging
from keys import (
    KeyFileError,
    create_passphrase_file,
    is_legacy_keyset,
    keyset_pem,
    load_keyset,
    load_public_keyset,
    read_passphrase,
)
from schemas.envelope import Envelope

REJECTED = "packet rejected: it does not verify or is not sealed to this key"
HUB_KEYS_HINT = (
    "; if the hub rotated its key, give --hub-keys with its published key history "
    "(GET /v1/hub/keys, or the connector's hub-trust.json)"
)

app = typer.Typer(
    name="connector",
    help="Pull sealed reports from the CTT hub, store them locally, and receipt them.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)
keys_app = typer.Typer(help="The connector's private key files.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(evidence_app, name="evidence")


class OutputFormat(StrEnum):
    """How `connector open` prints the report."""

    json = "json"
    text = "text"
    html = "html"
    pdf = "pdf"


def _fail(message: str) -> typer.Exit:
    # One line, whatever a library put into the message.
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def _summary(round_number: int, result: PullResult) -> str:
    return (
        f"round {round_number}: {len(result.stored)} stored, "
        f"{len(result.already_stored)} already stored, {len(result.rejected)} rejected"
    )


@app.command()
def pull(
    config: Annotated[
        Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
    ],
    render: Annotated[
        bool,
        typer.Option(
            "--render/--no-render",
            help="Also write each new report as HTML and PDF in the recipient's languages.",
        ),
    ] = True,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Render PDFs too.")] = True,
    profiles: ProfilesOption = None,
) -> None:
    """Pull every waiting packet, store it sealed, send receipts; with write_readable_reports,
    also write readable files of new reports and remove those past the profile's retention."""
    try:
        settings = load_config(config)
        total = pull_until_empty(
            settings, on_round=lambda n, result: typer.echo(_summary(n, result))
        )
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(
        f"{len(total.stored)} new packet(s) stored in {settings.store_dir / 'packets'}"
        + (f"; {len(total.rejected)} packet(s) rejected" if total.rejected else "")
        + (f"; {len(total.receipts_refused)} receipt(s) refused" if total.receipts_refused else "")
    )
    if not settings.write_readable_reports:
        typer.echo(f"reports kept sealed: read one with 'connector open --config {config} ID'")
        _exit_on_failures(total)
        return
    # Stored and receipted already: a rendering that fails does not undo the pull.
    try:
        found = selected_profiles(profiles)
        if render and total.stored:
            reading = reading_for(settings.recipient_id, found, settings)
            written = render_stored(settings, reading, total.stored, pdf=pdf)
            typer.echo(f"{len(written)} rendering(s) written in {', '.join(reading.locales)}")
        removed = _purge_readable(settings, found.recipient(settings.recipient_id))
    except (ConnectorError, PacketInvalid) as exc:
        raise _fail(f"connector: packets stored, but readable files failed: {exc}") from None
    if removed:
        typer.echo(f"{removed} readable file(s) past their retention removed")
    _exit_on_failures(total)


def _exit_on_failures(total: PullResult) -> None:
    """Exit 1 when a packet was rejected or a receipt refused: something waits undelivered."""
    if total.failed:
        # The reasons name ids and keys only.
        for problem in dict.fromkeys(total.problems):
            typer.echo(f"connector: {problem}", err=True)
        raise typer.Exit(code=1)


def _purge_readable(settings: ConnectorConfig, found: tuple[Profile, RecipientSpec] | None) -> int:
    """Remove readable files older than the profile's retention (30 days without a profile)."""
    days = found[0].readable_retention_days if found is not None else 30
    store = LocalStore(settings.store_dir, readable=True)
    return len(store.purge_readable(now=datetime.now(UTC), keep=timedelta(days=days)))


def _passphrase_for(keys: Path, passphrase_file: Path | None) -> bytes | None:
    """The passphrase from its file, or asked for when a person runs the command at a terminal."""
    if passphrase_file is not None:
        return read_passphrase(passphrase_file)
    if is_legacy_keyset(keys) or not sys.stdin.isatty():
        return None
    return str(typer.prompt(f"passphrase of {keys}", hide_input=True)).encode("utf-8")


def _open_file(
    packet_file: Path,
    keys: Path,
    hub_key: Path,
    hub_keys: Path | None,
    passphrase_file: Path | None,
) -> tuple[OpenedPacket, Envelope]:
    """Open one packet file in memory, trusting the pinned hub key and the keys the published
    list `hub_keys` chains from it. Raises HubKeyNotTrusted saying why, PacketInvalid,
    KeyFileError for unusable keys, or ConfigInvalid for an unreadable key list."""
    own = load_keyset(keys, _passphrase_for(keys, passphrase_file))
    hub = load_public_keyset(hub_key)
    if own.sealing is None:
        raise KeyFileError(f"{keys}: no sealing key, packets cannot be opened")
    try:
        envelope = Envelope.model_validate_json(packet_file.read_bytes())
    except (OSError, ValidationError) as exc:
        raise PacketInvalid() from exc
    pinned = {hub.signing_key_id: hub.signing}
    chain = (
        follow_chain(pinned, load_published_keys(hub_keys))
        if hub_keys is not None
        else Chain(trusted=pinned)
    )
    if not {s.keyid for s in envelope.signatures} & chain.trusted.keys():
        hint = "" if hub_keys is not None else HUB_KEYS_HINT
        raise HubKeyNotTrusted(untrusted_signer(envelope, pinned, chain) + hint)
    return open_packet(envelope, hub_keys=chain.trusted, private=own.sealing), envelope


def _open_stored(config_file: Path, packet: str) -> tuple[OpenedPacket, Envelope, Envelope | None]:
    """Open a stored packet (its id, or a file) with the config's keys, in memory.

    Raises ConnectorError for an unusable config, PacketInvalid for a packet that fails.
    """
    settings = load_config(config_file)
    keys = load_keys(settings)
    store = LocalStore(settings.store_dir)
    path = Path(packet) if Path(packet).is_file() else packet_file(store, packet)
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise PacketInvalid() from exc
    # Every configured key: a packet pulled before a rotation opens with a previous key file.
    opened = open_with(envelope, keys, settings.recipient_id)
    return opened, envelope, store.receipt_for(opened.body.packet_id)


@app.command("open")
def open_command(
    packet: Annotated[
        str,
        typer.Argument(help="A packet envelope file, or with --config a stored packet's id."),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Open with this connector's keys and store.", dir_okay=False),
    ] = None,
    keys: Annotated[
        Path | None, typer.Option("--keys", help="Your private key file.", dir_okay=False)
    ] = None,
    hub_key: Annotated[
        Path | None,
        typer.Option(
            "--hub-key", help="The hub's public key file you pinned (hub.pub.json).", dir_okay=False
        ),
    ] = None,
    hub_keys: Annotated[
        Path | None,
        typer.Option(
            "--hub-keys",
            help="The hub's published key history (GET /v1/hub/keys, or a connector's "
            "hub-trust.json): keys endorsed in a chain from --hub-key are trusted too.",
            dir_okay=False,
        ),
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help="The key file's passphrase (mode 0600); asked for at a terminal if not given.",
            dir_okay=False,
        ),
    ] = None,
    output: Annotated[
        OutputFormat, typer.Option("--format", help="How to print the report.")
    ] = OutputFormat.text,
    locale: Annotated[
        str | None,
        typer.Option(
            "--locale",
            help="Language of the rendering: de, en, fr or nl (default: the config's first).",
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone", help="IANA time zone for the times shown (default: the config's, or UTC)."
        ),
    ] = None,
    receipt: Annotated[
        Path | None,
        typer.Option(
            "--receipt", help="Your receipt of the packet, for the evidence.", dir_okay=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write to this file, mode 0600 (needed for pdf).", dir_okay=False
        ),
    ] = None,
) -> None:
    """Verify and open one packet sealed to your key, in memory, and print the report."""
    receipt_envelope: Envelope | None = None
    try:
        if config is not None:
            opened, envelope, receipt_envelope = _open_stored(config, packet)
            settings = load_config(config)
            locale = locale or primary_locale(settings)
            timezone = timezone or settings.timezone
        elif keys is None or hub_key is None:
            raise _fail("connector: give --config, or both --keys and --hub-key")
        else:
            opened, envelope = _open_file(Path(packet), keys, hub_key, hub_keys, passphrase_file)
        if receipt is not None:
            receipt_envelope = Envelope.model_validate_json(receipt.read_bytes())
    except (KeyFileError, ConnectorError) as exc:
        raise _fail(f"connector: {exc}") from None
    except HubKeyNotTrusted as exc:
        # Key ids and the broken link only: what the member needs to see, nothing of the report.
        raise _fail(f"{REJECTED}: {exc}") from None
    except (PacketInvalid, OSError, ValidationError):
        raise _fail(REJECTED) from None
    locale, timezone = locale or "en", timezone or "UTC"
    report, body, digest = opened.report, opened.body, opened.sealed_sha256
    if output is OutputFormat.json:
        _emit(report.model_dump_json(indent=2), out)
        return
    if output is OutputFormat.pdf and out is None:
        raise _fail("connector: --format pdf needs --out FILE")
    evidence = {"envelope": envelope, "receipt": receipt_envelope}
    try:
        if output is OutputFormat.pdf:
            assert out is not None
            document = render_pdf(
                report,
                packet=body,
                sealed_sha256=digest,
                locale=locale,
                timezone=timezone,
                **evidence,
            )
            write_atomic(out, document)
            typer.echo(f"written: {out}")
            return
        render = render_html if output is OutputFormat.html else render_text
        rendered = render(
            report,
            packet=body,
            sealed_sha256=digest,
            locale=locale,
            timezone=timezone,
            **evidence,
        )
    except (LocaleUnsupported, FontMissing) as exc:
        raise _fail(f"connector: {exc}") from None
    except PacketInvalid:
        raise _fail("connector: the receipt is not about this packet") from None
    except OSError as exc:
        raise _fail(f"connector: cannot write {out}: {exc.strerror}") from None
    _emit(rendered, out)


def _emit(text: str, out: Path | None) -> None:
    """Print the opened report, or write it owner-only to the file a person asked for."""
    if out is None:
        typer.echo(text)
        return
    try:
        write_atomic(out, (text if text.endswith("\n") else text + "\n").encode("utf-8"))
    except OSError as exc:
        raise _fail(f"connector: cannot write {out}: {exc.strerror}") from None
    typer.echo(f"written: {out}")


@keys_app.command("protect")
def keys_protect(
    config: Annotated[
        Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
    ],
    passphrase_file: Annotated[
        Path | None,
        typer.Option(
            "--passphrase-file",
            help="Where the passphrase is (made at random if missing), when the config names "
            "none yet; it is added to the config.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Convert the config's old plain JSON key files to encrypted PKCS#8 PEM, in place."""
    try:
        settings = load_config(config)
        passphrase = key_passphrase(settings)
        if passphrase is None:
            if passphrase_file is None:
                raise ConfigInvalid("the config names no passphrase: give --passphrase-file")
            passphrase = create_passphrase_file(passphrase_file)
            _add_passphrase_file(config, passphrase_file)
        converted = [
            path
            for path in [settings.keys_file, *settings.previous_keys_files]
            if _protect(path, passphrase)
        ]
    except (KeyFileError, ConnectorError) as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(f"{len(converted)} key file(s) encrypted" + "".join(f"\n  {p}" for p in converted))


def _protect(path: Path, passphrase: bytes) -> bool:
    """Rewrite one legacy key file encrypted; False if it already is. Raises KeyFileError."""
    if not is_legacy_keyset(path):
        load_keyset(path, passphrase)  # already protected: check that this passphrase opens it
        return False
    keys = load_keyset(path)
    name = path.name.split(".")[0]
    try:
        write_atomic(path, keyset_pem(keys, name=name, passphrase=passphrase))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot rewrite ({exc.strerror})") from exc
    return True


def _add_passphrase_file(config: Path, passphrase_file: Path) -> None:
    """Name the passphrase file in the config (absolute: the config may live elsewhere)."""
    document = json.loads(config.read_text(encoding="utf-8"))
    document["passphrase_file"] = str(passphrase_file.resolve())
    try:
        write_atomic(config, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise ConfigInvalid(f"{config}: cannot rewrite ({exc.strerror})") from exc


@app.command()
def serve(
    config_path: Annotated[Path, typer.Option("--config", help="The connector's config file.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8100,
) -> None:
    """Receive pushed packets at /packets until interrupted (put TLS in front of it)."""
    try:
        receiver = create_receiver(load_config(config_path))
    except ConnectorError as exc:
        raise _fail(str(exc)) from exc
    uvicorn.run(receiver, host=host, port=port, log_config=None, access_log=False)


register_country_commands(app)
register_forward_commands(app)
register_triage_command(app)
register_room_command(app)
register_promise_command(app)


def main() -> None:
    """Run the `connector` command with JSON logs on stderr."""
    configure_logging()
    # Our own events carry the ids that matter; httpx's request lines would only repeat URLs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
