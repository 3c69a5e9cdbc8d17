"""Per-caller rate limits on intake, receipts and pulls, with the `limits` library's moving window.

Each source may make at most `HUB_INTAKE_RATE_LIMIT` (e.g. `60/minute`) report submissions;
the next one is refused with 429 and a Retry-After of the seconds until the oldest submission in
the window leaves it. Every submission counts, accepted or not, so a portal stuck in a loop of
bad requests is slowed down too. Recipients are limited the same way on `/v1/receipts`
(`HUB_RECEIPTS_RATE_LIMIT`) and `/v1/inbox` (`HUB_INBOX_RATE_LIMIT`), each in its own window.

The counters live in the hub process's memory. With several hub processes behind one address,
each keeps its own counters, so a source can reach up to (number of processes) times the limit; the
limit is a brake on a runaway or compromised portal, not an exact quota. An exact fleet-wide
limit needs a shared store (`limits` supports Redis and Memcached) in place of `MemoryStorage`.
The window runs on the wall clock (`time.time`), not on the hub's injectable clock.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from hub.errors import ConfigurationError, RateLimited
from hub.logs import get_logger

log = get_logger(__name__)

__all__ = ["IntakeLimiter", "parse_rate"]


def parse_rate(text: str) -> RateLimitItem:
    """A rate such as `60/minute` or `5 per second`. Raises ConfigurationError."""
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigurationError(f"not a rate limit: {text!r}") from exc


class IntakeLimiter:
    """Counts each caller's requests of one kind (`scope`) in a moving window, in this process's
    memory: intake per source, and receipts and inbox pulls per recipient."""

    def __init__(self, rate: str, scope: str = "intake") -> None:
        self.rate = parse_rate(rate)
        self.scope = scope
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, source_id: str) -> None:
        """Count one request by `source_id`. Raises RateLimited when it is over its rate."""
        if self._limiter.hit(self.rate, self.scope, source_id):
            return
        stats = self._limiter.get_window_stats(self.rate, self.scope, source_id)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        log.warning(
            "rate_limited",
            source=source_id,
            scope=self.scope,
            rate=str(self.rate),
            retry_after=retry_after,
        )
        raise RateLimited(retry_after)
