"""The store: migrations build exactly the models' schema; instants come back time-zone aware."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import StatementError
from sqlmodel import Session, SQLModel

from hub.files import private_file
from hub.network.keyring import MAC_KEY, create_hub_keys, secret_path
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


def schema_of(engine: Engine) -> dict[str, Any]:
    """Every table's columns, keys and indexes, and the Alembic revision, as plain data."""
    inspector = inspect(engine)
    tables: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        tables[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (tuple(k["constrained_columns"]), k["referred_table"])
                for k in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    return {"tables": tables, "revision": revision}


def test_upgrading_twice_leaves_the_schema_and_the_data_as_they_were(
    empty_database_url: str,
) -> None:
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    with Session(engine) as session:
        session.add(
            SourceRow(
                id="portal-at",
                name="AT",
                country="AT",
                created_at=datetime(2026, 11, 1, tzinfo=UTC),
            )
        )
        session.commit()
    first = schema_of(engine)
    engine.dispose()
    upgrade(empty_database_url)
    engine = make_engine(empty_database_url)
    assert schema_of(engine) == first
    assert first["tables"]
    assert first["revision"] is not None
    with Session(engine) as session:
        assert session.get(SourceRow, "portal-at") is not None
    engine.dispose()


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
            secret_path(settings, MAC_KEY),
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
