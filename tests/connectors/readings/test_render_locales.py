"""Renderings in the reader's language: labels and code values from the catalogues, dates and
numbers for the locale, the reporter's text as written, and the packet's evidence on each."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from connectors.cli.main import app
from connectors.readings.pdf import render_pdf
from connectors.readings.render import render_html, render_text
from hub.crypto import OpenedPacket, SealedPacket, sign_receipt
from hub.errors import PacketInvalid
from schemas.envelope import Envelope
from tests.connectors.conftest import FREE_TEXT, Parties, make_report, seal

RECEIVED_AT = datetime(2026, 11, 2, 9, 31, 7, tzinfo=UTC)
BEACH = {
    "country": "TH",
    "place": "Hua Hin",
    "place_kind": "beach",
    "date_from": "2026-10-20",
    "description": "Er gab den Kindern Geld.",
}
# Locale -> (a field label, the code value 'beach', the category, the date, the country).
EXPECTED = {
    "de": ("Art des Ortes", "Strand", "Reisen und Tourismus", "20. Oktober 2026", "Thailand"),
    "nl": ("Soort plaats", "strand", "reizen en toerisme", "20 oktober 2026", "Thailand"),
    "fr": ("Type de lieu", "plage", "voyages et tourisme", "20 octobre 2026", "Thaïlande"),
    "en": ("Kind of place", "beach", "travel and tourism", "October 20, 2026", "Thailand"),
}


def _packet(parties: Parties, **overrides: object) -> tuple[SealedPacket, OpenedPacket, Envelope]:
    report = make_report(**({"incident": BEACH} | overrides))
    sealed = seal(report, parties.recipient, parties.hub)
    opened = parties.open(sealed.envelope)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=RECEIVED_AT,
        key=parties.recipient.signing,
    )
    return sealed, opened, receipt


def _pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


Renderer = Callable[..., str]


@pytest.mark.parametrize("render", [render_text, render_html], ids=["text", "html"])
@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_labels_code_values_and_dates_are_in_the_readers_language(
    parties: Parties, locale: str, render: Renderer
) -> None:
    sealed, opened, receipt = _packet(parties)
    rendered = render(
        opened.report,
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        locale=locale,
        timezone="Europe/Brussels",
        envelope=sealed.envelope,
        receipt=receipt,
    )
    for expected in EXPECTED[locale]:
        assert expected in rendered
    assert "(2026-10-20)" in rendered  # the ISO date stays beside the local one
    assert FREE_TEXT in rendered  # the reporter's words, as written, in any locale


def test_the_reporters_text_is_marked_with_its_own_language(parties: Parties) -> None:
    _, opened, _ = _packet(parties)
    html = render_html(
        opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256, locale="fr"
    )
    assert '<html lang="fr">' in html
    assert f'<div class="free-text" lang="nl">{FREE_TEXT}</div>' in html
    assert "Texte de l&#39;auteur, tel qu&#39;écrit (langue : nl (néerlandais))" in html


@pytest.mark.parametrize("render", [render_text, render_html], ids=["text", "html"])
def test_the_evidence_carries_the_hub_signature_and_the_receipt(
    parties: Parties, render: Renderer
) -> None:
    sealed, opened, receipt = _packet(parties)
    rendered = render(
        opened.report,
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        locale="de",
        envelope=sealed.envelope,
        receipt=receipt,
    )
    for value in (
        str(opened.report.report_id),
        str(opened.body.packet_id),
        opened.body.sealed_at.isoformat(),
        opened.sealed_sha256,
        sealed.envelope.signatures[0].keyid,
        sealed.envelope.signatures[0].sig,
        RECEIVED_AT.isoformat(),
        receipt.signatures[0].keyid,
        receipt.signatures[0].sig,
    ):
        assert value in rendered
    assert "Schlüssel-ID der Hub-Signatur" in rendered


def test_without_a_receipt_the_evidence_says_there_is_none_yet(parties: Parties) -> None:
    _, opened, _ = _packet(parties)
    text = render_text(
        opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256, locale="nl"
    )
    assert "nog geen ontvangstbevestiging" in text
    assert "niet beschikbaar" in text  # the hub's signature, when the envelope is not given


def test_a_receipt_for_another_packet_is_refused(parties: Parties) -> None:
    _, opened, _ = _packet(parties)
    _, _, other_receipt = _packet(parties)
    with pytest.raises(PacketInvalid):
        render_text(
            opened.report,
            packet=opened.body,
            sealed_sha256=opened.sealed_sha256,
            receipt=other_receipt,
        )


def test_the_pdf_is_in_the_readers_language_with_the_evidence_and_ids_on_every_page(
    parties: Parties,
) -> None:
    long_description = "Er kam jeden Abend an den Strand. " * 250  # several pages
    sealed, opened, receipt = _packet(parties, incident={**BEACH, "description": long_description})
    pages = _pdf_text(
        render_pdf(
            opened.report,
            packet=opened.body,
            sealed_sha256=opened.sealed_sha256,
            locale="de",
            timezone="Europe/Vienna",
            envelope=sealed.envelope,
            receipt=receipt,
        )
    )
    assert len(pages) > 1
    text = "\n".join(pages)
    assert text.startswith(f"CTT-Meldung {opened.report.report_id}")
    for expected in EXPECTED["de"]:
        assert expected in text
    for value in (
        str(opened.body.packet_id),
        opened.sealed_sha256,
        sealed.envelope.signatures[0].keyid,
        receipt.signatures[0].keyid,
        RECEIVED_AT.isoformat(),
    ):
        assert value in text
    # The description flows over pages; without the page footers, every word of it is there.
    body = [line for page in pages for line in page.splitlines()[:-2]]
    flowing = " ".join(" ".join(body).split())
    assert flowing.count(long_description.split(".")[0]) == 250  # nothing cut at a page break
    for number, page in enumerate(pages, start=1):
        assert str(opened.report.report_id) in page
        assert opened.sealed_sha256 in page
        assert f"Seite {number} von {len(pages)}" in page


def test_the_pdf_shows_characters_no_font_has_as_visible_escapes(parties: Parties) -> None:
    _, opened, _ = _packet(parties, free_text="Ελληνικά, русский, ไทย, ሰላም \x1b[2J")
    text = "\n".join(
        _pdf_text(render_pdf(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256))
    )
    assert "Ελληνικά, русский, ไทย" in text  # Thai in its own Noto font (test_scripts.py)
    assert "\\u1230\\u120b\\u121d" in text  # Ethiopic, in no font: code points, not dropped
    assert "\\u001b[2J" in text


def test_connector_open_prints_a_pdf_in_the_chosen_language_with_the_receipt(
    parties: Parties, tmp_path: Path, write_packet: Callable[[Envelope], Path]
) -> None:
    sealed, _, receipt = _packet(parties)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(receipt.model_dump_json(), encoding="utf-8")
    out = tmp_path / "report.pdf"
    common = [
        "open",
        str(write_packet(sealed.envelope)),
        "--keys",
        str(parties.keys_file),
        "--hub-key",
        str(parties.hub_key_file),
        "--passphrase-file",
        str(parties.passphrase_file),
        "--format",
        "pdf",
    ]
    refused = CliRunner().invoke(app, common)
    assert refused.exit_code == 1
    assert "needs --out" in refused.stderr
    result = CliRunner().invoke(
        app, [*common, "--locale", "fr", "--receipt", str(receipt_file), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = "\n".join(_pdf_text(out.read_bytes()))
    assert "Type de lieu" in text
    assert receipt.signatures[0].keyid in text


def test_connector_open_refuses_a_locale_without_catalogue(
    parties: Parties, write_packet: Callable[[Envelope], Path]
) -> None:
    sealed, _, _ = _packet(parties)
    result = CliRunner().invoke(
        app,
        [
            "open",
            str(write_packet(sealed.envelope)),
            "--keys",
            str(parties.keys_file),
            "--hub-key",
            str(parties.hub_key_file),
            "--passphrase-file",
            str(parties.passphrase_file),
            "--locale",
            "it",
        ],
    )
    assert result.exit_code == 1
    assert "no catalogue for 'it'" in result.stderr
