"""A new country, France, goes from a profile written as data to its first receipt, with no
change to code: `connector init` makes its keys on the member's side, `hub recipients add`
registers the public halves, a test packet is sealed, pulled, opened and receipted over real
HTTP, and from then on routing and the working-day calendar know France."""

from __future__ import annotations

import json
import re
import shutil
import stat
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.config import load_config
from connectors.countries.profiles import load_profiles
from connectors.countries.workdays import working_days_between
from hub.cli.main import app as hub
from tests.conftest import ROOT, LiveHub, choose_readable_files
from tests.factories import report_body

EXAMPLE = Path(__file__).resolve().parents[1] / "docs/examples/profiles/fr/profile.toml"
FRANCE = """\
code = "FR"
name = "France"
country = "FR"
languages = ["fr", "en"]
timezone = "Europe/Paris"

[calendar]
holidays = "FR"
why = "French public holidays are national (Alsace-Moselle's two extra days do not apply in Paris)."

[[recipients]]
id = "fr-section"
kind = "section"
name = "France reporting line"
delivery_mode = "pull"
languages = ["fr", "en"]

[[recipients]]
id = "fr-police"
kind = "police"
name = "France police liaison"
delivery_mode = "pull"
languages = ["fr"]
"""


def _run(app: object, *args: str) -> str:
    result = CliRunner().invoke(app, list(args))  # type: ignore[arg-type]
    assert result.exit_code == 0, f"{args[0]}: {result.output} {result.exception!r}"
    return result.output


@pytest.fixture
def hub_env(live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """`hub` commands act on the live hub's data folder and database."""
    settings = live_hub.settings
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(settings.routing_policy))


