"""The audit log after a fault run: every entry in place, every receipt valid (hub/audit_verify)."""

from __future__ import annotations

from sqlmodel import Session

from hub.audit.verify import AuditVerdict, verify_stored
from hub.network.keyring import published_keys
from hub.settings import Settings
from hub.store import make_engine


def audit_log_verdict(settings: Settings) -> AuditVerdict:
    """Verify the hub's audit log as `hub audit verify` does, trusting its published keys."""
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            return verify_stored(session, published_keys(settings))
    finally:
        engine.dispose()
