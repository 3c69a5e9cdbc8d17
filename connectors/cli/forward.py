"""`connector forward` and `connector verify-forward`: pass a received report on through the
hub, and check a received forward offline against the hub's commitment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from connectors.config import load_config
from connectors.errors import ConnectorError
from connectors.recipient.forward import forward_report
from connectors.recipient.forwarded import open_forward
from connectors.recipient.pull import load_keys
from connectors.recipient.store import LocalStore, packet_file
from hub.errors import PacketInvalid
from keys import KeyFileError, load_public_keyset
from schemas.envelope import Envelope

__all__ = ["register_forward_commands"]

ConfigOption = Annotated[
    Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
]


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def forward(
    packet_id: Annotated[str, typer.Argument(help="The stored packet of the report to forward.")],
    config: ConfigOption,
    to: Annotated[str, typer.Option("--to", help="The section or police desk to forward to.")],
    classification: Annotated[
        str | None, typer.Option(help="The network's classification code for the report.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="A note for the next recipient.")] = None,
    share_contact: Annotated[
        bool,
        typer.Option(
            "--share-contact/--withhold-contact",
            help="Pass on the reporter's contact details (only where the reporter consented).",
        ),
    ] = False,
    delete_copy: Annotated[
        bool,
        typer.Option(
            "--delete-copy/--keep-copy",
            help="Delete this copy afterwards and tell the hub, where the procedure says so.",
        ),
    ] = False,
    to_key: Annotated[
        Path | None,
        typer.Option(
            "--to-key",
            help="The next recipient's public key file, pinned out of band (else the hub's).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Forward a stored report to a section or police desk through the hub, sealed to it and
    signed with this connector's key; the hub cannot read it."""
    try:
        pinned = None
        if to_key is not None:
            public = load_public_keyset(to_key)
            if public.sealing is None:
                raise _fail(f"connector: {to_key} holds no sealing key")
            pinned = public.sealing
        result = forward_report(
            load_config(config),
            packet_id,
            to_recipient_id=to,
            classification=classification,
            note=note,
            share_contact=share_contact,
            delete_copy=delete_copy,
            to_key=pinned,
        )
    except (ConnectorError, PacketInvalid, KeyFileError) as exc:
        raise _fail(f"connector: {exc}") from None
    typer.echo(
        f"forward {result.answer.forward_id} of report {result.answer.report_id} accepted for "
        f"{result.answer.to_recipient_id}"
        + (f"; withheld: {', '.join(result.withheld)}" if result.withheld else "")
    )
    if result.deleted is not None:
        typer.echo(
            f"copy deleted ({len(result.removed)} file(s)); the hub recorded it at "
            f"{result.deleted.recorded_at.isoformat()}"
        )


def verify_forward(
    packet: Annotated[str, typer.Argument(help="A stored forwarded packet's id, or its file.")],
    config: ConfigOption,
) -> None:
    """Verify a received forward offline against the hub's signed commitment and print what was
    disclosed, withheld and added (content: to stdout only, on this machine)."""
    try:
        settings = load_config(config)
        keys = load_keys(settings)
        path = (
            Path(packet)
            if Path(packet).is_file()
            else packet_file(LocalStore(settings.store_dir), packet)
        )
        try:
            envelope = Envelope.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise PacketInvalid("not a stored packet") from exc
        opened = open_forward(
            envelope, hub_keys=keys.hub, sealing=keys.sealing, recipient_id=settings.recipient_id
        )
    except (ConnectorError, PacketInvalid) as exc:
        raise _fail(f"forward rejected: {exc}") from None
    verdict: dict[str, Any] = {
        "verdict": "VERIFIED",
        "report_id": str(opened.forward.report_id),
        "forwarded_by": opened.forwarder_id,
        "forwarded_at": opened.forward.forwarded_at.isoformat(),
        "commitment_root": opened.commitment.root,
        "committed_at": opened.commitment.committed_at.isoformat(),
        "withheld": opened.opening.withheld,
        "added": opened.opening.additions.model_dump(mode="json"),
        "disclosed": opened.fields,
    }
    typer.echo(json.dumps(verdict, indent=2, ensure_ascii=False))


def register_forward_commands(app: typer.Typer) -> None:
    """Add `forward` and `verify-forward` to the `connector` command."""
    app.command()(forward)
    app.command("verify-forward")(verify_forward)
