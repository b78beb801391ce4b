"""Time comes from a clock passed in; these helpers keep it UTC everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

CLOCK_SKEW = timedelta(days=1)
"""How far writers' clocks may disagree: a write stamped further before the log's last one is
refused, so that a moment's answers (``--as-of``) can look this far around it and no further."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already (as the database stores it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def to_storage(moment: datetime) -> datetime:
    return as_utc(moment)


def iso(moment: datetime) -> str:
    if moment.tzinfo is UTC:  # already UTC, as the writers' moments are: no copy
        return moment.isoformat()
    return as_utc(moment).isoformat()


def sqlite_text(moment: datetime) -> str:
    """A moment as SQLAlchemy's SQLite DATETIME stores it ("YYYY-MM-DD HH:MM:SS.ffffff", UTC),
    the year always in four digits (strftime's %Y may not pad it) and without strftime's cost."""
    if moment.tzinfo is UTC:  # the same text, less the offset: no copies
        return moment.isoformat(" ", "microseconds")[:26]
    return as_utc(moment).replace(tzinfo=None).isoformat(" ", "microseconds")


def in_order(now: datetime, last: datetime | None, action: str) -> datetime:
    """The log's last stamp once a write stamped ``now`` is made (``last``: before it, None
    before any); refuses a write whose clock is more than :data:`CLOCK_SKEW` behind."""
    from workflow.errors import Refused

    if last is None:
        return now
    last = as_utc(last)
    if now < last - CLOCK_SKEW:
        raise Refused(action, "clock-behind",
                      f"this machine's clock reads {iso(now)}, more than a day before the log's "
                      f"last write ({iso(last)}): correct the clock (writers' clocks must agree "
                      "within a day for the log's times to follow its order)")
    return max(now, last)
