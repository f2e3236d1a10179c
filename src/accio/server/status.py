"""The scheduler's condition as the web server shows it, asked of the client at most every
``ttl`` seconds.

Every page carries the banner (a full disk, a locked database) and the response cache keys on
it, so it is wanted on every request; asking means reading the pid, status and URL files and
probing the home's lock, a quarter of the cost of a page. Half a second late is soon enough for
a banner.
"""

from __future__ import annotations

import math
import time

from accio.client.contract import AccioClient


class SchedulerCondition:
    """Callable: why the scheduler paused dispatch, or None (running normally, or unknown)."""

    def __init__(self, client: AccioClient, ttl: float = 0.5) -> None:
        self.client = client
        self.ttl = ttl
        self.value: str | None = None
        self.asked = -math.inf

    def __call__(self) -> str | None:
        now = time.monotonic()
        if now - self.asked < self.ttl:
            return self.value
        try:
            value = self.client.scheduler_status().condition
        except Exception:  # the banner must never break a page
            value = None
        self.value, self.asked = value, now
        return value

    def forget(self) -> None:
        """Ask again on the next call."""
        self.asked = -math.inf
