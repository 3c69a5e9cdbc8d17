"""The procedures in force: recorded in the audit log whenever the hub starts with other ones.

Each country's procedure (deploy/routing.toml, `[procedures.XX]`) decides who receives a report
first. Coordinators must be able to tell from the log alone which procedure routed a report, so
the hub compares the procedures it starts with against the last ones the log holds and appends a
`procedures_changed` entry when they differ, and only then.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, cast

from sqlmodel import Session

from hub.audit.events import CountryProcedure, ProceduresChanged
from hub.audit.log import hold_log, last_of_kind, record
from hub.network.routing import RoutingPolicy
from hub.store import one_writer

__all__ = ["procedures_in_force", "record_procedures", "recorded_procedures"]


def procedures_in_force(policy: RoutingPolicy) -> list[CountryProcedure]:
    """The policy's procedures as the audit log holds them, sorted by country."""
    return [
        CountryProcedure(
            country=country,
            first=cast(Literal["section", "police"], procedure.first.value),
            copy_other=procedure.copy_other,
        )
        for country, procedure in sorted(policy.procedures.items())
    ]


def recorded_procedures(session: Session) -> list[CountryProcedure] | None:
    """The procedures of the log's last `procedures_changed` entry; None if it holds none."""
    entry = last_of_kind(session, ProceduresChanged.kind)
    if entry is None:
        return None
    return ProceduresChanged.model_validate(json.loads(entry.entry)["event"]).procedures


def record_procedures(session: Session, policy: RoutingPolicy, now: datetime) -> bool:
    """Record the policy's procedures if they differ from the last recorded; commits.

    Returns whether an entry was appended. A log that never recorded any stands for no
    procedure, so a policy without procedures records nothing on a new hub.
    """
    in_force = procedures_in_force(policy)
    with one_writer(session):
        hold_log(session)
        if (recorded_procedures(session) or []) == in_force:
            session.rollback()
            return False
        record(session, ProceduresChanged(procedures=in_force), at=now)
        session.commit()
    return True
