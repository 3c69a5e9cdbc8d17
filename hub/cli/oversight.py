"""`hub audit` (verify and export the audit log) and `hub compliance` (report and declare)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from nacl.signing import VerifyKey
from pydantic import ValidationError
from sqlmodel import Session

from connectors.client import tls_context
from connectors.errors import ConnectorError
from connectors.portal.promise import (
    CANNOT_CHECK,
    EXIT_CODES,
    check_promise,
    fetch_hub_keys,
    read_acknowledgement,
    verdict_line,
)
from hub.audit.log import AuditCheck, SignedTreeHead, record_check
from hub.audit.verify import (
    AuditVerdict,
    export_log,
    fetch_live,
    format_verdict,
    read_export,
    trusted_hub_keys,
    verify_log,
    verify_stored,
)
from hub.errors import ConfigurationError, HubError
from hub.network.keyring import published_keys
from hub.oversight.compliance import ComplianceReport, compliance_report, judge_for
from hub.oversight.quality import DeclarationIn, Period, declare
from hub.settings import Settings
from hub.store import make_engine
from keys import KeyFileError, load_public_keyset

__all__ = ["audit_app", "compliance_app", "render_csv", "render_html"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
compliance_app = typer.Typer(help="The network's quality criteria.", no_args_is_help=True)


@contextmanager
def _session(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()


def _read_state(path: Path | None) -> SignedTreeHead | None:
    if path is None or not path.exists():
        return None
    try:
        return SignedTreeHead.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigurationError(f"{path}: not a tree head saved by hub audit verify") from exc


def _write_state(path: Path | None, verdict: AuditVerdict) -> None:
    if path is None or verdict.latest is None or not verdict.verified:
        return
    path.write_text(verdict.latest.model_dump_json(indent=2) + "\n", encoding="utf-8")


@audit_app.command("verify")
def verify(
    export: Annotated[
        Path | None, typer.Argument(help="An exported log (hub audit export); default: this hub.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Verify a live hub over its API, e.g. http://127.0.0.1:8000.")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option(help="The coordinator's credential file, with --url.")
    ] = None,
    hub_key: Annotated[
        Path | None,
        typer.Option(
            help="The hub's public key file you trust (hub.pub.json), pinned out of band."
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            help="A file keeping the last tree head seen: the next run checks against it."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            help="With --url: PEM certificates to trust for the hub's TLS instead of the "
            "system's (a private CA, or the hub's self-signed certificate).",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check the audit log: every entry included, every tree head signed and consistent with the
    last one seen, every receipt valid against its recipient's key of its time."""
    last_seen = _read_state(state)
    pinned = None
    if hub_key is not None:
        try:
            public = load_public_keyset(hub_key)
        except KeyFileError as exc:
            raise ConfigurationError(str(exc)) from exc
        pinned = {public.signing_key_id: public.signing}
    if url is not None:
        verdict, source = _verify_live(url, token_file, pinned, last_seen, ca_file)
    elif export is not None:
        exported = read_export(export)
        trusted = trusted_hub_keys(exported.hub_keys, pinned)
        verdict = verify_log(
            exported.entries, exported.tree_heads, exported.hub_keys, trusted, last_seen=last_seen
        )
        source = str(export)
    else:
        settings = Settings()
        with _session(settings) as session:
            verdict = verify_stored(
                session,
                published_keys(settings),
                last_seen=last_seen,
                high_water=settings.signed_head_file,
            )
            record_check(
                session,
                AuditCheck(
                    checked_at=datetime.now(UTC),
                    checked_by="hub audit verify",
                    tree_size=verdict.entries,
                    verified=verdict.verified,
                    problems=verdict.problems,
                ),
            )
        source = settings.shown_database_url
    if pinned is None and (url is not None or export is not None):
        verdict.warnings.append("no --hub-key given: trusted the hub keys the log itself names")
    typer.echo(format_verdict(verdict, source=source))
    _write_state(state, verdict)
    if not verdict.verified:
        raise typer.Exit(1)


def _verify_live(
    url: str,
    token_file: Path | None,
    pinned: Mapping[str, VerifyKey] | None,
    last_seen: SignedTreeHead | None,
    ca_file: Path | None,
) -> tuple[AuditVerdict, str]:
    if token_file is None:
        raise ConfigurationError("--url needs --token-file: the coordinator's credential")
    token = token_file.read_text(encoding="utf-8").strip()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        trust = tls_context(ca_file)
    except ConnectorError as exc:
        raise ConfigurationError(f"--ca-file {exc}") from exc
    with httpx.Client(
        base_url=url, headers=headers, timeout=30, follow_redirects=False, verify=trust
    ) as client:
        live = fetch_live(client, last_seen=last_seen)
    trusted = trusted_hub_keys(live.published, pinned)
    verdict = verify_log(live.entries, live.heads, live.published, trusted, last_seen=last_seen)
    verdict.problems += live.proof_problems
    verdict.verified = not verdict.problems
    return verdict, url


