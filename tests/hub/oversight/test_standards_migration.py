"""The move from the working list Q1-Q12 to the standards S1-S12: declarations whose criterion
maps onto a standard carry over; the others expire with a reason the scorecard shows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from alembic import command
from sqlalchemy import text
from sqlmodel import Session

from hub.files import private_sqlite
from hub.oversight.quality import declarations_for, expired_for
from hub.store import alembic_config, make_engine, upgrade


def test_declarations_carry_over_where_a_q_maps_onto_an_s_and_the_rest_expire_with_a_reason(
    empty_database_url: str,
) -> None:
    private_sqlite(empty_database_url)
    command.upgrade(alembic_config(empty_database_url), "0007")
    engine = make_engine(empty_database_url)
    stated = date(2026, 11, 2)
    with engine.begin() as connection:
        for criterion in ("Q1", "Q2", "Q3", "Q9", "Q10", "Q11"):
            connection.execute(
                text(
                    "INSERT INTO declarations (country, criterion, stated_on, holds, languages, "
                    "last_training, declared_by, recorded_at) VALUES ('AT', :c, :d, true, :l, "
                    ":t, 'at-section', :r)"
                ),
                {
                    "c": criterion,
                    "d": stated,
                    "l": "de,en" if criterion == "Q3" else None,
                    "t": stated if criterion == "Q10" else None,
                    "r": datetime(2026, 11, 2, 9, tzinfo=UTC),
                },
            )
    upgrade(empty_database_url)
    with Session(engine) as session:
        carried = declarations_for(session, "AT", on=date(2026, 12, 1))
        expired = expired_for(session, "AT")
    engine.dispose()
    assert sorted(carried) == ["S12", "S4", "S5", "S9"]
    assert carried["S12"].languages == ["de", "en"]
    assert carried["S9"].last_training == stated
    assert [e.split(" declared")[0] for e in expired] == ["Q2", "Q9"]
    assert all("expired when the hub moved to S1-S12" in e for e in expired)
