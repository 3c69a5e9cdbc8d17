"""Renderings show every field, the reporter's text as written, and the evidence block."""

from __future__ import annotations

import pytest

from connectors.readings.pdf import render_pdf
from connectors.readings.render import build_view, render_html, render_text
from hub.crypto import OpenedPacket
from tests.connectors.conftest import DESCRIPTION, FREE_TEXT, Parties, make_report, seal

CONTACT = {
    "kind": "contact",
    "name": "Jan Jansen",
    "phone": "+31 20 123 4567",
    "email": "jan@example.org",
    "consent_to_contact": True,
    "preferred_language": "de",
}
FULL_SUSPECT = {
    "nationality": "NL",
    "residence_country": "BE",
    "description": "Tall, grey hair, red cap",
    "approximate_age": 57,
    "name": "Mr. X",
    "vehicle_or_travel": "Rented blue scooter",
}


def _opened(parties: Parties, **overrides: object) -> OpenedPacket:
    return parties.open(seal(make_report(**overrides), parties.recipient, parties.hub).envelope)


def _both(opened: OpenedPacket) -> list[str]:
    return [
        render_text(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256),
        render_html(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256),
    ]


@pytest.mark.parametrize("kind", ["text", "html"])
def test_renderings_carry_the_evidence_block_and_the_free_text(parties: Parties, kind: str) -> None:
    opened = _opened(parties)
    rendered = dict(zip(["text", "html"], _both(opened), strict=True))[kind]
    for value in (
        str(opened.report.report_id),
        str(opened.body.packet_id),
        opened.body.recipient_id,
        opened.body.sealed_at.isoformat(),
        opened.body.recipient_key_id,
        opened.sealed_sha256,
        FREE_TEXT,
        DESCRIPTION,
    ):
        assert value in rendered
    assert "Sealed SHA-256" in rendered
    assert "nl (Dutch)" in rendered


def test_every_field_of_a_full_report_is_shown(parties: Parties) -> None:
    opened = _opened(
        parties,
        reporter=CONTACT,
        suspects=[FULL_SUSPECT, {"nationality": "DE"}],
        incident={
            "country": "TH",
            "place": "Pattaya",
            "place_kind": "private_home",
            "date_from": "2026-10-20",
            "date_to": "2026-10-22",
            "description": DESCRIPTION,
        },
        children={"count": 3, "approximate_ages": [9, 12], "gender": "mixed"},
    )
    expected = [
        "portal-nl",
        "2026-11-01T10:00:00+00:00",
        "travel and tourism",
        "Jan Jansen",
        "+31 20 123 4567",
        "jan@example.org",
        "de (German)",
        "TH (Thailand)",
        "Pattaya",
        "private home",
        "2026-10-20",
        "2026-10-22",
        "NL (Netherlands)",
        "BE (Belgium)",
        "Tall, grey hair, red cap",
        "57",
        "Mr. X",
        "Rented blue scooter",
        "DE (Germany)",
        "Suspect 2",
        "9, 12",
        "mixed",
        "Consents to contact",
    ]
    for rendered in _both(opened):
        missing = [value for value in expected if value not in rendered]
        assert not missing


def test_html_escapes_markup_in_the_reporters_text(parties: Parties) -> None:
    opened = _opened(parties, free_text='<script>alert("x")</script> & <b>bold</b>')
    html = render_html(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)
    assert "<script>" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html
    assert 'lang="nl"' in html
    assert "default-src 'none'" in html


def test_text_keeps_the_reporters_lines_but_shows_terminal_controls_visibly(
    parties: Parties,
) -> None:
    opened = _opened(parties, free_text="first line\n  second line\n\x1b[2Jcleared?\x07")
    text = render_text(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)
    assert "first line\n  second line\n" in text
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\\u001b[2Jcleared?\\u0007" in text


def test_a_report_without_free_text_says_so(parties: Parties) -> None:
    opened = _opened(parties, free_text=None, text_language=None)
    for rendered in _both(opened):
        assert "(none)" in rendered
        assert "language: not stated" in rendered


HOSTILE_TEXT = "paid \u202e0001 EUR\u202c to \x1b[31mhim\x1b[0m"


def test_every_reading_neutralises_bidi_and_control_characters_and_says_so(
    parties: Parties,
) -> None:
    opened = _opened(parties, free_text=HOSTILE_TEXT)
    for rendered in _both(opened):
        assert "\u202e" not in rendered
        assert "\u202c" not in rendered
        assert "\x1b" not in rendered
        assert "\\u202e0001 EUR\\u202c" in rendered
        assert "4 control or text-direction characters were replaced" in rendered
    view = build_view(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)
    assert view.free_text is not None
    assert "\u202e" not in view.free_text, "the PDF is drawn from the view"
    assert view.neutralised_note is not None
    render_pdf(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)


def test_a_reading_of_ordinary_text_carries_no_neutralisation_note(parties: Parties) -> None:
    opened = _opened(parties)
    for rendered in _both(opened):
        assert "were replaced" not in rendered
