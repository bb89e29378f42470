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


class LoginLocked(SceauError):
    def __init__(self, retry_after: float):
        super().__init__(
            "too_many_failed_logins",
            "trop d'échecs d'authentification depuis cette adresse: accès suspendu, réessayer "
            f"dans {retry_after:.0f} s",
            ErrorKind.RATE_LIMITED,
        )
        self.retry_after = retry_after


class FailureThrottle:
    """Per-source lockout of failed authentications (bad/expired/revoked token, refused card).

    ``max_failures`` failures from one source address within ``window`` seconds lock that
    source out for ``lockout`` seconds: every authentication attempt from it is then refused
    (429) without being checked, even with valid credentials. In memory, per process, like
    the token bucket. The source is the client address (``X-Real-IP`` from a trusted proxy,
    else the TCP peer), so clients behind nginx are not locked out together.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window: float = 300.0,
        lockout: float = 900.0,
        *,
        clock: object = time.monotonic,
    ):
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._clock = clock
        self._failures: dict[str, list[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def check(self, source: str | None) -> None:
        """Raise ``LoginLocked`` while ``source`` is locked out."""
        if source is None or self.max_failures <= 0:
            return
        now = self._now()
        with self._lock:
            until = self._locked_until.get(source)
            if until is not None and now < until:
                raise LoginLocked(until - now)
            if until is not None:
                del self._locked_until[source]

    def failed(self, source: str | None) -> None:
        if source is None or self.max_failures <= 0:
            return
        now = self._now()
        with self._lock:
            recent = [t for t in self._failures.get(source, []) if now - t < self.window]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[source] = now + self.lockout
                recent = []
            self._failures[source] = recent
            if len(self._failures) > 100_000:  # bounded memory under a spray of addresses
                self._failures.clear()

    def succeeded(self, source: str | None) -> None:
        if source is None:
            return
        with self._lock:
            self._failures.pop(source, None)


def failure_throttle(state: object) -> FailureThrottle:
    """The application's shared throttle (``app.state.auth_failures``), made on first use."""
    throttle = getattr(state, "auth_failures", None)
    if throttle is None:
        throttle = FailureThrottle()
        state.auth_failures = throttle  # type: ignore[attr-defined]
    return throttle
