"""A run's bandwidth limit (`--bwlimit`): one token bucket shared by every copy of the run.

Each byte a copy moves is read from the source and written to the target once, so
limiting the bytes that pass through the copy stream limits both directions, like
`rclone --bwlimit`. A chunk larger than what is in the bucket is let through and paid
for afterwards (the bucket goes into debt), so chunk size never stalls a copy, and the
average rate holds over any second or two.
"""

from __future__ import annotations

import asyncio
import time


class BandwidthLimit:
    def __init__(self, bytes_per_second: int) -> None:
        if bytes_per_second <= 0:
            raise ValueError("a bandwidth limit must be positive")
        self.rate = float(bytes_per_second)
        # at most one second of unused allowance is saved up
        self._tokens = self.rate
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, size: int) -> None:
        """Wait until `size` more bytes may pass."""
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= size
            if self._tokens < 0:
                # held under the lock: the copies waiting behind pay in turn
                await asyncio.sleep(-self._tokens / self.rate)
                self._last = time.monotonic()
                self._tokens = 0.0
