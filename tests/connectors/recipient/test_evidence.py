"""A report's evidence bundle, over real HTTP on loopback: a Belgian report reaches be-section and
be-police, be-section forwards it to nl-police and deletes its copy, the hub exports the bundle
(`hub evidence export`), and `connector evidence verify` checks it offline. It passes as made and
fails, each with its own reason, on a flipped byte, a missing receipt, a proof against another
tree head and a key outside its validity."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from nacl.signing import SigningKey
from typer.testing import CliRunner

from connectors.cli.main import app as connector
from connectors.config import ConnectorConfig, load_config
from connectors.errors import EvidenceInvalid
from connectors.recipient.evidence import parse_bundle, verify_bundle
from connectors.recipient.forward import forward_report
from connectors.recipient.pull import load_keys, pull_until_empty
from hub.cli.demo import play_demo
from hub.cli.main import app as hub_cli
from hub.crypto import sign_envelope, verify_envelope
from hub.http.app import create_app
from hub.http.server import serving
from hub.network.keyring import load_hub_secrets, rotate_hub_key
from hub.settings import Settings
from keys import fingerprint, load_public_keyset
from schemas.envelope import (
    HUB_KEY_TYPE,
    PACKET_TYPE,
    AcknowledgementBody,
    Envelope,
    HubKeyEndorsement,
    PacketBody,
    PublishedHubKey,
)
from schemas.evidence import EvidenceBundle
from tests.conftest import ROOT, LiveHub
from tests.connectors.doc_examples import doc_example, imported_modules, run_example
from tests.factories import report_body
from tests.hub.cli.test_demo import free_port

MARKER = "EVIDENCE-MARKER-2b9d-never-in-a-bundle"


@dataclass
class Exported:
    """A report's way through the demo network, and its bundle as the hub exported it."""

    hub: LiveHub
    report_id: str
    bundle: Path
    hub_key: Path  # the hub's public key file the members pinned
    folder: Path

    def config(self, recipient: str) -> ConnectorConfig:
        return load_config(self.hub.network.connector_config(recipient))

    def config_file(self, recipient: str) -> Path:
        return self.hub.network.connector_config(recipient)

    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.bundle.read_text(encoding="utf-8"))
        return data

    def export(self, name: str) -> Path:
        out = self.folder / name
        result = CliRunner().invoke(
            hub_cli, ["evidence", "export", self.report_id, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        return out

    def write(self, document: dict[str, Any], name: str = "changed.json") -> Path:
        path = self.folder / name
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        return path


def verify(path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(connector, ["evidence", "verify", str(path), *args])
    return result.exit_code, result.output


def _stored_copy(config: ConnectorConfig, report_id: str) -> str:
    """The packet id of the copy from intake a connector holds of a report."""
    keys = load_keys(config)
    for path in sorted((config.store_dir / "packets").glob("*.json")):
        envelope = Envelope.model_validate_json(path.read_bytes())
        body = PacketBody.model_validate_json(verify_envelope(envelope, PACKET_TYPE, keys.hub))
        if str(body.report_id) == report_id and not body.forwarded:
            return str(body.packet_id)
    raise AssertionError("no stored copy")


@pytest.fixture
def exported(live_hub: LiveHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Exported:
    body = report_body("portal-be", nationalities=("BE",), free_text=MARKER)
    answer = httpx.post(
        f"{live_hub.url}/v1/reports",
        json=body,
        headers=live_hub.network.auth("portal-be"),
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    report_id = answer.json()["report_id"]
    configs = {
        r: load_config(live_hub.network.connector_config(r))
        for r in ("be-section", "be-police", "nl-police")
    }
    for recipient in ("be-section", "be-police"):
        assert not pull_until_empty(configs[recipient]).failed
    forward_report(
        configs["be-section"],
        _stored_copy(configs["be-section"], report_id),
        to_recipient_id="nl-police",
        classification="sexual_exploitation.travel_and_tourism",
        delete_copy=True,
    )
    assert not pull_until_empty(configs["nl-police"]).failed
    monkeypatch.setenv("HUB_DATA_DIR", str(live_hub.settings.data_dir))
    monkeypatch.setenv("HUB_DATABASE_URL", live_hub.settings.resolved_database_url)
    made = Exported(
        hub=live_hub,
        report_id=report_id,
        bundle=tmp_path / "unused",
        hub_key=live_hub.network.listing_path.parent / "hub.pub.json",
        folder=tmp_path,
    )
    made.bundle = made.export("evidence.json")
    return made


def test_a_demo_bundle_verifies_offline_and_holds_no_report_content(exported: Exported) -> None:
    status, output = verify(exported.bundle, "--hub-key", str(exported.hub_key))
    assert status == 0, output
    assert output.startswith(f"EVIDENCE VERIFIED: report {exported.report_id}")
    assert (
        "3 packet(s), 3 receipt(s) matching their packets, 1 forward(s), 1 copy deletion(s)"
        in output
    )
    assert "routed to be-police, be-section" in output
    text = exported.bundle.read_text(encoding="utf-8")
    assert MARKER not in text
    document = exported.document()
    assert document["format"] == "ctt-hub-evidence/1"
    kinds = {json.loads(e["entry"])["kind"] for e in document["entries"]}
    assert {
        "report_accepted",
        "packet_sealed",
        "receipt_verified",
        "forward_accepted",
        "copy_deleted",
        "key_registered",
    } <= kinds


def test_with_a_recipients_keys_the_report_opened_is_the_one_acknowledged(
    exported: Exported,
) -> None:
    acknowledgement = AcknowledgementBody.model_validate_json(
        base64.b64decode(exported.document()["acknowledgement"]["payload"])
    )
    for recipient, kind in (("be-police", "copy"), ("nl-police", "forward")):
        status, output = verify(exported.bundle, "--config", str(exported.config_file(recipient)))
        assert status == 0, output
        shown = f"holds the report acknowledged (commitment root {acknowledgement.commitment_root})"
        assert f"opened as {recipient}: {kind} " in output, output
        assert shown in output, output
    status, output = verify(exported.bundle, "--config", str(exported.config_file("de-police")))
    assert status == 1
    assert output.strip() == "EVIDENCE REJECTED: no packet of the bundle is for de-police to open"


def _flip(text: str, at: int) -> str:
    """One base64 character changed: a different byte where it decodes."""
    swapped = "B" if text[at] != "B" else "C"
    return text[:at] + swapped + text[at + 1 :]


Change = Callable[[dict[str, Any]], None]

FLIPS: dict[str, tuple[Change, str]] = {
    "the ciphertext of a packet": (
        lambda d: d["packets"][0]["envelope"].update(
            payload=_flip(d["packets"][0]["envelope"]["payload"], 400)
        ),
        "its signature does not verify with a hub key trusted from the pinned key",
    ),
    "a receipt": (
        lambda d: d["packets"][1]["receipt"].update(
            payload=_flip(d["packets"][1]["receipt"]["payload"], 40)
        ),
        "is not the one audit entry",
    ),
    "an audit entry": (
        lambda d: d["entries"][2].update(entry=d["entries"][2]["entry"].replace('"v":1', '"v":2')),
        "its inclusion proof does not reach the signed tree head",
    ),
    "a step of a proof": (
        lambda d: d["entries"][0].update(
            audit_path=[
                ("0" if h[0] != "0" else "1") + h[1:] for h in d["entries"][0]["audit_path"]
            ]
        ),
        "its inclusion proof does not reach the signed tree head",
    ),
    "the tree head's signature": (
        lambda d: d["tree_head"]["signatures"][0].update(
            sig=_flip(d["tree_head"]["signatures"][0]["sig"], 10)
        ),
        "the tree head: its signature does not verify",
    ),
    "the acknowledgement": (
        lambda d: d["acknowledgement"].update(payload=_flip(d["acknowledgement"]["payload"], 30)),
        "the acknowledgement: its signature does not verify",
    ),
}


@pytest.mark.parametrize("where", sorted(FLIPS))
def test_a_flipped_byte_fails_with_its_reason(exported: Exported, where: str) -> None:
    change, reason = FLIPS[where]
    document = exported.document()
    change(document)
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1, output
    assert output.startswith("EVIDENCE REJECTED: "), output
    assert reason in output, output
    assert len(output.strip().splitlines()) == 1


UNSIGNED: dict[str, Change] = {
    "a delivery's state": lambda d: d["packets"][0].update(state="dead"),
    "the time of export": lambda d: d.update(exported_at=d["exported_at"].replace("T10", "T11")),
    "a packet's rules": lambda d: d["packets"][0].update(rules=["incident-country"]),
    "a deletion's time recorded": lambda d: d["copy_deletions"][0].update(
        recorded_at=d["copy_deletions"][0]["deleted_at"]
    ),
}


@pytest.mark.parametrize("where", sorted(UNSIGNED))
def test_a_change_that_no_other_signature_covers_fails_on_the_hubs_statement(
    exported: Exported, where: str
) -> None:
    document = exported.document()
    UNSIGNED[where](document)
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1, output
    assert output.startswith("EVIDENCE REJECTED: the bundle is not the one the hub exported"), (
        output
    )


def test_one_flipped_bit_anywhere_in_the_file_fails(exported: Exported) -> None:
    """Every 7th byte of the file, one bit flipped at a time: none verifies."""
    data = exported.bundle.read_bytes()
    public = load_public_keyset(exported.hub_key)
    pinned = {public.signing_key_id: public.signing}
    verify_bundle(parse_bundle(data), pinned)  # as exported
    passed = []
    for at in range(0, len(data), 7):
        changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        try:
            verify_bundle(parse_bundle(changed), pinned)
        except EvidenceInvalid:
            continue
        passed.append(at)
    assert passed == [], [data[max(0, at - 20) : at + 20] for at in passed[:3]]


def test_a_missing_receipt_fails_naming_the_packet(exported: Exported) -> None:
    document = exported.document()
    packet = next(
        p
        for p in document["packets"]
        if p["recipient_id"] == "be-police" and p["rules"] != ["forward"]
    )
    packet["receipt"] = None
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1
    assert (
        f"packet {packet['packet_id']} (be-police): its receipt is missing, though audit entry"
        in output
    )


def test_a_packet_left_out_fails(exported: Exported) -> None:
    document = exported.document()
    left_out = document["packets"].pop(0)
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1
    assert f"packet {left_out['packet_id']}: recorded sealed, but not in the bundle" in output


def test_proofs_against_another_tree_head_fail(exported: Exported) -> None:
    later = json.loads(exported.export("later.json").read_text(encoding="utf-8"))
    document = exported.document()
    assert later["tree_head"] != document["tree_head"]  # the second export signed a larger head
    document["tree_head"] = later["tree_head"]
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1
    assert "its inclusion proof does not reach the signed tree head (size" in output


def test_a_hub_key_signing_outside_its_validity_fails(exported: Exported) -> None:
    """An old hub key that signs after the key replacing it took over, as a thief of a retired
    key would: the history says when each key was valid, signed by the key before."""
    document = exported.document()
    old = load_hub_secrets(exported.hub.settings)[0].signing_key
    accepted_at = AcknowledgementBody.model_validate_json(
        base64.b64decode(document["acknowledgement"]["payload"])
    ).accepted_at
    first = PublishedHubKey.model_validate(document["hub_keys"]["keys"][-1])
    takeover = first.valid_from + (accepted_at - first.valid_from) / 2  # after it, before the ack
    new = SigningKey.generate()
    key_id = fingerprint("ed25519", bytes(new.verify_key))
    public = base64.b64encode(bytes(new.verify_key)).decode("ascii")
    endorsement = sign_envelope(
        HUB_KEY_TYPE, HubKeyEndorsement(key_id=key_id, public_key=public, valid_from=takeover), old
    )
    successor = PublishedHubKey(
        key_id=key_id, public_key=public, valid_from=takeover, endorsement=endorsement
    )
    document["hub_keys"]["keys"].append(successor.model_dump(mode="json", exclude_none=True))
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1
    assert "the acknowledgement: signed at " in output, output
    assert "outside its validity" in output, output


def test_a_bundle_exported_after_a_hub_key_rotation_verifies_from_the_first_key(
    exported: Exported,
) -> None:
    first = load_hub_secrets(exported.hub.settings)[0].signing_key
    # From just after the first export, the last thing the first key signed.
    takeover = EvidenceBundle.model_validate_json(exported.bundle.read_bytes()).exported_at
    rotated = rotate_hub_key(exported.hub.settings, takeover + timedelta(microseconds=1))
    bundle = exported.export("after-rotation.json")
    status, output = verify(bundle, "--hub-key", str(exported.hub_key))
    assert status == 0, output
    assert fingerprint("ed25519", bytes(first.verify_key)) in output
    assert rotated.key_id in output


def test_a_file_that_is_not_a_bundle_fails_in_one_line(exported: Exported) -> None:
    document = exported.document()
    del document["tree_head"]
    status, output = verify(exported.write(document), "--hub-key", str(exported.hub_key))
    assert status == 1
    assert output.strip() == "EVIDENCE REJECTED: not an evidence bundle: tree_head: Field required"


def test_without_a_pinned_key_it_trusts_the_bundles_first_key_and_says_so(
    exported: Exported,
) -> None:
    status, output = verify(exported.bundle)
    assert status == 0, output
    assert "warning: no hub key pinned: trusted the bundle's first hub key" in output


EXAMPLE_MARKER = "<!-- evidence-example -->"
EXAMPLE_IMPORTS = {"base64", "datetime", "hashlib", "json", "sys", "nacl"}


def _run_example(
    exported: Exported, bundle: Path, folder: Path
) -> subprocess.CompletedProcess[str]:
    """docs/protocol.md's evidence example as written, on one bundle, with the pinned hub key."""
    files = {
        "hub-public-keys.json": exported.hub_key.read_bytes(),
        "evidence.json": bundle.read_bytes(),
    }
    return run_example(doc_example(EXAMPLE_MARKER), folder, files)


def test_the_protocols_evidence_example_imports_only_pynacl_and_the_stdlib() -> None:
    assert imported_modules(doc_example(EXAMPLE_MARKER)) <= EXAMPLE_IMPORTS


def test_the_protocols_evidence_example_verifies_the_bundle_and_rejects_a_changed_one(
    exported: Exported,
) -> None:
    checked = _run_example(exported, exported.bundle, exported.folder / "as-made")
    assert checked.returncode == 0, checked.stderr
    verdict = json.loads(checked.stdout)
    assert verdict["verified"] is True
    assert (verdict["report_id"], verdict["packets"], verdict["receipts"]) == (
        exported.report_id,
        3,
        3,
    )
    for name, change, reason in (
        ("flipped", FLIPS["the ciphertext of a packet"][0], "not signed by a trusted hub key"),
        ("no-receipt", lambda d: d["packets"][0].update(receipt=None), "its receipt is missing"),
        ("other-head", lambda d: d.update(tree_head=_later_head(exported)), "does not reach"),
        ("a-state", UNSIGNED["a delivery's state"], "not the one the hub exported"),
    ):
        document = exported.document()
        change(document)
        checked = _run_example(
            exported, exported.write(document, f"{name}.json"), exported.folder / name
        )
        assert checked.returncode == 1, (name, checked.stdout)
        assert checked.stderr.startswith("evidence rejected: "), (name, checked.stderr)
        assert reason in checked.stderr, (name, checked.stderr)


def _later_head(exported: Exported) -> Any:
    return json.loads(exported.export("later.json").read_text(encoding="utf-8"))["tree_head"]


def test_every_report_of_the_demo_has_a_bundle_that_verifies_as_make_run_leaves_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network `make run` plays: each sample report exported and verified, by anyone with the
    hub's key, and by each recipient with its own keys."""
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HUB_ROUTING_POLICY", str(ROOT / "deploy" / "routing.toml"))
    port = free_port()
    result = CliRunner().invoke(
        hub_cli, ["init", "--demo", "--hub-url", f"http://127.0.0.1:{port}"]
    )
    assert result.exit_code == 0, result.output
    listing_path = tmp_path / "var" / "demo" / "recipients.json"
    with serving(create_app(Settings()), port=port) as url:
        outcomes = play_demo(url, listing_path)
    configs = {
        entry["id"]: entry["connector_config"]
        for entry in json.loads(listing_path.read_text(encoding="utf-8"))["recipients"]
    }
    hub_key = str(listing_path.parent / "hub.pub.json")
    for outcome in outcomes:
        out = tmp_path / f"{outcome.report_id}.json"
        exported = CliRunner().invoke(
            hub_cli, ["evidence", "export", outcome.report_id, "--out", str(out)]
        )
        assert exported.exit_code == 0, exported.output
        status, output = verify(out, "--hub-key", hub_key)
        assert status == 0, (outcome.label, output)
        for recipient, _ in outcome.deliveries:
            status, output = verify(out, "--config", configs[recipient])
            assert status == 0, (outcome.label, recipient, output)
            assert f"opened as {recipient}: copy " in output
