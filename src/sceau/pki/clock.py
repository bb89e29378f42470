"""Time comes from an injected clock, never from ``datetime.now()`` in the core."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current UTC instant, truncated to the second."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)


class FixedClock:
    """A clock for tests: it moves only when told to."""

    def __init__(self, at: dt.datetime):
        self._at = at.astimezone(dt.UTC).replace(microsecond=0)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = at.astimezone(dt.UTC).replace(microsecond=0)

    def advance(self, delta: dt.timedelta) -> None:
        self._at = self._at + delta


def add_years(instant: dt.datetime, years: int) -> dt.datetime:
    """Same date and time ``years`` later; 29 February becomes 28 February."""
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        return instant.replace(year=instant.year + years, day=28)
