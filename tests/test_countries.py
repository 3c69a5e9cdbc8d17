"""Each country's portal and the international platform, end to end over real HTTP on loopback:
every sample form, in each of the portal's languages, goes through `connector submit` (the
portal's mapping), is routed and delivered to exactly the expected recipients, and each police
liaison's `connector pull` stores, receipts and renders it in the liaison's own language(s)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
from pypdf import PdfReader
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.config import load_config
from connectors.countries.profiles import load_profiles
from tests.conftest import LiveHub, choose_readable_files

# Portal -> language of the sample form -> the recipients its report must reach.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "portal-at": {
        "de": {"at-police", "at-section"},  # Austrian suspect in Thailand
        "en": {"at-police", "at-section", "de-police", "de-section"},  # German living in AT
    },
    "portal-be": {
        "nl": {"be-police", "be-section"},  # Belgian suspect in the Philippines
        "fr": {"be-police", "be-section"},  # French suspect living in Belgium, in Morocco
        "en": {"nl-police", "nl-section", "be-section"},  # Dutch suspect; BE follows up
    },
    "portal-de": {
        "de": {"de-police", "de-section"},  # German volunteer at an orphanage in Cambodia
        "en": {"nl-police", "nl-section", "de-police", "de-section"},  # Dutch living in DE
    },
    "portal-nl": {
        "nl": {"nl-police", "nl-section"},  # Dutch suspect in Indonesia
        "en": {"be-police", "be-section", "nl-police", "nl-section"},  # Belgian living in NL
    },
    "platform-int": {
        "en": {"de-police", "de-section"},  # the reporter picked Germany; British suspect
        "de": {"nl-police", "nl-section"},  # Dutch suspect in Thailand
        "nl": {"be-police", "be-section"},  # Belgian suspect in Kenya
        "fr": {"at-police", "at-section"},  # Austrian suspect in Senegal
    },
}
# What a police liaison must read, per language: a field label and a translated code value
# (the place kind of a beach, and the category every sample has).
READS = {
    "de": ("Art des Ortes", "Reisen und Tourismus"),
    "nl": ("Soort plaats", "reizen en toerisme"),
    "fr": ("Type de lieu", "voyages et tourisme"),
}
POLICE_LANGUAGES = {"at-police": ["de"], "de-police": ["de"], "nl-police": ["nl"]} | {
    "be-police": ["nl", "fr"]
}


def _run(*args: str) -> str:
    result = CliRunner().invoke(connector, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _submit(hub: LiveHub, portal: str, form: Path) -> str:
    output = _run(
        "submit",
        str(form),
        "--portal",
        portal,
        "--hub-url",
        hub.url,
        "--credential",
        hub.network.entry(portal)["credential_file"],
        "--hub-key",
        str(hub.settings.hub_public_key_file),
    )
    assert "acknowledgement verified" in output
    found = re.search(r"report ([0-9a-f-]{36}) accepted", output)
    assert found is not None, output
    return found.group(1)


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(path.read_bytes())).pages)


def test_every_sample_form_reaches_its_recipients_and_reads_in_the_liaisons_language(
    live_hub: LiveHub,
) -> None:
    profiles = load_profiles()
    submitted: dict[tuple[str, str], str] = {}
    for portal in sorted(EXPECTED):
        profile, spec = profiles.portal(portal)
        assert set(spec.forms) == set(profile.languages) == set(EXPECTED[portal]), portal
        for language, form in spec.forms.items():
            submitted[(portal, language)] = _submit(live_hub, portal, profile.path(form))
    for recipient in live_hub.network.recipient_ids:
        police = recipient in POLICE_LANGUAGES
        choose_readable_files(live_hub.network.connector_config(recipient))
        config = str(live_hub.network.connector_config(recipient))
        # Police liaisons render what they pull (HTML here; the PDF is checked once below).
        _run("pull", "--config", config, "--no-pdf" if police else "--no-render")

    with httpx.Client(
        base_url=live_hub.url, headers=live_hub.network.auth("network-coordinator")
    ) as client:
        for (portal, language), report_id in submitted.items():
            status = client.get(f"/v1/reports/{report_id}/deliveries").json()
            delivered = {d["recipient_id"] for d in status["deliveries"]}
            assert delivered == EXPECTED[portal][language], (portal, language)
            assert {d["state"] for d in status["deliveries"]} == {"delivered"}

    for (portal, language), report_id in submitted.items():
        liaisons = sorted(EXPECTED[portal][language] & set(POLICE_LANGUAGES))
        assert liaisons, f"{portal} {language}: the sample reaches no police liaison"
        for recipient in liaisons:
            for locale in POLICE_LANGUAGES[recipient]:
                html = _reports(live_hub, recipient) / f"{report_id}.{locale}.html"
                label, category = READS[locale]
                text = html.read_text(encoding="utf-8")
                assert f'<html lang="{locale}">' in text, (portal, language, recipient)
                assert label in text, (portal, language, recipient, locale)
                assert category in text, (portal, language, recipient, locale)
                assert report_id in text

    # A code value, 'beach', as each liaison reads it; the reporter's words as written.
    at_beach = submitted[("platform-int", "fr")]  # Austrian suspect on a beach in Senegal
    be_beach = submitted[("platform-int", "nl")]  # Belgian suspect on a beach in Kenya
    assert "Strand" in (_reports(live_hub, "at-police") / f"{at_beach}.de.html").read_text()
    assert "strand" in (_reports(live_hub, "be-police") / f"{be_beach}.nl.html").read_text()
    assert "plage" in (_reports(live_hub, "be-police") / f"{be_beach}.fr.html").read_text()
    german = (_reports(live_hub, "at-police") / f"{at_beach}.de.html").read_text()
    assert "Sprache: fr (Französisch)" in german
    assert '<div class="free-text" lang="fr">Le gérant de la plage connaît cet homme.' in german


def test_a_police_liaisons_pull_also_prints_each_report_as_a_pdf_in_its_languages(
    live_hub: LiveHub,
) -> None:
    profile, spec = load_profiles().portal("portal-be")
    report_id = _submit(live_hub, "portal-be", profile.path(spec.forms["fr"]))
    choose_readable_files(live_hub.network.connector_config("be-police"))
    _run("pull", "--config", str(live_hub.network.connector_config("be-police")))
    for locale in ("nl", "fr"):
        label, category = READS[locale]
        pdf = _pdf_text(_reports(live_hub, "be-police") / f"{report_id}.{locale}.pdf")
        assert label in pdf
        assert category in pdf
        assert report_id in pdf
        assert "SHA-256" in pdf
    # Rendered again on demand, in a language asked for.
    config = str(live_hub.network.connector_config("be-police"))
    assert "1 file(s) written in en" in _run(
        "render", "--config", config, "--locale", "en", "--no-pdf"
    )
    english = (_reports(live_hub, "be-police") / f"{report_id}.en.html").read_text()
    assert "Kind of place" in english


def _reports(hub: LiveHub, recipient: str) -> Path:
    return load_config(hub.network.connector_config(recipient)).store_dir / "reports"