def test_france_is_onboarded_from_its_profile_to_its_first_receipt_without_code_changes(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    (profiles / "fr").mkdir(parents=True)
    (profiles / "fr" / "profile.toml").write_text(FRANCE, encoding="utf-8")
    member = tmp_path / "fr-member"  # the French section's own machine

    # 1. The member makes its keys and a registration folder of public keys.
    _run(
        connector, "init", "--country", "FR", "--profiles", str(profiles), "--out", str(member),
        "--hub-url", live_hub.url, "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    registration = member / "registration"
    for recipient in ("fr-section", "fr-police"):
        private = member / recipient / f"{recipient}.keys.pem"
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    sent = "".join(p.read_text() for p in registration.iterdir())
    assert "private_key" not in sent

    # 2. The hub operator registers the public keys and issues tokens, sent back to the member.
    tokens = tmp_path / "tokens-for-fr"
    added = _run(hub, "recipients", "add", str(registration), "--credentials-out", str(tokens))
    assert "fr-police: registered" in added
    assert "FR: country profile registered: languages fr, en, calendar FR" in added
    (france,) = json.loads(_run(hub, "compliance", "report", "--country", "FR"))["countries"]
    assert france["profile"] == {
        "profile": "FR", "languages": ["fr", "en"], "timezone": "Europe/Paris", "calendar": "FR"
    }  # fmt: skip
    for recipient in ("fr-section", "fr-police"):
        shutil.copyfile(
            tokens / f"{recipient}.credential.txt", member / recipient / "credential.txt"
        )

    # 3. A test packet to the police liaison alone; it pulls, opens, stores and receipts it.
    assert "test packet" in _run(hub, "recipients", "test", "fr-police")
    police_config = member / "fr-police" / "connector.json"
    choose_readable_files(police_config)  # this line's procedure wants the rendered files
    pulled = _run(
        connector, "pull", "--config", str(police_config), "--profiles", str(profiles), "--no-pdf"
    )
    assert "1 new packet(s) stored" in pulled
    assert "receipt verified" in _run(hub, "recipients", "status", "fr-police")
    section = _run(connector, "pull", "--config", str(member / "fr-section" / "connector.json"))
    assert "0 new packet(s)" in section  # the test packet was for the police liaison only
    reports = load_config(police_config).store_dir / "reports"
    (rendered,) = reports.glob("*.fr.html")
    assert "TEST PACKET for fr-police" in rendered.read_text(encoding="utf-8")
    assert "Signalement CTT" in rendered.read_text(encoding="utf-8")

    # 4. France is a member now: a French suspect reported in Belgium reaches the French police.
    belgium, spec = load_profiles().portal("portal-be")
    routed = _run(
        connector, "submit", str(belgium.path(spec.forms["fr"])), "--portal", "portal-be",
        "--hub-url", live_hub.url,
        "--credential", live_hub.network.entry("portal-be")["credential_file"],
    )  # fmt: skip
    assert "-> fr-police (suspect-nationality)" in routed
    again = _run(
        connector, "pull", "--config", str(police_config), "--profiles", str(profiles), "--no-pdf"
    )
    assert "1 new packet(s) stored" in again


def test_the_documented_example_profile_is_the_one_onboarded_here() -> None:
    assert EXAMPLE.read_text(encoding="utf-8").split("\n", 1)[1] == FRANCE


def test_a_new_countrys_calendar_counts_its_own_holidays() -> None:
    """The working days of a profile added as data: 14 July is a day off in France."""
    paris = ZoneInfo("Europe/Paris")
    start, end = datetime(2026, 7, 13, 12, tzinfo=paris), datetime(2026, 7, 15, 12, tzinfo=paris)
    profiles = load_profiles([EXAMPLE.parent.parent])
    assert working_days_between("FR", start, end, profiles=profiles) == pytest.approx(1.0)
    assert working_days_between("NL", start, end, profiles=profiles) == pytest.approx(2.0)


def test_a_members_portal_in_its_registration_folder_is_registered_and_can_get_its_token(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    (profiles / "fr").mkdir(parents=True)
    portal = (
        '\n[[portals]]\nid = "portal-fr"\nname = "French reporting portal"\nmapping = "m.toml"\n'
    )
    (profiles / "fr" / "profile.toml").write_text(FRANCE + portal, encoding="utf-8")
    member = tmp_path / "fr-member"
    _run(
        connector, "init", "--country", "FR", "--profiles", str(profiles), "--out", str(member),
        "--hub-url", live_hub.url, "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    added = _run(
        hub, "recipients", "add", str(member / "registration"),
        "--credentials-out", str(tmp_path / "tokens"),
    )  # fmt: skip
    assert "portal-fr: source portal registered" in added
    token = tmp_path / "portal-fr.token"
    _run(hub, "credentials", "issue", "source", "portal-fr", "--out", str(token))
    assert stat.S_IMODE(token.stat().st_mode) == 0o600

    # The new portal's first report, over real HTTP: a French suspect, read by fr-police in French.
    shutil.copyfile(
        tmp_path / "tokens" / "fr-police.credential.txt", member / "fr-police" / "credential.txt"
    )
    body = report_body("portal-fr", nationalities=("FR",))
    answer = httpx.post(
        f"{live_hub.url}/v1/reports",
        json=body,
        headers={"Authorization": f"Bearer {token.read_text().strip()}"},
    )
    assert answer.status_code == 202, answer.text
    config = member / "fr-police" / "connector.json"
    assert "1 new packet(s) stored" in _run(connector, "pull", "--config", str(config))
    (stored,) = (load_config(config).store_dir / "packets").glob("*.json")
    reading = _run(connector, "open", "--config", str(config), stored.stem)  # French by default
    assert "Signalement CTT" in reading


def test_hub_sources_add_registers_a_portal_that_can_then_get_its_token(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    added = _run(
        hub, "sources", "add", "portal-lu", "--name", "Luxembourg portal", "--country", "lu"
    )
    assert "portal-lu: registered" in added
    _run(hub, "credentials", "issue", "source", "portal-lu", "--out", str(tmp_path / "lu.token"))
    again = CliRunner().invoke(hub, ["sources", "add", "portal-lu", "--name", "again"])
    assert again.exit_code != 0


def test_a_pull_without_profiles_reads_in_the_countrys_languages_and_local_time(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    profiles = tmp_path / "profiles"
    (profiles / "fr").mkdir(parents=True)
    (profiles / "fr" / "profile.toml").write_text(FRANCE, encoding="utf-8")
    member = tmp_path / "fr-member"
    _run(
        connector, "init", "--country", "FR", "--profiles", str(profiles), "--out", str(member),
        "--hub-url", live_hub.url, "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    tokens = tmp_path / "tokens"
    _run(hub, "recipients", "add", str(member / "registration"), "--credentials-out", str(tokens))
    shutil.copyfile(tokens / "fr-police.credential.txt", member / "fr-police" / "credential.txt")
    _run(hub, "recipients", "test", "fr-police")
    config = member / "fr-police" / "connector.json"
    choose_readable_files(config)
    assert "1 new packet(s) stored" in _run(connector, "pull", "--config", str(config), "--no-pdf")
    reports = load_config(config).store_dir / "reports"
    (rendered,) = reports.glob("*.fr.html")
    assert "Signalement CTT" in rendered.read_text(encoding="utf-8")
    (text,) = reports.glob("*.txt")
    (html,) = [p for p in reports.glob("*.html") if p.name.count(".") == 1]
    for copy in (text, html):
        content = copy.read_text(encoding="utf-8")
        assert "Signalement CTT" in content, copy.name
        assert "+01:00" in content or "Europe/Paris" in content, copy.name
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


def test_the_pull_unit_reads_the_config_where_connector_init_writes_it(
    live_hub: LiveHub, tmp_path: Path
) -> None:
    unit = (ROOT / "deploy/systemd/ctt-connector-pull@.service").read_text(encoding="utf-8")
    (start,) = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    out = Path("/var/lib/ctt")
    assert f"--config {out}/%i/connector.json" in start
    assert f"ReadWritePaths={out}" in unit
    member = tmp_path / "var-lib-ctt"  # the same layout, under a folder the test may write
    _run(
        connector, "init", "--country", "FR", "--profiles", str(EXAMPLE.parent.parent),
        "--out", str(member), "--hub-url", live_hub.url,
        "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    for recipient in ("fr-section", "fr-police"):
        assert (member / recipient / "connector.json").is_file()


def test_connector_open_out_writes_the_reading_owner_only(
    live_hub: LiveHub, hub_env: None, tmp_path: Path
) -> None:
    member = tmp_path / "fr-member"
    _run(
        connector, "init", "--country", "FR", "--profiles", str(EXAMPLE.parent.parent),
        "--out", str(member), "--hub-url", live_hub.url,
        "--hub-key", str(live_hub.settings.hub_public_key_file),
    )  # fmt: skip
    tokens = tmp_path / "tokens"
    _run(hub, "recipients", "add", str(member / "registration"), "--credentials-out", str(tokens))
    shutil.copyfile(tokens / "fr-police.credential.txt", member / "fr-police" / "credential.txt")
    tested = _run(hub, "recipients", "test", "fr-police")
    packet = re.search(r"test packet ([0-9a-f-]{36})", tested).group(1)  # type: ignore[union-attr]
    config = member / "fr-police" / "connector.json"
    _run(connector, "pull", "--config", str(config))
    for fmt in ("text", "html", "json"):
        out = tmp_path / f"reading.{fmt}"
        _run(connector, "open", "--config", str(config), packet, "--format", fmt, "--out", str(out))
        assert stat.S_IMODE(out.stat().st_mode) == 0o600, fmt
