"""The local reading room: a page on 127.0.0.1 where a section or police desk reads the reports
its connector holds and records its triage decisions and coded outcomes (docs/reading-room.md).

Reports are opened in memory, per request, from the sealed store; nothing readable is written to
disk or logs, and every page is sent `Cache-Control: no-store`.
"""

from connectors.room.app import create_room
from connectors.room.guard import LOOPBACK, check_loopback
from connectors.room.login import Sessions

__all__ = ["LOOPBACK", "Sessions", "check_loopback", "create_room"]
