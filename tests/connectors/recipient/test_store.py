"""The local store keeps each report once per packet, privately, and never half-written."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.errors import StoreFailed
from connectors.recipient.store import LocalStore
from hub.crypto import OpenedPacket, sign_receipt
from schemas.envelope import Envelope
from schemas.report import Report
from tests.connectors.conftest import Parties, make_report, seal

RECEIVED_AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _opened(parties: Parties) -> tuple[OpenedPacket, Envelope, Envelope]:
    sealed = seal(make_report(), parties.recipient, parties.hub)
    opened = parties.open(sealed.envelope)
    receipt = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=RECEIVED_AT,
        key=parties.recipient.signing,
    )
    return opened, sealed.envelope, receipt


def _all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_saving_a_packet_lays_out_report_renderings_receipt_and_packet(
    tmp_path: Path, parties: Parties
) -> None:
    store = LocalStore(tmp_path / "store", readable=True)
    opened, envelope, receipt = _opened(parties)
    store.save(opened, envelope, receipt)
    packet_id, report_id = opened.body.packet_id, opened.report.report_id
    root = tmp_path / "store"
    assert _all_files(root) == sorted(
        [
            root / "packets" / f"{packet_id}.json",
            root / "receipts" / f"{packet_id}.json",
            root / "reports" / f"{report_id}.json",
            root / "reports" / f"{report_id}.txt",
            root / "reports" / f"{report_id}.html",
        ]
    )
    stored = Report.model_validate_json((root / "reports" / f"{report_id}.json").read_bytes())
    assert stored == opened.report
    as_received = (root / "packets" / f"{packet_id}.json").read_text(encoding="utf-8")
    assert Envelope.model_validate_json(as_received) == envelope
    assert '"payloadType"' in as_received


def test_saving_twice_keeps_one_copy_and_the_first_receipt(
    tmp_path: Path, parties: Parties
) -> None:
    store = LocalStore(tmp_path / "store")
    opened, envelope, receipt = _opened(parties)
    assert not store.has_packet(opened.body.packet_id)
    store.save(opened, envelope, receipt)
    files = _all_files(tmp_path / "store")
    later = sign_receipt(
        packet=opened.body,
        sealed_sha256=opened.sealed_sha256,
        received_at=datetime(2026, 11, 3, tzinfo=UTC),
        key=parties.recipient.signing,
    )
    store.save(opened, envelope, later)
    assert _all_files(tmp_path / "store") == files
    assert store.has_packet(opened.body.packet_id)
    assert store.has_packet(str(opened.body.packet_id))
    assert store.receipt_for(opened.body.packet_id) == receipt


def test_stored_files_are_readable_by_the_owner_only(tmp_path: Path, parties: Parties) -> None:
    store = LocalStore(tmp_path / "store", readable=True)
    store.save(*_opened(parties))
    root = tmp_path / "store"
    for path in _all_files(root):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for folder in (root, root / "packets", root / "reports", root / "receipts"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_an_unknown_packet_has_no_receipt(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    packet_id = "0b8f5a52-4a49-4c9e-9a3c-7d2f8e1c6b10"
    assert not store.has_packet(packet_id)
    assert store.receipt_for(packet_id) is None


@pytest.mark.parametrize("packet_id", ["../../etc/passwd", "", "not-a-uuid"])
def test_a_packet_id_that_is_not_a_uuid_is_refused(tmp_path: Path, packet_id: str) -> None:
    with pytest.raises(StoreFailed):
        LocalStore(tmp_path / "store").has_packet(packet_id)


def _crash_on_replace(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    """Make the process "die" between a temp file's write and its rename, after `after` renames."""
    real_replace = os.replace
    calls = {"n": 0}

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(5, "simulated crash before rename")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("after", [0, 1, 4])
def test_a_crash_before_rename_leaves_no_partial_file_and_the_packet_unstored(
    tmp_path: Path, parties: Parties, monkeypatch: pytest.MonkeyPatch, after: int
) -> None:
    store = LocalStore(tmp_path / "store", readable=True)
    opened, envelope, receipt = _opened(parties)
    _crash_on_replace(monkeypatch, after)
    with pytest.raises(StoreFailed):
        store.save(opened, envelope, receipt)
    monkeypatch.undo()
    root = tmp_path / "store"
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert not store.has_packet(opened.body.packet_id)
    for path in root.glob("reports/*.json"):
        json.loads(path.read_text(encoding="utf-8"))  # whatever exists is complete
    # The next pull stores it again, completely.
    store.save(opened, envelope, receipt)
    assert store.has_packet(opened.body.packet_id)
    report_file = root / "reports" / f"{opened.report.report_id}.json"
    assert Report.model_validate_json(report_file.read_bytes()) == opened.report


def test_an_unwritable_store_raises_store_failed(tmp_path: Path, parties: Parties) -> None:
    blocker = tmp_path / "store"
    blocker.write_text("a file where the store folder should be", encoding="utf-8")
    with pytest.raises(StoreFailed):
        LocalStore(blocker).save(*_opened(parties))
