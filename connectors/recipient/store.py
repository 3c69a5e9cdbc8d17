"""The recipient's local store: each packet kept once, sealed, with its receipt.

Layout under the root (folders 0700, files 0600: this is sensitive data on the recipient's machine):

    packets/<packet_id>.json    the packet envelope as received, still sealed
    receipts/<packet_id>.json   the receipt envelope sent for the packet
    reports/<report_id>.json    only with write_readable_reports: the report, pretty JSON,
    reports/<report_id>.txt     and readable renderings, removed after the profile's
    reports/<report_id>.html    readable_retention_days (`purge_readable`)

By default no readable report is written: a person reads a packet with `connector open`, which
opens it in memory. A line whose procedure needs files turns write_readable_reports on.

Every file is written atomically. The packet file is written last and marks the packet as stored,
so a crash part-way leaves the packet unstored and it is simply stored again at the next pull.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from connectors.errors import StoreFailed
from connectors.readings.render import render_html, render_text
from hub.crypto import OpenedPacket
from schemas.envelope import Envelope, PacketBody

_DIR_MODE = 0o700
_FILE_MODE = 0o600


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once, mode 0600. Raises OSError; leaves no temp file."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename is only durable once the folder's entry is on disk too.
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _packet_name(packet_id: UUID | str) -> str:
    # Parsed as a UUID so that no id can ever name a path outside the store.
    try:
        return str(UUID(str(packet_id)))
    except ValueError as exc:
        raise StoreFailed(f"not a packet id: {packet_id!r}") from exc


def packet_file(store: LocalStore, packet_id: str) -> Path:
    """Where a stored packet's envelope is. Raises StoreFailed for a malformed id."""
    return store.packets / f"{_packet_name(packet_id)}.json"


class LocalStore:
    """Reports, packets and receipts in one folder tree on the recipient's machine."""

    def __init__(
        self, root: Path, *, readable: bool = False, locale: str = "en", timezone: str = "UTC"
    ) -> None:
        self.root = root
        self.readable = readable
        # The .txt and .html copies beside each report: the reader's language and local time.
        self.locale = locale
        self.timezone = timezone
        self.packets = root / "packets"
        self.reports = root / "reports"
        self.receipts = root / "receipts"

    def _ensure_folders(self) -> None:
        readable = [self.reports] if self.readable else []
        for folder in (self.root, self.packets, self.receipts, *readable):
            folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)

    def has_packet(self, packet_id: UUID | str) -> bool:
        """Whether the packet's report is stored. Raises StoreFailed for a malformed id."""
        return (self.packets / f"{_packet_name(packet_id)}.json").is_file()

    def receipt_for(self, packet_id: UUID | str) -> Envelope | None:
        """The receipt stored for a packet, or None. Raises StoreFailed if it is unreadable."""
        path = self.receipts / f"{_packet_name(packet_id)}.json"
        try:
            return Envelope.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:
            raise StoreFailed(f"{path}: unreadable receipt") from exc

    def save(self, opened: OpenedPacket, envelope: Envelope, receipt: Envelope) -> None:
        """Store a packet's report, renderings and receipt, once. Raises StoreFailed."""
        packet_id = _packet_name(opened.body.packet_id)
        if self.has_packet(packet_id):
            # Once per packet: the first receipt stays the one on record.
            return
        report, body, digest = opened.report, opened.body, opened.sealed_sha256
        report_id = str(report.report_id)
        files = [
            (self.receipts / f"{packet_id}.json", receipt.model_dump_json(indent=2) + "\n"),
            # Last: its presence is what `has_packet` reads as "stored".
            (self.packets / f"{packet_id}.json", envelope.model_dump_json(indent=2) + "\n"),
        ]
        readable = [
            (self.reports / f"{report_id}.json", report.model_dump_json(indent=2) + "\n"),
            (
                self.reports / f"{report_id}.txt",
                render_text(report, **self._rendering(body, digest, envelope, receipt)),
            ),
            (
                self.reports / f"{report_id}.html",
                render_html(report, **self._rendering(body, digest, envelope, receipt)),
            ),
        ]
        if self.readable:
            files = readable + files
        try:
            self._ensure_folders()
            for path, text in files:
                write_atomic(path, text.encode("utf-8"))
        except OSError as exc:
            raise StoreFailed(f"cannot write under {self.root}: {exc.strerror}") from exc

    def save_sealed(self, packet_id: UUID | str, envelope: Envelope, receipt: Envelope) -> None:
        """Store a packet and its receipt only (a forward: opened in memory when read), once.

        Raises StoreFailed."""
        name = _packet_name(packet_id)
        if self.has_packet(name):
            return
        try:
            self._ensure_folders()
            write_atomic(
                self.receipts / f"{name}.json", (receipt.model_dump_json(indent=2) + "\n").encode()
            )
            write_atomic(
                self.packets / f"{name}.json", (envelope.model_dump_json(indent=2) + "\n").encode()
            )
        except OSError as exc:
            raise StoreFailed(f"cannot write under {self.root}: {exc.strerror}") from exc

    def delete_copy(self, packet_id: UUID | str, report_id: UUID | str) -> list[Path]:
        """Delete a packet, its readable files and its receipt; return what was removed.

        The packet goes first, so a crash part-way leaves the copy not stored rather than half
        kept. Raises StoreFailed if a file cannot be removed.
        """
        name = _packet_name(packet_id)
        report = _packet_name(report_id)
        paths = [
            self.packets / f"{name}.json",
            *sorted(self.reports.glob(f"{report}.*")),
            self.receipts / f"{name}.json",
        ]
        removed = []
        try:
            for path in paths:
                if path.is_file():
                    path.unlink()
                    removed.append(path)
        except OSError as exc:
            raise StoreFailed(f"cannot delete under {self.root}: {exc.strerror}") from exc
        return removed

    def _rendering(
        self, body: PacketBody, digest: str, envelope: Envelope, receipt: Envelope
    ) -> dict[str, Any]:
        return {
            "packet": body,
            "sealed_sha256": digest,
            "locale": self.locale,
            "timezone": self.timezone,
            "envelope": envelope,
            "receipt": receipt,
        }

    def purge_readable(self, *, now: datetime, keep: timedelta) -> list[Path]:
        """Remove readable report files written more than `keep` before `now`; return them.

        The sealed packets and receipts stay. Raises StoreFailed if a file cannot be removed.
        """
        cutoff = (now - keep).timestamp()
        removed: list[Path] = []
        if not self.reports.is_dir():
            return removed
        try:
            for path in sorted(self.reports.iterdir()):
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path)
        except OSError as exc:
            raise StoreFailed(f"cannot purge {self.reports}: {exc.strerror}") from exc
        return removed
