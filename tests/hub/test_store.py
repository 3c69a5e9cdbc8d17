"""The store: migrations build exactly the models' schema; instants come back time-zone aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
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
