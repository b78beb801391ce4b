"""Time comes from a clock passed in; these helpers keep it UTC everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]

CLOCK_SKEW = timedelta(days=1)
"""How far writers' clocks are taken to disagree, at most: ``audit verify`` warns of a row
stamped further before the row the log holds before it, or further after its own clock."""


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
