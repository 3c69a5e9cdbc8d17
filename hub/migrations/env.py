"""Alembic environment: migrations run against the URL the hub was given."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import hub.store  # noqa: F401  (importing it registers the tables on SQLModel.metadata)
from hub.store import make_engine

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
