"""The exact bytes of one audit entry, as hashed into the log's Merkle tree.

Its own module, without the database, so that a verifier holding an acknowledgement can rebuild
the entry the hub promised to include (hub/audit/promise.py) from that acknowledgement alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hub.audit.events import AuditEvent
from hub.crypto import canonical_json

__all__ = ["ENTRY_VERSION", "entry_bytes", "instant"]

ENTRY_VERSION = 1


def entry_bytes(index: int, audit_event: AuditEvent, at: datetime) -> bytes:
    """The exact bytes of an entry: canonical JSON of its index, time, kind and event."""
    body: Any = {
        "v": ENTRY_VERSION,
        "index": index,
        "at": instant(at),
        "kind": audit_event.kind,
        "event": audit_event.model_dump(mode="json"),
    }
    return canonical_json(body)


def instant(at: datetime) -> str:
    """An entry's time as it is written: RFC 3339, UTC as `Z`."""
    return at.isoformat().replace("+00:00", "Z")
