"""Per-token rate limiting: a token bucket in memory, per process.

Each token (or card holder) gets ``burst`` requests at once and ``rate`` more per second.
The buckets live in the serving process: with several workers each has its own, so the
effective limit is multiplied by the number of processes (documented in docs/api.md).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sceau.pki.errors import ErrorKind, SceauError


class RateLimited(SceauError):
    def __init__(self, retry_after: float):
        super().__init__(
            "rate_limited",
            f"trop de requêtes pour ce jeton: réessayer dans {retry_after:.1f} s",
            ErrorKind.RATE_LIMITED,
        )
        self.retry_after = retry_after


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    def __init__(self, rate: float, burst: int, *, clock: object = time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, principal: str) -> None:
        """Spend one request of ``principal``; raise ``RateLimited`` when the bucket is empty."""
        if self.rate <= 0:
            return
        now = self._clock()  # type: ignore[operator]
        with self._lock:
            bucket = self._buckets.get(principal)
            if bucket is None:
                bucket = self._buckets[principal] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens < 1:
                raise RateLimited((1 - bucket.tokens) / self.rate)
            bucket.tokens -= 1
