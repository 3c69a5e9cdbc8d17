"""`hub evidence export`: one report's evidence bundle, for a prosecutor or a court."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from sqlmodel import Session

from hub.errors import ConfigurationError
from hub.network.keyring import load_hub_secrets
from hub.oversight.evidence import export_evidence
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["evidence_app"]

evidence_app = typer.Typer(
    help="Evidence bundles: a report's way, verifiable offline.", no_args_is_help=True
)


@evidence_app.command("export")
def export_command(
    report_id: Annotated[UUID, typer.Argument(help="The report's id.")],
    out: Annotated[Path, typer.Option(help="Where to write the bundle (JSON).", dir_okay=False)],
) -> None:
    """Write one report's evidence bundle: its acknowledgement, packets (sealed), receipts,
    forwards, audit entries with proofs to a tree head signed now, and the hub's keys. Check it
    with `connector evidence verify FILE --hub-key hub.pub.json`."""
    settings = Settings()
    secrets, published = load_hub_secrets(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            bundle = export_evidence(
                session,
                report_id=str(report_id),
                published=published,
                key=secrets.signing_key,
                now=datetime.now(UTC),
                actor="administrator",
                role="administrator",
                high_water=settings.signed_head_file,
            )
    finally:
        engine.dispose()
    # Ciphertext and metadata only, as `hub audit export` writes: no content to protect here.
    try:
        out.write_text(bundle.model_dump_json(indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {out}: {exc.strerror}") from exc
    typer.echo(
        f"wrote the evidence of report {report_id} to {out}: {len(bundle.packets)} packet(s), "
        f"{sum(p.receipt is not None for p in bundle.packets)} receipt(s), "
        f"{len(bundle.forwards)} forward(s), {len(bundle.entries)} audit entries"
    )
