"""The move to report ids per source (migration 0013): every report accepted before keeps its id
as the hub's key and as its source's id, with the rows that refer to it; from then on the id is
unique per source only."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from hub.delivery.report_keys import key_of_own_report
from hub.files import private_sqlite
from hub.store import ReportFeedbackRow, ReportRow, alembic_config, make_engine, upgrade

AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def _report(connection: object, key: str, source: str, report_id: str | None = None) -> None:
    columns = "id, source_id, accepted_at, content_mac, answer"
    values = ":id, :source, :at, :mac, '{}'"
    if report_id is not None:
        columns, values = f"{columns}, report_id", f"{values}, :report_id"
    connection.execute(  # type: ignore[attr-defined]
        text(f"INSERT INTO reports ({columns}) VALUES ({values})"),  # noqa: S608
        {"id": key, "source": source, "at": AT, "mac": "0" * 64, "report_id": report_id},
    )


def test_reports_accepted_before_keep_their_id_as_key_and_ids_are_then_unique_per_source(
    empty_database_url: str,
) -> None:
    private_sqlite(empty_database_url)
    command.upgrade(alembic_config(empty_database_url), "0012")
    engine = make_engine(empty_database_url)
    old = str(uuid4())
    with engine.begin() as connection:
        for source in ("portal-nl", "portal-at"):
            connection.execute(
                text(
                    "INSERT INTO sources (id, name, country, created_at) VALUES (:s, :s, 'NL', :at)"
                ),
                {"s": source, "at": AT},
            )
        _report(connection, old, "portal-nl")
        connection.execute(
            text("INSERT INTO report_feedback (report_id, contact_consent) VALUES (:r, true)"),
            {"r": old},
        )
    upgrade(empty_database_url)
    with Session(engine) as session:
        report = session.get(ReportRow, old)
        assert report is not None
        assert (report.report_id, report.source_id) == (old, "portal-nl")
        assert session.get(ReportFeedbackRow, old) is not None
        assert key_of_own_report(session, source_id="portal-nl", report_id=old) == old
    # Another source may now use the same id under a key of its own; the same source may not.
    other = str(uuid4())
    with engine.begin() as connection:
        _report(connection, other, "portal-at", report_id=old)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _report(connection, str(uuid4()), "portal-nl", report_id=old)
    with Session(engine) as session:
        assert key_of_own_report(session, source_id="portal-at", report_id=old) == other
    engine.dispose()
