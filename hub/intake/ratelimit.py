"""Per-source rate limits on intake, with the `limits` library's moving window.

Each source may make at most `HUB_INTAKE_RATE_LIMIT` (e.g. `60/minute`) report submissions;
the next one is refused with 429 and a Retry-After of the seconds until the oldest submission in
the window leaves it. Every submission counts, accepted or not, so a portal stuck in a loop of
bad requests is slowed down too.

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
    """Counts each source's submissions in a moving window, in this process's memory."""

    def __init__(self, rate: str) -> None:
        self.rate = parse_rate(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, source_id: str) -> None:
        """Count one submission by `source_id`. Raises RateLimited when it is over its rate."""
        if self._limiter.hit(self.rate, "intake", source_id):
            return
        stats = self._limiter.get_window_stats(self.rate, "intake", source_id)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        log.warning("rate_limited", source=source_id, rate=str(self.rate), retry_after=retry_after)
        raise RateLimited(retry_after)
