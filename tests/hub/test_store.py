"""The store: migrations build exactly the models' schema; instants come back time-zone aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import StatementError
from sqlmodel import Session, SQLModel

from hub.store import SourceRow, make_engine, upgrade


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
