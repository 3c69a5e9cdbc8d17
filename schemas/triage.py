"""Wire formats of triage decisions: what a recipient sends to record one, what the hub answers.

docs/protocol.md, section 10, specifies the exchange. Codes only, never content: the
classification and reason codes are those of schemas/classification.toml (and the coordinators'
additions), checked by the hub.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.classification import Decision
from schemas.envelope import RecipientId

__all__ = ["TriageAnswer", "TriageRequest"]

CodeText = Annotated[str, Field(min_length=1, max_length=40)]


class TriageRequest(BaseModel):
    """A recipient's triage decision on a report, as it sends it."""

    model_config = ConfigDict(extra="forbid")

    decision_id: UUID | None = Field(
        default=None, description="The connector's id for this decision: a repeat is harmless."
    )
    decision: Decision
    classification: CodeText = Field(description="A code of the network's classification list.")
    reason_code: CodeText | None = Field(
        default=None, description="Why (close: required) or what is missing (needs_information)."
    )
    decided_at: AwareDatetime


class TriageAnswer(BaseModel):
    """The decision as the hub recorded it."""

    model_config = ConfigDict(extra="forbid")

    decision_id: UUID
    report_id: UUID
    recipient_id: RecipientId
    decision: Decision
    classification: str
    reason_code: str | None
    decided_at: AwareDatetime
    recorded_at: AwareDatetime
