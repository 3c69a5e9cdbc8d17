"""What this recipient recorded at the hub on each report: codes and times, never content.

The hub holds the decisions and outcomes; the connector keeps a note of those it recorded
(through `connector triage`, `connector outcome`-like calls or the reading room), so that the
reading room's list shows which reports still wait for a decision, after a restart too. One
small JSON file per report under `<store>/room/` (folder 0700, files 0600, written atomically),
holding the same codes and times the hub keeps: the triage decision, classification, reason
code, and the outcome.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from connectors.errors import StoreFailed
from connectors.recipient.store import write_atomic

__all__ = ["Ledger", "Recorded"]

# One lock for every Ledger of the process: the room serves requests on several threads.
_LOCK = threading.Lock()


class Recorded(BaseModel):
    """The codes recorded on one report."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decision: str | None = None
    classification: str | None = None
    reason_code: str | None = None
    decided_at: AwareDatetime | None = None
    outcome: str | None = None
    outcome_at: AwareDatetime | None = None


class Ledger:
    """The connector's notes of what it recorded, one file per report id."""

    def __init__(self, store_dir: Path) -> None:
        self.folder = store_dir / "room"

    def _path(self, report_id: str) -> Path:
        # Parsed as a UUID so that no id names a path outside the folder.
        try:
            return self.folder / f"{UUID(report_id)}.json"
        except ValueError as exc:
            raise StoreFailed(f"not a report id: {report_id!r}") from exc

    def get(self, report_id: str) -> Recorded:
        """What was recorded on a report (nothing: all None). Raises StoreFailed."""
        path = self._path(report_id)
        try:
            return Recorded.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return Recorded()
        except (OSError, ValidationError) as exc:
            raise StoreFailed(f"{path}: unreadable") from exc

    def _update(self, report_id: str, **codes: str | datetime | None) -> Recorded:
        with _LOCK:
            updated = self.get(report_id).model_copy(update=codes)
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                write_atomic(self._path(report_id), updated.model_dump_json().encode("utf-8"))
            except OSError as exc:
                raise StoreFailed(f"cannot write under {self.folder}: {exc.strerror}") from exc
        return updated

    def decided(
        self,
        report_id: str,
        *,
        decision: str,
        classification: str,
        reason_code: str | None,
        at: datetime,
    ) -> Recorded:
        """Note a triage decision the hub recorded. Raises StoreFailed."""
        return self._update(
            report_id,
            decision=decision,
            classification=classification,
            reason_code=reason_code,
            decided_at=at,
        )

    def outcome(self, report_id: str, *, outcome: str, at: datetime) -> Recorded:
        """Note a coded outcome the hub recorded. Raises StoreFailed."""
        return self._update(report_id, outcome=outcome, outcome_at=at)
