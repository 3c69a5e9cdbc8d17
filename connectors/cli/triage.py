"""`connector triage`: record the first receiver's decision on a stored report (forward, needs
information, close) with the network's classification code, forwarding it if so decided."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from connectors.config import load_config
from connectors.errors import ConnectorError
from connectors.recipient.triage import triage_report
from hub.errors import PacketInvalid
from keys import KeyFileError, load_public_keyset
from schemas.classification import Decision

__all__ = ["register_triage_command"]


class DecisionOption(StrEnum):
    """The decision as typed on the command line."""

    forward = "forward"
    needs_information = "needs-information"
    close = "close"


def _fail(message: str) -> typer.Exit:
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code=1)


def triage(
    packet_id: Annotated[str, typer.Argument(help="The stored packet of the report.")],
    config: Annotated[
        Path, typer.Option("--config", help="The connector's JSON config file.", dir_okay=False)
    ],
    decision: Annotated[DecisionOption, typer.Option("--decision", help="What this line decided.")],
    classification: Annotated[
        str,
        typer.Option(help="The network's classification code (docs/classification.md)."),
    ],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Reason code: why it is closed, or what information is missing."
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="For a forward: the section or police desk.")
    ] = None,
    note: Annotated[
        str | None, typer.Option(help="For a forward: a note for its receiver.")
    ] = None,
    share_contact: Annotated[
        bool,
        typer.Option(
            "--share-contact/--withhold-contact",
            help="For a forward: pass on the reporter's contact details (only with consent).",
        ),
    ] = False,
    delete_copy: Annotated[
        bool,
        typer.Option(
            "--delete-copy/--keep-copy",
            help="For a forward: delete this copy afterwards and tell the hub.",
        ),
    ] = False,
    to_key: Annotated[
        Path | None,
        typer.Option(
            "--to-key", help="For a forward: the receiver's public key file.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Record this line's triage decision on a stored report, classified with the network's
    common codes; with --decision forward, pass the report on through the hub as well."""
    try:
        pinned = None
        if to_key is not None:
            public = load_public_keyset(to_key)
            if public.sealing is None:
                raise _fail(f"connector: {to_key} holds no sealing key")
            pinned = public.sealing
        result = triage_report(
            load_config(config),
            packet_id,
            decision=Decision(decision.value.replace("-", "_")),
            classification=classification,
            reason_code=reason,
            to_recipient_id=to,
            note=note,
            share_contact=share_contact,
            delete_copy=delete_copy,
            to_key=pinned,
        )
    except (ConnectorError, PacketInvalid, KeyFileError) as exc:
        raise _fail(f"connector: {exc}") from None
    recorded = result.decision
    typer.echo(
        f"decision {recorded.decision_id} on report {recorded.report_id} recorded at "
        f"{recorded.recorded_at.isoformat()}: {recorded.decision.value}, {recorded.classification}"
        + (f", reason {recorded.reason_code}" if recorded.reason_code else "")
    )
    if result.forward is not None:
        answer = result.forward.answer
        typer.echo(
            f"forward {answer.forward_id} accepted for {answer.to_recipient_id}"
            + (
                f"; withheld: {', '.join(result.forward.withheld)}"
                if result.forward.withheld
                else ""
            )
        )
        if result.forward.deleted is not None:
            typer.echo(
                f"copy deleted ({len(result.forward.removed)} file(s)); the hub recorded it at "
                f"{result.forward.deleted.recorded_at.isoformat()}"
            )


def register_triage_command(app: typer.Typer) -> None:
    """Add `triage` to the `connector` command."""
    app.command()(triage)
