"""The PDF reading in the scripts of the places where incidents happen.

Thai, Khmer, Lao, Burmese, Devanagari and Arabic are set in their Noto fonts (Debian's
fonts-noto-core, which `make test` installs through deploy/dev/install-fonts.sh) and shaped by
HarfBuzz; the PDF embeds subsets only. Page 1 is saved as a picture in var/screenshots/ for a
person to look at. `connector render` prints its own progress, never fontTools' subsetting log.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from connectors.cli.main import app
from connectors.config import load_config
from connectors.errors import FontMissing
from connectors.readings.fonts import NOTO_DIR_VARIABLE, SCRIPT_FONTS, noto_dir
from connectors.readings.pdf import render_pdf
from connectors.recipient.pull import pull_until_empty
from schemas.envelope import Envelope
from schemas.report import Report
from tests.clock import SHIFT_VARIABLE
from tests.conftest import ROOT, LiveHub, choose_readable_files
from tests.connectors.conftest import Parties, make_report, seal
from tests.factories import report_body
from tests.faults.harness import CLOCKED

SCREENSHOTS = ROOT / "var" / "screenshots"
# Words as reporters quote them: a place, what was said, a name.
THAI = "พัทยา ซอยบัวขาว"  # Pattaya, Soi Buakhao: marks above and below the consonants
KHMER = "ភ្នំពេញ"  # Phnom Penh: subscript consonants (coeng)
LAO = "ວຽງຈັນ"  # Vientiane
BURMESE = "ရန်ကုန်"  # Yangon: the asat and the vowel signs reorder
DEVANAGARI = 'गोवा में "दीदी" कहा, दिल्ली'  # Goa, Delhi: a conjunct, the i sign before its letter
ARABIC = "قال: «تعال معي»"  # "he said: come with me", joined and right to left
# Measured: 58 KiB with the six scripts, 28 KiB in Latin letters only (most of it the subset of
# the variable Noto Sans). Whole, Noto Sans weighs 2 MiB and the five script fonts 0.6 MiB.
SIZE_BOUND = 80 * 1024


def _scripts_report() -> Report:
    return make_report(
        incident={
            "country": "TH",
            "place": f"{THAI} / {KHMER}",
            "place_kind": "beach",
            "date_from": "2026-10-20",
            "description": f"{DEVANAGARI}. {LAO}, {BURMESE}.",
        },
        suspects=[{"nationality": "NL", "name": "سامي", "approximate_age": 50}],
        text_language="ar",
        free_text=f"{ARABIC}\n{THAI}",
    )


def _pdf(parties: Parties) -> bytes:
    opened = parties.open(seal(_scripts_report(), parties.recipient, parties.hub).envelope)
    return render_pdf(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)


def _embedded_fonts(data: bytes) -> set[str]:
    """The base names of the fonts the PDF's pages use, e.g. '/MPDFAA+NotoSansThai'."""
    names: set[str] = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        resources: Any = page["/Resources"]
        names.update(str(font.get_object()["/BaseFont"]) for font in resources["/Font"].values())
    return names


def test_the_script_fonts_are_installed() -> None:
    missing = [f.file for f in SCRIPT_FONTS if not (noto_dir() / f.file).is_file()]
    assert missing == [], "run deploy/dev/install-fonts.sh (make test does)"


def test_the_pdf_sets_six_scripts_in_their_fonts_with_no_escapes_and_subsets_only(
    parties: Parties,
) -> None:
    data = _pdf(parties)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert not re.search(r"\\u[0-9a-f]{4}", text)
    assert THAI.split()[0] in text
    fonts = _embedded_fonts(data)
    families = {name.split("+", 1)[1].split("-")[0] for name in fonts if "+" in name}
    assert {f.family for f in SCRIPT_FONTS} <= families
    # Every TrueType font is a subset: its name carries the six-letter subset tag.
    assert all(re.match(r"/[A-Z]{6}\+", name) for name in fonts if "Noto" in name), fonts
    assert len(data) < SIZE_BOUND, len(data)


def test_page_one_is_saved_as_a_picture_to_look_at(parties: Parties, tmp_path: Path) -> None:
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm missing: run deploy/dev/install-fonts.sh (make test does)"
    pdf = tmp_path / "scripts.pdf"
    pdf.write_bytes(_pdf(parties))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = SCREENSHOTS / "reading-scripts"
    subprocess.run(
        [pdftoppm, "-png", "-r", "110", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(target)],
        check=True,
        timeout=60,
    )
    assert (SCREENSHOTS / "reading-scripts.png").stat().st_size > 10_000


def test_a_missing_script_font_is_one_clear_line(
    parties: Parties,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_packet: Callable[[Envelope], Path],
) -> None:
    monkeypatch.setenv(NOTO_DIR_VARIABLE, str(tmp_path / "no-fonts"))
    with pytest.raises(FontMissing, match=r"NotoSansThai-Regular\.ttf is missing from"):
        _pdf(parties)
    sealed = seal(_scripts_report(), parties.recipient, parties.hub)
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
            "--format",
            "pdf",
            "--out",
            str(tmp_path / "report.pdf"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"connector: the font NotoSansThai-Regular.ttf is missing from {tmp_path / 'no-fonts'}: "
        f"install Debian's fonts-noto-core (or set {NOTO_DIR_VARIABLE} to a folder that holds it)"
    ]
    assert not (tmp_path / "report.pdf").exists()


def test_a_pdf_without_other_scripts_needs_no_script_font(
    parties: Parties, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NOTO_DIR_VARIABLE, str(tmp_path / "no-fonts"))
    opened = parties.open(seal(make_report(), parties.recipient, parties.hub).envelope)
    data = render_pdf(opened.report, packet=opened.body, sealed_sha256=opened.sealed_sha256)
    assert {name.split("+")[-1] for name in _embedded_fonts(data)} == {"NotoSans", "/Courier"}


def test_connector_render_prints_its_own_progress_and_no_font_subsetting_log(
    live_hub: LiveHub,
) -> None:
    body = report_body("portal-nl", free_text=f"{THAI} {KHMER} {DEVANAGARI} {ARABIC}")
    with httpx.Client(base_url=live_hub.url, headers=live_hub.network.auth("portal-nl")) as hub:
        assert hub.post("/v1/reports", json=body).status_code == 202
    config_file = live_hub.network.connector_config("nl-police")
    choose_readable_files(config_file)
    pull_until_empty(load_config(config_file))
    result = subprocess.run(
        [*CLOCKED, "connectors", "render", "--config", str(config_file), "--locale", "en"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", SHIFT_VARIABLE: os.environ[SHIFT_VARIABLE]},
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # Its own progress: the summary line, and one JSON log line per report rendered.
    assert result.stdout.splitlines() == ["2 file(s) written in en"]
    events = [json.loads(line)["event"] for line in result.stderr.splitlines()]
    assert events == ["report_rendered"], result.stderr
    for chatter in ("glyf", "pruned", "subset"):
        assert chatter not in result.stdout + result.stderr
