"""A hub restored from a backup notices that its log is behind a head it signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from hub.audit import log as audit
from hub.backup import backup_sqlite, restore_sqlite
from hub.errors import ProofInvalid
from hub.network.keyring import load_hub_secrets
from hub.settings import Settings
from tests.conftest import Clock
from tests.hub.audit.test_audit import grow


@pytest.mark.engine("sqlite")
def test_a_restored_hub_refuses_to_sign_a_head_below_one_it_signed(
    engine: Engine, settings: Settings, clock: Clock, tmp_path: Path
) -> None:
    url = settings.resolved_database_url
    key = load_hub_secrets(settings)[0].signing_key
    mark = settings.signed_head_file
    grow(engine, clock, 2)
    with Session(engine) as session:
        assert audit.sign_tree_head(session, key=key, now=clock.now, high_water=mark)
    backup_sqlite(url, tmp_path / "backup.db")
    grow(engine, clock, 3)
    with Session(engine) as session:
        assert audit.sign_tree_head(session, key=key, now=clock.now, high_water=mark)
    engine.dispose()
    restore_sqlite(url, tmp_path / "backup.db")
    grow(engine, clock, 1)  # the restored log grows again, below the head of 5 signed before
    with Session(engine) as session, pytest.raises(ProofInvalid, match="restored from before"):
        audit.sign_tree_head(session, key=key, now=clock.now, high_water=mark)
