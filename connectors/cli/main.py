"""The `connector` command: pull reports from the hub, or open one packet by hand; and, for the
country profiles (connectors.cli.countries), submit a portal's form, set up a member, render.

Failures end in one line on stderr and exit status 1, never a traceback: a traceback could show
a report being handled. Logs are JSON lines on stderr; the report itself goes to stdout only when
asked for with `connector open`.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from connectors.cli.countries import ProfilesOption, register_country_commands, selected_profiles
from connectors.config import load_config
from connectors.errors import ConnectorError
from connectors.readings.pdf import render_pdf
from connectors.readings.render import render_html, render_text
from connectors.readings.translations import LocaleUnsupported
from connectors.recipient.pull import PullResult, pull_until_empty
from connectors.recipient.readable import reading_for, render_stored
from connectors.recipient.receiver import create_receiver
from hub.crypto import OpenedPacket, open_packet
from hub.errors import PacketInvalid
from hub.logs import configure_logging
from keys import KeyFileError, load_keyset, load_public_keyset
from schemas.envelope import Envelope

REJECTED = "packet rejected: it does not verify or is not sealed to this key"

app = typer.Typer(
    name="connector",
    help="Pull sealed reports from the CTT hub, store them locally, and receipt them.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
)


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
    """Pull every waiting packet, store the reports, send receipts, and render new reports."""
    try:
        settings = load_config(config)
        total = pull_until_empty(
            settings, on_round=lambda n, result: typer.echo(_summary(n, result))
        )
    except ConnectorError as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(
        f"{len(total.stored)} new report(s) stored in {settings.store_dir / 'reports'}"
        + (f"; {len(total.rejected)} packet(s) rejected" if total.rejected else "")
        + (f"; {len(total.receipts_refused)} receipt(s) refused" if total.receipts_refused else "")
    )
    if render and total.stored:
        # Stored and receipted already: a rendering that fails does not undo the pull.
        try:
            reading = reading_for(settings.recipient_id, selected_profiles(profiles))
            written = render_stored(settings, reading, total.stored, pdf=pdf)
        except (ConnectorError, PacketInvalid) as exc:
            raise _fail(f"connector: reports stored, but rendering failed: {exc}") from None
        typer.echo(f"{len(written)} rendering(s) written in {', '.join(reading.locales)}")
    if total.failed:
        # The reasons name ids and keys only. Exit 1: something waits at the hub undelivered.
        for problem in dict.fromkeys(total.problems):
            typer.echo(f"connector: {problem}", err=True)
        raise typer.Exit(code=1)


def _open_file(packet_file: Path, keys: Path, hub_key: Path) -> OpenedPacket:
    """Open one packet file. Raises PacketInvalid, or KeyFileError for an unusable key file."""
    own = load_keyset(keys)
    hub = load_public_keyset(hub_key)
    if own.sealing is None:
        raise KeyFileError(f"{keys}: no sealing key, packets cannot be opened")
    try:
        envelope = Envelope.model_validate_json(packet_file.read_bytes())
    except (OSError, ValidationError) as exc:
        raise PacketInvalid() from exc
    return open_packet(envelope, hub_keys={hub.signing_key_id: hub.signing}, private=own.sealing)


@app.command("open")
def open_command(
    packet_file: Annotated[
        Path, typer.Argument(help="A packet envelope, as JSON.", dir_okay=False)
    ],
    keys: Annotated[Path, typer.Option("--keys", help="Your private key file.", dir_okay=False)],
    hub_key: Annotated[
        Path, typer.Option("--hub-key", help="The hub's public key file.", dir_okay=False)
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="How to print the report.")
    ] = OutputFormat.text,
    locale: Annotated[
        str, typer.Option("--locale", help="Language of the rendering: de, en, fr or nl.")
    ] = "en",
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone for the times shown.")
    ] = "UTC",
    receipt: Annotated[
        Path | None,
        typer.Option(
            "--receipt", help="Your receipt of the packet, for the evidence.", dir_okay=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (needed for pdf).", dir_okay=False),
    ] = None,
) -> None:
    """Verify and open one packet sealed to your key, and print the report."""
    try:
        opened = _open_file(packet_file, keys, hub_key)
        envelope = Envelope.model_validate_json(packet_file.read_bytes())
        receipt_envelope = (
            Envelope.model_validate_json(receipt.read_bytes()) if receipt is not None else None
        )
    except KeyFileError as exc:
        raise _fail(f"connector: {exc}") from None
    except (PacketInvalid, OSError, ValidationError):
        raise _fail(REJECTED) from None
    report, packet, digest = opened.report, opened.body, opened.sealed_sha256
    if output is OutputFormat.json:
        typer.echo(report.model_dump_json(indent=2))
        return
    if output is OutputFormat.pdf and out is None:
        raise _fail("connector: --format pdf needs --out FILE")
    evidence = {"envelope": envelope, "receipt": receipt_envelope}
    try:
        if output is OutputFormat.pdf:
            assert out is not None
            out.write_bytes(
                render_pdf(
                    report,
                    packet=packet,
                    sealed_sha256=digest,
                    locale=locale,
                    timezone=timezone,
                    **evidence,
                )
            )
            typer.echo(f"written: {out}")
            return
        render = render_html if output is OutputFormat.html else render_text
        rendered = render(
            report,
            packet=packet,
            sealed_sha256=digest,
            locale=locale,
            timezone=timezone,
            **evidence,
        )
    except LocaleUnsupported as exc:
        raise _fail(f"connector: {exc}") from None
    except PacketInvalid:
        raise _fail("connector: the receipt is not about this packet") from None
    if out is not None:
        out.write_text(rendered, encoding="utf-8")
        typer.echo(f"written: {out}")
    else:
        typer.echo(rendered)


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


def main() -> None:
    """Run the `connector` command with JSON logs on stderr."""
    configure_logging()
    # Our own events carry the ids that matter; httpx's request lines would only repeat URLs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app()