@audit_app.command("verify-promise")
def verify_promise_command(
    acknowledgement_file: Annotated[
        Path,
        typer.Argument(
            help="A report's signed acknowledgement (or the whole intake answer holding it).",
            dir_okay=False,
        ),
    ],
    url: Annotated[
        str,
        typer.Option("--url", "--hub-url", help="The hub's base URL, e.g. https://hub.example."),
    ],
    token_file: Annotated[
        Path,
        typer.Option(
            help="The credential of the report's source, or of a coordinator.", dir_okay=False
        ),
    ],
    hub_key: Annotated[
        Path | None,
        typer.Option(
            help="The hub's public key file you trust (hub.pub.json), pinned out of band."
        ),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(
            help="PEM certificates to trust for the hub's TLS instead of the system's.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Check the hub's promise, signed in a report's acknowledgement, that the report's audit
    entry is in a tree head signed by the promised deadline. Exit 0 kept, 1 broken (evidence
    against the hub), 2 could not check, 3 not yet due (docs/audit.md)."""
    try:
        acknowledgement = read_acknowledgement(acknowledgement_file)
        published = fetch_hub_keys(url, ca_file=ca_file)
        pinned = None
        if hub_key is not None:
            public = load_public_keyset(hub_key)
            pinned = {public.signing_key_id: public.signing}
        verdict = check_promise(
            acknowledgement,
            hub_url=url,
            token=token_file.read_text(encoding="utf-8").strip(),
            trusted=trusted_hub_keys(published, pinned),
            now=datetime.now(UTC),
            ca_file=ca_file,
        )
    except (ConnectorError, HubError, KeyFileError, OSError) as exc:
        typer.echo(f"cannot check the promise: {_one_line(exc)}", err=True)
        raise typer.Exit(CANNOT_CHECK) from None
    if hub_key is None:
        typer.echo("warning: no --hub-key given: trusted the keys the hub publishes", err=True)
    typer.echo(verdict_line(verdict))
    raise typer.Exit(EXIT_CODES[verdict.state.value])


def _one_line(exc: Exception) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())


@audit_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="Where to write the log (JSON).")],
) -> None:
    """Write the whole log, its signed tree heads and the hub's public keys to one file."""
    settings = Settings()
    with _session(settings) as session:
        exported = export_log(session, published_keys(settings), datetime.now(UTC))
    out.write_text(exported.model_dump_json(indent=1) + "\n", encoding="utf-8")
    typer.echo(
        f"wrote {len(exported.entries)} entries and {len(exported.tree_heads)} signed tree heads "
        f"to {out}"
    )


class Format(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


def render_csv(report: ComplianceReport) -> str:
    """One row per country and criterion."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["period", "country", "criterion", "group", "source", "verdict", "judged", "threshold",
         "threshold_kind", "evidence", "figures", "declared_on", "evidence_url", "records"]
    )  # fmt: skip
    for card in report.countries:
        for v in card.verdicts:
            declaration = v.evidence.declaration
            writer.writerow(
                [
                    report.period,
                    card.country,
                    v.criterion,
                    v.group,
                    v.source,
                    v.verdict.value,
                    v.judged,
                    v.threshold,
                    v.threshold_kind,
                    v.evidence.summary,
                    json.dumps(v.evidence.figures, sort_keys=True),
                    declaration.stated_on.isoformat() if declaration else "",
                    (declaration.evidence_url or "") if declaration else "",
                    " ".join(v.evidence.records),
                ]
            )
    return out.getvalue()


def render_html(report: ComplianceReport) -> str:
    """A standalone page: the scorecard and each verdict's evidence."""
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parents[1] / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    css = (Path(__file__).parents[1] / "templates" / "dashboard.css").read_text(encoding="utf-8")
    return environment.get_template("compliance_report.html").render(report=report, css=css)


@compliance_app.command("report")
def report_command(
    period: Annotated[
        str | None, typer.Option(help="2026, 2026-Q4 or 2026-11; default: this quarter.")
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", help="json, csv or html.")] = (
        Format.json
    ),
    out: Annotated[
        Path | None, typer.Option(help="Write to a file instead of the terminal.")
    ] = None,
    country: Annotated[list[str] | None, typer.Option(help="Only these countries.")] = None,
) -> None:
    """Per member country and criterion: met, not met or unknown, with the evidence."""
    settings = Settings()
    now = datetime.now(UTC)
    with _session(settings) as session:
        report = compliance_report(
            session,
            period=Period.parse(period) if period else Period.containing(now),
            now=now,
            judge=judge_for(settings, published_keys(settings)),
            countries=country or None,
        )
    text = {
        Format.json: lambda: report.model_dump_json(indent=2) + "\n",
        Format.csv: lambda: render_csv(report),
        Format.html: lambda: render_html(report),
    }[output_format]()
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {report.period} compliance report to {out}")


@compliance_app.command("declare")
def declare_command(
    country: Annotated[str, typer.Argument(help="The member country, e.g. AT.")],
    criterion: Annotated[str, typer.Argument(help="S1, S3, S4, S5, S6, S7, S9 or S12.")],
    stated_on: Annotated[
        datetime, typer.Option(formats=["%Y-%m-%d"], help="The statement's date.")
    ],
    evidence: Annotated[str | None, typer.Option(help="A link to the evidence.")] = None,
    languages: Annotated[str | None, typer.Option(help="S12: e.g. de,en.")] = None,
    last_training: Annotated[
        datetime | None, typer.Option(formats=["%Y-%m-%d"], help="S9: date of the last training.")
    ] = None,
    not_holding: Annotated[bool, typer.Option(help="The line does not meet it.")] = False,
    by: Annotated[str, typer.Option(help="Who states it (the section's id).")] = "administrator",
) -> None:
    """Record a section's declaration (dated, with evidence) on its behalf."""
    try:
        declaration = DeclarationIn.model_validate(
            {
                "criterion": criterion,
                "stated_on": stated_on.date(),
                "holds": not not_holding,
                "evidence_url": evidence,
                "languages": languages.split(",") if languages else None,
                "last_training": last_training.date() if last_training else None,
            }
        )
    except ValidationError as exc:
        raise HubError(f"invalid declaration: {exc.errors()[0]['msg']}") from exc
    settings = Settings()
    with _session(settings) as session:
        stored = declare(
            session,
            country=country.upper(),
            declaration=declaration,
            declared_by=by,
            now=datetime.now(UTC),
        )
    typer.echo(f"{stored.country} {stored.criterion}: declared on {stored.stated_on} by {by}")
