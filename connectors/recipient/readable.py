"""Renderings of stored reports for the people who read them, in their own languages.

Only for a line whose config turns write_readable_reports on: otherwise reports stay sealed and
are read with `connector open`. After a pull, each new packet is opened again from the local
store (so the hub's signature is verified once more) and rendered, with its receipt as
evidence, as HTML and PDF in every language the recipient's profile names, in the recipient's
time zone:

    reports/<report_id>.<locale>.html
    reports/<report_id>.<locale>.pdf
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from connectors.config import ConnectorConfig
from connectors.countries.profiles import Profiles
from connectors.errors import ConfigInvalid, StoreFailed
from connectors.readings.pdf import render_pdf
from connectors.readings.render import render_html
from connectors.readings.translations import available_locales
from connectors.recipient.pull import ConnectorKeys, load_keys, open_with
from connectors.recipient.store import LocalStore, write_atomic
from hub.crypto import OpenedPacket
from hub.logs import get_logger
from schemas.envelope import Envelope

__all__ = ["Reading", "reading_for", "render_stored"]

log = get_logger(__name__)


@dataclass(frozen=True)
class Reading:
    """How a recipient reads its reports: languages (first is primary) and time zone."""

    locales: list[str]
    timezone: str


def reading_for(
    recipient_id: str, profiles: Profiles, config: ConnectorConfig | None = None
) -> Reading:
    """The recipient's languages that have a catalogue, and its time zone: from the profile that
    lists it, else from its config (what `connector init` wrote), else English and UTC."""
    found = profiles.recipient(recipient_id)
    if found is None:
        if config is None or not config.languages:
            return Reading(locales=["en"], timezone=config.timezone if config else "UTC")
        languages, timezone = list(config.languages), config.timezone
    else:
        languages, timezone = found[1].languages, found[0].timezone
    usable = [code for code in languages if code in available_locales()]
    skipped = [code for code in languages if code not in usable]
    if skipped:
        log.warning("rendering_languages_without_catalogue", languages=skipped)
    return Reading(locales=usable or ["en"], timezone=timezone)


def _open_stored(
    config: ConnectorConfig, keys: ConnectorKeys, store: LocalStore, packet_id: str
) -> tuple[Envelope, OpenedPacket]:
    path = store.packets / f"{packet_id}.json"
    try:
        envelope = Envelope.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise StoreFailed(f"{path}: unreadable packet") from exc
    # Every configured key: a packet pulled before a rotation opens with a previous key file.
    return envelope, open_with(envelope, keys, config.recipient_id)


def render_stored(
    config: ConnectorConfig,
    reading: Reading,
    packet_ids: Iterable[str] | None = None,
    *,
    pdf: bool = True,
) -> list[Path]:
    """Write HTML (and PDF) renderings of stored packets in each of the reader's languages.

    `packet_ids` None means every stored packet. Returns the files written. Raises ConfigInvalid
    for unusable keys, StoreFailed for an unreadable store, PacketInvalid for a stored packet
    that no longer verifies or opens with any configured key (the reason says which), or when
    the config keeps reports sealed (write_readable_reports off).
    """
    if not config.write_readable_reports:
        raise ConfigInvalid(
            "write_readable_reports is off: reports stay sealed; read one with 'connector open'"
        )
    keys = load_keys(config)
    store = LocalStore(config.store_dir, readable=True)
    if packet_ids is None:
        packet_ids = sorted(path.stem for path in store.packets.glob("*.json"))
    written: list[Path] = []
    for packet_id in packet_ids:
        envelope, opened = _open_stored(config, keys, store, packet_id)
        receipt = store.receipt_for(packet_id)
        stem = str(opened.report.report_id)
        for locale in reading.locales:
            files = [
                (
                    store.reports / f"{stem}.{locale}.html",
                    render_html(
                        opened.report,
                        packet=opened.body,
                        sealed_sha256=opened.sealed_sha256,
                        locale=locale,
                        timezone=reading.timezone,
                        envelope=envelope,
                        receipt=receipt,
                    ).encode("utf-8"),
                )
            ]
            if pdf:
                document = render_pdf(
                    opened.report,
                    packet=opened.body,
                    sealed_sha256=opened.sealed_sha256,
                    locale=locale,
                    timezone=reading.timezone,
                    envelope=envelope,
                    receipt=receipt,
                )
                files.append((store.reports / f"{stem}.{locale}.pdf", document))
            try:
                for path, data in files:
                    write_atomic(path, data)
            except OSError as exc:
                raise StoreFailed(f"cannot write under {store.reports}: {exc.strerror}") from exc
            written += [path for path, _ in files]
        log.info("report_rendered", packet_id=packet_id, locales=reading.locales)
    return written
