"""The store: migrations build exactly the models' schema; instants come back time-zone aware."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import StatementError
from sqlmodel import Session, SQLModel

from hub.files import private_file
from hub.network.keyring import create_hub_keys
from hub.settings import Settings
from hub.store import SourceRow, make_engine, upgrade
from tests.conftest import ROOT


def test_migrations_from_empty_match_the_models(empty_database_url: str) -> None:
    url = empty_database_url
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert differences == []


def test_upgrading_twice_is_harmless(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)


def test_instants_are_stored_in_utc_and_read_back_aware(database_url: str) -> None:
    engine = make_engine(database_url)
    vienna_noon = datetime(2026, 11, 1, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    with Session(engine) as session:
        session.add(SourceRow(id="portal-at", name="AT", country="AT", created_at=vienna_noon))
        session.commit()
    with Session(engine) as session:
        row = session.get(SourceRow, "portal-at")
        assert row is not None
        assert row.created_at == vienna_noon
        assert row.created_at.tzinfo == UTC
    engine.dispose()


def test_a_naive_instant_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    with Session(engine) as session:
        session.add(SourceRow(id="portal-at", name="AT", created_at=datetime(2026, 11, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()
    engine.dispose()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask (0022), under which new files would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_files_the_hub_creates_are_owner_only_in_owner_only_folders(
    tmp_path: Path, open_umask: None
) -> None:
    settings = Settings(
        data_dir=tmp_path / "var" / "hub", routing_policy=ROOT / "deploy/routing.toml"
    )
    upgrade(settings.resolved_database_url)
    create_hub_keys(settings)
    log_file = private_file(settings.data_dir / "hub.log")
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        session.add(
            SourceRow(id="portal-at", name="AT", country="AT", created_at=datetime.now(UTC))
        )
        session.commit()
        database = Path(settings.resolved_database_url.removeprefix("sqlite:///"))
        files = [
            database,
            database.with_name("hub.db-wal"),
            database.with_name("hub.db-shm"),
            log_file,
            settings.hub_key_file,
            settings.mac_key_file,
        ]
        modes = {p.name: _mode(p) for p in files}
    engine.dispose()
    folders = [tmp_path / "var", settings.data_dir, settings.hub_key_file.parent]
    assert modes == dict.fromkeys(modes, 0o600)
    assert {str(f): _mode(f) for f in folders} == dict.fromkeys(map(str, folders), 0o700)


def test_a_database_and_log_left_world_readable_are_tightened_when_opened_again(
    tmp_path: Path, open_umask: None
) -> None:
    database = tmp_path / "hub.db"
    log_file = tmp_path / "hub.log"
    for path in (database, log_file, tmp_path / "hub.db-wal"):
        path.touch(mode=0o644)
    tmp_path.chmod(0o755)
    make_engine(f"sqlite:///{database}").dispose()
    private_file(log_file)
    assert [_mode(p) for p in (database, log_file, tmp_path / "hub.db-wal")] == [0o600] * 3
    assert _mode(tmp_path) == 0o700
