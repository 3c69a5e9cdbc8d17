"""`hub report annual`: the annual report the network's standard S4 asks for, as JSON, HTML or
PDF, computed from this hub's database (the same figures as `GET /v1/reports/annual`)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from hub.errors import InvalidInput
from hub.oversight.annual import annual_report, processing_limit
from hub.oversight.annual_render import render_html, render_pdf
from hub.settings import Settings
from hub.store import make_engine

__all__ = ["report_app"]

report_app = typer.Typer(help="Reports of the network's figures.", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


@report_app.command("annual")
def annual_command(
    year: Annotated[
        int | None, typer.Option(help="The year, e.g. 2026 (UTC); default: this year.")
    ] = None,
    country: Annotated[
        str | None, typer.Option(help="One member country's line only, e.g. BE.")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", help="json, html or pdf.")] = (
        Format.json
    ),
    out: Annotated[
        Path | None, typer.Option(help="Write to a file (needed for pdf) instead of the terminal.")
    ] = None,
) -> None:
    """Per line and for the network: the year's reports by category, classification, country of
    the incident and routing rule; decisions, outcomes, processing time against 48 hours;
    packets, receipts and dead letters. Counts only, never content."""
    if output_format is Format.pdf and out is None:
        raise InvalidInput.at("--out", "a PDF is written to a file: give --out FILE")
    settings = Settings()
    now = datetime.now(UTC)
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            report = annual_report(
                session,
                year=now.year if year is None else year,
                now=now,
                limit_hours=processing_limit(settings),
                country=country.upper() if country else None,
            )
    finally:
        engine.dispose()
    if output_format is Format.pdf:
        assert out is not None
        out.write_bytes(render_pdf(report))
    else:
        text = (
            report.model_dump_json(indent=2) + "\n"
            if output_format is Format.json
            else render_html(report)
        )
        if out is None:
            typer.echo(text, nl=False)
            return
        out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the annual report {report.year} ({output_format.value}) to {out}")
